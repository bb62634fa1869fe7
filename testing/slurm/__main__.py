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
    print(f"# state in {cluster.base}; Ctrl-C or SIGTERM stops every daemon", flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # started in the background (`&`), SIGINT is ignored; SIGTERM would skip the clean-up
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
