"""What the bridge remembers between runs, per cluster, in small JSON files in its state
folder (``--state-dir``): the ingest watermark (``ingest.IngestState``) and the allocation
period each project's Slurm usage was last reset for (``sync.UsagePeriods``).

Files are replaced atomically, so a crash never leaves half a file. Losing the folder is
safe: ingest then looks back ``--first-lookback`` again (usage records are idempotent),
and usage periods are adopted again without a reset.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class StateFile:
    path: Path

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def save(self, cluster: str, **values: Any) -> None:
        data = self.load()
        data.setdefault(cluster, {}).update(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}-")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
        logger.debug("%s: saved %s for %s", self.path, ", ".join(sorted(values)), cluster)
