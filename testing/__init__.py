"""Test harnesses shared by ``tests/`` and ``benchmarks/``; not part of the shipped package.

Importable from the repository root: pytest puts it on ``sys.path`` (``pythonpath`` in
pyproject.toml) and the benchmarks insert the root themselves.
"""
