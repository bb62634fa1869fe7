"""``python -m testing.slurm`` (from the repository root): start a cluster, print how to use
it, and keep it up until Ctrl-C."""

from __future__ import annotations

import signal
import sys

from .cluster import TestCluster
from .install import ClusterUnavailable


def main() -> int:
    try:
        cluster = TestCluster.start()
    except ClusterUnavailable as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    print(f"export SLURM_CONF={cluster.slurm_conf}")
    print(f"# state in {cluster.base}; Ctrl-C stops every daemon", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
