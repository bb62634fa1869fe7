"""slurmrestd client (OpenAPI v0.0.38, as served by Slurm 22.05 on Debian 12).

Behind the same interfaces as the command-line path:

- ``RestBackend.read(cluster)`` gives the same ``ClusterSpec`` as ``SacctmgrBackend.read``
  (from ``/slurmdb/v0.0.38/associations``, ``/accounts``, ``/users``, ``/qos``), so
  ``plan`` and ``reconcile`` work over REST;
- ``rest_ingest_window`` reads ``/slurmdb/v0.0.38/jobs`` (the same document as
  ``sacct --json``) into the same usage records as ``ingest.ingest_window``;
- writes (``execute``) go to a ``writer`` backend, by default none: on 22.05.8 we saw
  ``POST /slurmdb/v0.0.38/associations`` silently ignore a modification that carried
  ``-1`` (clear) values and, on the next modification, slurmrestd crash (segmentation
  fault). Until a newer API is available, give ``RestBackend(writer=SacctmgrBackend(...))``
  to read over REST and write with ``sacctmgr``; without a writer ``execute`` raises
  ``RestWriteUnsupported`` naming the operation.

Authentication: JWT. The token (``scontrol token username=<admin>``) goes in
``X-SLURM-USER-TOKEN`` and the user name in ``X-SLURM-USER-NAME``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .diff import Operation
from .ingest import IngestResult, parse_json
from .runner import SlurmCommandError, looks_like_dbd_down
from .sacctmgr import LEVELS
from .spec import GROUP_KINDS, AccountSpec, ClusterSpec, QosSpec, UserAssoc
from .sync import BatchFailed, _takes_existing

API = "v0.0.38"

logger = logging.getLogger(__name__)


class RestError(RuntimeError):
    """slurmrestd answered with an error, or not at all."""


class RestUnavailable(RestError):
    """slurmrestd (or slurmdbd behind it) cannot be reached."""


class RestWriteUnsupported(RestError):
    pass


@dataclass
class RestClient:
    base_url: str
    user: str = "slurm"
    token: str = ""
    timeout: float = 60.0

    def request(
        self, method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        url = self.base_url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={
                "X-SLURM-USER-NAME": self.user,
                "X-SLURM-USER-TOKEN": self.token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        logger.debug("slurmrestd: %s %s", method, url)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            raise self._error(method, path, text, exc.code) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise RestUnavailable(f"slurmrestd at {self.base_url} not reachable: {exc}") from exc
        try:
            document = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise RestError(f"{method} {path}: not JSON: {text[:300]!r}") from exc
        errors = document.get("errors") or []
        if errors:
            raise self._error(method, path, json.dumps(errors), 200)
        return document

    def _error(self, method: str, path: str, text: str, status: int) -> RestError:
        if looks_like_dbd_down(text) or "slurmdbd" in text.lower():
            return RestUnavailable(
                f"{method} {path}: Slurm accounting (slurmdbd) not reachable "
                f"through slurmrestd: {text[:500]}"
            )
        return RestError(f"{method} {path} -> HTTP {status}: {text[:500]}")

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        return self.request("GET", path, query)

    def db(self, what: str, **query: Any) -> dict[str, Any]:
        return self.get(f"/slurmdb/{API}/{what}", **query)


def _tres(items: Any) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items or []:
        if item.get("count") is None:
            continue
        kind = str(item.get("type", "")).lower()
        key = f"{kind}/{item['name']}" if item.get("name") else kind
        result[key] = int(item["count"])
    return result


def _number(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dict):  # newer APIs: {"set": true, "infinite": false, "number": n}
        return int(value["number"]) if value.get("set") and not value.get("infinite") else None
    return int(value)


def spec_from_rest(
    cluster: str,
    associations: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    users: list[dict[str, Any]],
    qos: list[dict[str, Any]],
) -> ClusterSpec:
    """The same ``ClusterSpec`` that ``sacctmgr.read_cluster`` builds, from REST documents.

    Where v0.0.38 puts the limits (checked against sacctmgr on 22.05.8):
    ``max.tres.group.minutes`` = GrpTRESMins, ``max.tres.total`` = GrpTRES,
    ``max.jobs.per.count`` = GrpJobs, ``max.jobs.per.submitted`` = GrpSubmitJobs,
    ``max.jobs.total`` = MaxSubmitJobs."""
    spec = ClusterSpec(cluster=cluster)
    for q in qos:
        preempt = q.get("preempt") or {}
        modes = [m.lower() for m in preempt.get("mode") or [] if m]
        total = ((q.get("limits") or {}).get("max") or {}).get("tres", {}).get("total")
        spec.qos[q["name"]] = QosSpec(
            name=q["name"],
            priority=int(q.get("priority") or 0),
            preempt=frozenset(preempt.get("list") or []),
            preempt_mode=(modes[0] if modes and modes[0] != "cluster" else None),
            grp_tres=_tres(total),
            description=(q.get("description") or "").lower() or None,
            kind=(
                "emergency"
                if preempt.get("list")
                else "tier"
                if q["name"].startswith("tier_")
                else "economic"
                if total
                else "other"
            ),
        )
    info = {a["name"]: a for a in accounts}
    mine = [a for a in associations if a.get("cluster") == cluster and not a.get("partition")]
    parents = {a["account"]: a.get("parent_account") or "" for a in mine if not a.get("user")}

    def depth(name: str) -> int:
        steps, seen = 0, set()
        while name != "root" and name in parents and name not in seen:
            seen.add(name)
            name = parents[name]
            steps += 1
        return steps if name == "root" else 99

    for a in mine:
        limits = a.get("max") or {}
        jobs = limits.get("jobs") or {}
        per = jobs.get("per") or {}
        tres = limits.get("tres") or {}
        if a.get("user"):
            spec.users[(a["user"], a["account"])] = UserAssoc(
                user=a["user"],
                account=a["account"],
                fairshare=int(a.get("shares_raw") or 0),
                max_submit_jobs=_number(jobs.get("total")),
            )
            continue
        name = a["account"]
        if name == "root":
            continue
        level = LEVELS.get(depth(name), "other")
        acc = info.get(name, {})
        spec.accounts[name] = AccountSpec(
            name=name,
            parent=parents[name],
            level=level,
            fairshare=int(a.get("shares_raw") or 0),
            description=(acc.get("description") or "").lower() or None,
            organization=(acc.get("organization") or "").lower() or None,
            grp_tres_mins=_tres((tres.get("group") or {}).get("minutes")),
            grp_tres=_tres(tres.get("total")),
            qos=frozenset(a.get("qos") or []),
            default_qos=(a.get("default") or {}).get("qos") or None,
            grp_submit_jobs=_number(per.get("submitted")),
            grp_jobs=_number(per.get("count")),
            kind=name if level == "group" and name in GROUP_KINDS else None,
        )
    for u in users:
        default = (u.get("default") or {}).get("account")
        on_cluster = any(x.get("cluster") == cluster for x in u.get("associations") or [])
        if default and on_cluster:
            spec.default_accounts[u["name"]] = default
    return spec


@dataclass
class RestBackend:
    client: RestClient
    writer: Any = None  # a Backend (e.g. SacctmgrBackend) that performs the writes

    def read(self, cluster: str) -> ClusterSpec:
        return spec_from_rest(
            cluster,
            self.client.db("associations").get("associations", []),
            self.client.db("accounts").get("accounts", []),
            self.client.db("users").get("users", []),
            self.client.db("qos").get("QOS", []),
        )

    def execute(self, op: Operation) -> None:
        if self.writer is None:
            logger.warning("refused over slurmrestd (no writer backend): %s", op.summary())
            raise RestWriteUnsupported(
                f"{op.summary()}: writes through slurmrestd {API} are not used (Slurm 22.05 "
                "ignores or crashes on association modifications); give a writer backend "
                "(sacctmgr) or run `regnekraft slurm apply` without --rest-url"
            )
        self.writer.execute(op)

    def execute_many(
        self, cluster: str, ops: Any, parents: Any, existing: Any = None
    ) -> list[Operation]:
        """Many operations at once, through the writer (one by one if it cannot batch)."""
        if self.writer is None or not hasattr(self.writer, "execute_many"):
            done: list[Operation] = []
            for op in ops:
                try:
                    self.execute(op)
                except SlurmCommandError as exc:
                    raise BatchFailed(op, done, exc) from exc
                done.append(op)
            return done
        if existing is not None and _takes_existing(self.writer.execute_many):
            return list(self.writer.execute_many(cluster, ops, parents, existing=existing))
        return list(self.writer.execute_many(cluster, ops, parents))


def _slurm_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%dT%H:%M:%S")


def rest_ingest_window(
    client: RestClient,
    cluster: str,
    start: int,
    end: int,
    account_map: Mapping[str, str] | None = None,
) -> IngestResult:
    """Like ``ingest.ingest_window`` but through ``GET /slurmdb/v0.0.38/jobs``."""
    # v0.0.38 wants Slurm's time syntax here, not epoch seconds
    document = client.db("jobs", start_time=_slurm_time(start), end_time=_slurm_time(end))
    document["jobs"] = [j for j in document.get("jobs", []) if j.get("cluster") == cluster]
    records = parse_json(json.dumps(document), account_map)
    pending = [r for r in records if r["state"] == "PENDING"]
    records = [r for r in records if r["state"] != "PENDING"]
    unknown: dict[str, int] = {}
    if account_map is not None:
        for r in records:
            if r["step"] == "" and r["project"] is None:
                unknown[r["account"]] = unknown.get(r["account"], 0) + 1
    logger.debug("slurmrestd jobs on %s: %d record(s)", cluster, len(records))
    return IngestResult(cluster, start, end, records, unknown, len(pending), "rest")
