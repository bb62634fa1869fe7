"""What the catalogue tells the packages above it before it changes."""

from django.dispatch import Signal

# Sent inside the editing transaction before a change to a field that prices use (a resource
# class's kind, GPU type or system; a system's availability tier), with ``instance`` and
# ``fields`` (the names about to change). A receiver refuses by raising ValidationError:
# accounting refuses when use was already rated with the old values.
pricing_fields_changing = Signal()
