"""Use per day (:class:`~.models.UsageDay`): kept by the importer, read by everything else.

The importer calls :func:`add_imported` in the import's own transaction, after the records are
written: the new records are folded into the open day rows with one ``INSERT ... SELECT ...
GROUP BY ... ON CONFLICT DO UPDATE``, so an import either adds its records and their sums or
neither. Records never change once imported (rating happens at import, repricing rated use is
refused), so nothing else has to keep the sums current; invoices only mark the rows they bill.

:func:`rebuild` restores the invariant from the records should the rows ever be lost or
doubted: billed rows stay as they are (they are what invoices billed), and the open rows become
what the records hold beyond them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum

from .models import UsageDay, UsageRecord

ZERO = Decimal(0)

#: The columns that make a day row (with the billing state: one open row per key).
KEY = (
    "project_id",
    "allocation_id",
    "resource_class_id",
    "cluster",
    "usage_date",
    "unit_price_nok",
)
SUMS = ("records", "quantity", "charge_nok")

logger = logging.getLogger(__name__)


def _column(model: Any, attname: str) -> str:
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return connection.ops.quote_name(field.column)


def _key_sql(model: Any) -> list[str]:
    return [_column(model, k) for k in KEY]


def last_record_id() -> int:
    """The highest record id now: an import's records are those of its batch above it."""
    return UsageRecord.objects.aggregate(m=Max("id"))["m"] or 0


def add_imported(batch_id: int, after_id: int) -> int:
    """Fold the records batch ``batch_id`` wrote (ids above ``after_id``) into the open day
    rows. Call inside the import's transaction. Returns the number of day rows touched."""
    day, rec = UsageDay._meta.db_table, UsageRecord._meta.db_table
    key_day, key_rec = _key_sql(UsageDay), _key_sql(UsageRecord)
    q = connection.ops.quote_name
    sums_day = [q(c) for c in SUMS]
    open_key = key_day.copy()
    open_key[1] = f"COALESCE({key_day[1]}, 0)"
    updates = ", ".join(f"{c} = {day}.{c} + excluded.{c}" for c in sums_day)
    sql = (
        f"INSERT INTO {day} ({', '.join(key_day + sums_day)}, {_column(UsageDay, 'invoice_id')}) "
        f"SELECT {', '.join(key_rec)}, COUNT(*), SUM({_column(UsageRecord, 'quantity')}), "
        f"SUM({_column(UsageRecord, 'charge_nok')}), NULL FROM {rec} "
        f"WHERE {_column(UsageRecord, 'id')} > %s AND {_column(UsageRecord, 'batch_id')} = %s "
        f"GROUP BY {', '.join(key_rec)} "
        f"ON CONFLICT ({', '.join(open_key)}) WHERE {_column(UsageDay, 'invoice_id')} IS NULL "
        f"DO UPDATE SET {updates}"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [after_id, batch_id])
        return cur.rowcount


def sums(qs: QuerySet, keys: Sequence[str]) -> dict[tuple, tuple[Decimal, Decimal]]:
    """Exact sums of quantity and charge of day rows (or records) grouped by ``keys``.

    PostgreSQL sums NUMERIC exactly; SQLite stores decimals as REAL and would sum in floating
    point, so there the rows are summed as Decimal in Python (each read back at its scale).
    """
    out: dict[tuple, tuple[Decimal, Decimal]] = {}
    if connection.vendor == "postgresql":
        for row in qs.values(*keys).annotate(q=Sum("quantity"), c=Sum("charge_nok")).order_by():
            out[tuple(row[k] for k in keys)] = (row["q"], row["c"])
        return out
    acc: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for *key, q, c in qs.values_list(*keys, "quantity", "charge_nok").iterator(chunk_size=10_000):
        pair = acc[tuple(key)]
        pair[0] += q
        pair[1] += c
    return {k: (v[0], v[1]) for k, v in acc.items()}


def use_and_charges(
    allocation_ids: Iterable[int] | None = None,
) -> dict[int, tuple[Decimal, Decimal]]:
    """allocation id -> (units used, NOK charged), for the given allocations (all by default)."""
    qs = UsageDay.objects.filter(allocation__isnull=False)
    if allocation_ids is not None:
        qs = qs.filter(allocation_id__in=list(allocation_ids))
    # Summed in SQL on every database: on SQLite in floating point, read back rounded to the
    # fields' 4 decimals, which is exact for any realistic use (the error of adding even a
    # million day rows of a billion units is far below 0.00005). Invoices use sums().
    rows = qs.values("allocation_id").annotate(q=Sum("quantity"), c=Sum("charge_nok")).order_by()
    return {r["allocation_id"]: (r["q"] or ZERO, r["c"] or ZERO) for r in rows}


def version() -> tuple[int, int]:
    """Changes whenever use is added or billed: (last import batch, last invoice). Cheap: two
    primary-key maxima, whatever the size of the tables."""
    from .models import ImportBatch, Invoice

    batch = ImportBatch.objects.aggregate(m=Max("id"))["m"] or 0
    invoice = Invoice.objects.aggregate(m=Max("id"))["m"] or 0
    return batch, invoice


def _record_groups() -> dict[tuple, list]:
    """key -> [records, quantity, charge] over every record (exact, as in :func:`sums`)."""
    acc: dict[tuple, list] = defaultdict(lambda: [0, ZERO, ZERO])
    records = UsageRecord.objects.order_by()
    if connection.vendor == "postgresql":
        grouped = records.values_list(*KEY).annotate(
            n=Count("id"), q=Sum("quantity"), c=Sum("charge_nok")
        )
        for *key, n, q, c in grouped.iterator(chunk_size=20_000):
            acc[tuple(key)] = [n, q, c]
        return acc
    for *key, q, c in records.values_list(*KEY, "quantity", "charge_nok").iterator(
        chunk_size=20_000
    ):
        group = acc[tuple(key)]
        group[0] += 1
        group[1] += q
        group[2] += c
    return acc


@transaction.atomic
def rebuild() -> dict[str, int]:
    """Recompute the open day rows from the records (billed rows are kept). Idempotent."""
    groups = _record_groups()
    for *key, n, q, c in (
        UsageDay.objects.filter(invoice__isnull=False)
        .values_list(*KEY)
        .annotate(n=Sum("records"), q=Sum("quantity"), c=Sum("charge_nok"))
        .order_by()
    ):
        group = groups.get(tuple(key))
        if group is None:
            logger.warning("billed use %s has no records left", key)
            continue
        group[0] -= n
        group[1] -= q
        group[2] -= c
    before = UsageDay.objects.filter(invoice__isnull=True).delete()[0]
    fresh = [
        UsageDay(**dict(zip(KEY, key, strict=True)), records=n, quantity=q, charge_nok=c)
        for key, (n, q, c) in groups.items()
        if n or q or c
    ]
    UsageDay.objects.bulk_create(fresh, batch_size=5_000)
    logger.info("usage days rebuilt: %d open row(s) replaced by %d", before, len(fresh))
    return {"open_rows_before": before, "open_rows_after": len(fresh)}
