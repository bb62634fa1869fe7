"""Accounting's functions in one import (docs/accounting.md). The runs an interface starts
for a user (import, invoices) are ``accounting.runs``, which checks who may; the importer's
and the invoice run's own functions here take no actor and are for code that already has."""

from __future__ import annotations

from .balances import balance, balances, update_balances
from .importer import ImportRefused, ImportResult, SwfOptions, import_records, import_usage
from .invoicing import invoice_dict, issue_invoice, issue_invoices, preview_invoice
from .rating import NoPrice, PriceBook, rate_usage
from .reports import (
    report_balances,
    report_by_group,
    report_capacity,
    report_economic_share,
    report_integrity,
    report_research_share,
    report_unallocated,
)

__all__ = [
    "ImportRefused",
    "ImportResult",
    "NoPrice",
    "PriceBook",
    "SwfOptions",
    "balance",
    "balances",
    "import_records",
    "import_usage",
    "invoice_dict",
    "issue_invoice",
    "issue_invoices",
    "preview_invoice",
    "rate_usage",
    "report_balances",
    "report_by_group",
    "report_capacity",
    "report_economic_share",
    "report_integrity",
    "report_research_share",
    "report_unallocated",
    "update_balances",
]
