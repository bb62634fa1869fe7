"""Synthetic workloads for tests and benchmarks (NumPy, seeded, deterministic)."""

from __future__ import annotations

import numpy as np

from .model import Job


def saturated(
    n_jobs: int,
    nodes: int,
    load: float = 1.2,
    groups=("a", "b"),
    weights=None,
    max_job_nodes: int | None = None,
    mean_runtime: float = 3600.0,
    seed: int = 1,
    users_per_group: int = 10,
    economic_groups=(),
    chunk=65536,
):
    """Yield ``n_jobs`` jobs whose offered load (node-seconds asked per node-second of
    capacity) is ``load``: Poisson arrivals; sizes log-uniform in 1..``max_job_nodes``
    (default nodes/8); run times log-normal around ``mean_runtime`` capped at 4x it;
    requested times 1x-3x the run time rounded up to minutes; groups drawn by
    ``weights`` (default equal)."""
    rng = np.random.default_rng(seed)
    max_job_nodes = max_job_nodes or max(1, nodes // 8)
    groups = list(groups)
    w = np.asarray(weights if weights is not None else [1.0] * len(groups), float)
    w = w / w.sum()
    # mean node count of the size distribution, to set the arrival rate
    sample = np.floor(np.exp(rng.uniform(0, np.log(max_job_nodes + 1), 200000))).clip(
        1, max_job_nodes
    )
    sigma = 1.0
    mu = np.log(mean_runtime) - sigma**2 / 2
    rt_sample = np.minimum(rng.lognormal(mu, sigma, 200000), 4 * mean_runtime)
    mean_work = sample.mean() * rt_sample.mean()
    gap = mean_work / (nodes * load)
    t = 0.0
    made = 0
    econ = set(economic_groups)
    while made < n_jobs:
        k = min(chunk, n_jobs - made)
        gaps = rng.exponential(gap, k)
        submits = t + np.cumsum(gaps)
        t = float(submits[-1])
        sizes = np.floor(np.exp(rng.uniform(0, np.log(max_job_nodes + 1), k))).clip(
            1, max_job_nodes
        )
        runs = np.maximum(1.0, np.minimum(rng.lognormal(mu, sigma, k), 4 * mean_runtime)).round()
        reqs = np.ceil(runs * rng.uniform(1.0, 3.0, k) / 60.0) * 60.0
        gi = rng.choice(len(groups), size=k, p=w)
        ui = rng.integers(0, users_per_group, k)
        for i, (s, r, q, n, g, u) in enumerate(
            zip(
                submits.tolist(),
                runs.tolist(),
                reqs.tolist(),
                sizes.astype(int).tolist(),
                gi.tolist(),
                ui.tolist(),
                strict=True,
            )
        ):
            name = groups[g]
            yield Job(made + i, s, r, q, n, 0, 0.0, n, f"{name}-u{u}", name, "normal", name in econ)
        made += k
