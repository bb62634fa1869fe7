import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from regnekraft.accounting.importer import import_records
from regnekraft.accounting.invoicing import LineDraft, assemble, issue_invoices, preview_invoice
from regnekraft.accounting.models import Invoice, InvoiceLine, UsageDay
from regnekraft.accounting.rating import to_ore
from regnekraft.allocation import services
from regnekraft.allocation.models import SectorOrder, SectorOrderLine
from regnekraft.catalog.models import Price
from tests import factories as f

pytestmark = pytest.mark.django_db

Q1 = (dt.date(2027, 1, 1), dt.date(2027, 4, 1))
Q2 = (dt.date(2027, 4, 1), dt.date(2027, 7, 1))
H1 = (dt.date(2027, 1, 1), dt.date(2027, 7, 1))
H2 = (dt.date(2027, 7, 1), dt.date(2028, 1, 1))
YEAR = (dt.date(2027, 1, 1), dt.date(2028, 1, 1))


def use(
    account: str,
    job: str,
    quantity: str,
    *,
    kind: str = "gpu",
    gpu_type: str = "A100",
    day: str = "2027-02-01",
) -> None:
    import_records(
        [
            {
                "cluster": "betzy",
                "job_id": job,
                "account": account,
                "kind": kind,
                "gpu_type": gpu_type,
                "quantity": quantity,
                "start": f"{day}T08:00:00",
                "end": f"{day}T10:00:00",
            }
        ],
        source="t",
    )


def billed() -> list[tuple[str, Decimal, int | None]]:
    """(usage date, quantity, invoice) of every day row, sorted."""
    rows = UsageDay.objects.values_list("usage_date", "quantity", "invoice")
    return sorted(((str(d), q, i) for d, q, i in rows), key=lambda r: (r[0], r[2] or 0))


def assert_total_is_sum_of_lines(invoice: Invoice) -> None:
    amounts = list(invoice.lines.values_list("amount_nok", flat=True))
    assert amounts and invoice.total_nok == sum(amounts, Decimal(0))
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts)


@given(st.lists(st.decimals(min_value=-(10**6), max_value=10**8, places=4), max_size=40))
def test_invoice_total_equals_sum_of_rounded_lines(amounts):
    drafts = [LineDraft("usage", "x", Decimal(1), "u", a, a) for a in amounts]
    lines, total = assemble(drafts)
    assert total == sum((line.amount for line in lines), Decimal(0))
    for draft, line in zip(drafts, lines, strict=True):
        assert line.amount == to_ore(draft.amount)
        assert line.amount.as_tuple().exponent == -2


def test_consumption_invoice_lines_per_allocation_and_idempotent_issue(world):
    proj = f.project(code="nn1000k")
    f.granted(proj, world.gpu, 1000)
    use("nn1000k", "1", "10")
    use("nn1000k", "2", "0.0001")
    use("nn1000k", "3", "5", day="2027-05-01")  # another period
    [invoice] = issue_invoices(*Q1)
    line = invoice.lines.get()
    assert (line.kind, line.quantity, line.unit_price_nok, line.amount_nok) == (
        "usage",
        Decimal("10.0001"),
        Decimal("7.2"),
        Decimal("72.00"),
    )
    assert line.project == proj and line.resource_class == world.gpu
    assert_total_is_sum_of_lines(invoice)
    use("nn1000k", "4", "100")  # late usage does not change an issued invoice
    [again] = issue_invoices(*Q1)
    assert (again.pk, again.total_nok, again.lines.count()) == (invoice.pk, Decimal("72.00"), 1)
    assert Invoice.objects.count() == 1


def test_late_usage_is_billed_once_on_the_next_invoice(world):
    proj = f.project(code="nn1000k")
    f.granted(proj, world.gpu, 1000)
    use("nn1000k", "1", "10")
    [q1] = issue_invoices(*Q1)
    use("nn1000k", "late", "100")  # dated in Q1, imported after Q1 was invoiced
    use("nn1000k", "2", "1", day="2027-05-01")
    preview = preview_invoice(proj.organisation, *Q2)
    [q2] = issue_invoices(*Q2)
    lines = {ln.description: (ln.quantity, ln.amount_nok) for ln in q2.lines.all()}
    assert lines == {
        f"nn1000k {world.gpu}: use": (Decimal("1.0000"), Decimal("7.20")),
        f"nn1000k {world.gpu}: use before 2027-04-01, reported late": (
            Decimal("100.0000"),
            Decimal("720.00"),
        ),
    }
    assert preview["total_nok"] == q2.total_nok == Decimal("727.20")
    assert_total_is_sum_of_lines(q2)
    # all use is on exactly one invoice (the late use on a day row of its own); issuing
    # again changes nothing
    assert billed() == [
        ("2027-02-01", Decimal("10.0000"), q1.pk),
        ("2027-02-01", Decimal("100.0000"), q2.pk),
        ("2027-05-01", Decimal("1.0000"), q2.pk),
    ]
    assert [i.total_nok for i in issue_invoices(*Q1) + issue_invoices(*Q2)] == [
        Decimal("72.00"),
        Decimal("727.20"),
    ]
    assert issue_invoices(*H2) == []  # nothing left to bill


def test_late_usage_of_an_ended_allocation_is_still_billed(world):
    proj = f.project(code="nn1001k")
    f.granted(proj, world.gpu, 1000, period=Q1)
    use("nn1001k", "1", "10")
    issue_invoices(*Q1)
    use("nn1001k", "late", "1")
    [q2] = issue_invoices(*Q2)  # the organisation has nothing else in Q2
    assert [ln.amount_nok for ln in q2.lines.all()] == [Decimal("7.20")]


def test_use_of_a_period_not_invoiced_yet_waits_for_its_own_invoice(world):
    proj = f.project(code="nn1003k")
    f.granted(proj, world.gpu, 1000)
    use("nn1003k", "feb", "10", day="2027-02-01")
    use("nn1003k", "may", "1", day="2027-05-01")
    [q2] = issue_invoices(*Q2)  # issued before Q1: February is not late use, it is Q1's
    assert [ln.quantity for ln in q2.lines.all()] == [Decimal("1.0000")]
    [q1] = issue_invoices(*Q1)
    assert [ln.quantity for ln in q1.lines.all()] == [Decimal("10.0000")]
    assert billed() == [
        ("2027-02-01", Decimal("10.0000"), q1.pk),
        ("2027-05-01", Decimal("1.0000"), q2.pk),
    ]


def test_late_use_is_looked_for_within_the_window(world, settings):
    proj = f.project(code="nn1002k")
    f.granted(proj, world.gpu, 1000)
    use("nn1002k", "1", "10")
    issue_invoices(*Q1)
    use("nn1002k", "early", "1", day="2027-02-01")
    use("nn1002k", "recent", "2", day="2027-03-30")
    settings.REGNEKRAFT_LATE_USE_DAYS = 10  # Q2 looks back to 22 March only
    [q2] = issue_invoices(*Q2)
    assert [ln.quantity for ln in q2.lines.all()] == [Decimal("2.0000")]
    assert ("2027-02-01", Decimal("1.0000"), None) in billed()


def test_lines_round_half_up_to_ore(world):
    Price.objects.filter(price_list=world.list_a, kind="gpu", gpu_type="A100").update(
        unit_price=Decimal("0.0005")
    )
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    use("nn1000k", "1", "10")  # 0.005 NOK
    [invoice] = issue_invoices(*Q1)
    assert invoice.total_nok == Decimal("0.01")


def test_a_price_list_switch_splits_the_line(world):
    f.price_list("A", valid_from=dt.date(2027, 3, 1), prices={"gpu": "6"})
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    use("nn1000k", "1", "10", day="2027-02-28")
    use("nn1000k", "2", "10", day="2027-03-01")
    [invoice] = issue_invoices(*Q1)
    assert sorted(invoice.lines.values_list("unit_price_nok", "amount_nok")) == [
        (Decimal("6"), Decimal("60.00")),
        (Decimal("7.2"), Decimal("72.00")),
    ]
    assert invoice.total_nok == Decimal("132.00")


def test_unit_price_charges_allocated_units_pro_rata(world):
    company = f.organisation("industry", sme=True)
    proj = f.project(company, purpose="commercial", code="acme1")
    alloc = services.purchase(proj, world.cpu, Decimal(1_000_000), *YEAR)
    assert (alloc.price_category, alloc.charging_model) == ("C", "unit")
    [invoice] = issue_invoices(*Q1)
    line = invoice.lines.get()
    quantity = (Decimal(1_000_000) * 90 / 365).quantize(Decimal("0.0001"))
    assert line.quantity == quantity
    assert line.amount_nok == to_ore(quantity * Decimal("0.12"))
    assert_total_is_sum_of_lines(invoice)


def test_subscription_is_charged_once_on_the_first_invoice(world):
    owner = f.organisation("public", sector="weather")
    rack = f.system("metrack", kind="colocated", owner=owner)
    rc = f.resource_class(rack, kind="cpu", units=500)
    proj = f.project(owner, code="met1")
    alloc = services.grant_colocated(proj, rc, Decimal(100_000), *YEAR)
    assert (alloc.price_category, alloc.charging_model) == ("B", "subscription")
    [first] = issue_invoices(*H1)
    assert list(first.lines.values_list("kind", "amount_nok")) == [
        ("subscription", Decimal("8000.00"))
    ]
    assert issue_invoices(*H2) == []


def test_category_0_is_free_until_the_yearly_allowance_is_passed(world):
    world.list_0.free_allowance_nok = Decimal("10")
    world.list_0.save()
    org = f.organisation("research")
    proj = f.project(org, code="small1")
    alloc = f.granted(proj, world.cpu, 100_000, period=YEAR)
    assert alloc.price_category == "0"
    use("small1", "1", "100", kind="cpu", gpu_type="", day="2027-02-01")  # 4 NOK
    use("small1", "2", "200", kind="cpu", gpu_type="", day="2027-05-01")  # 8 NOK
    [q1] = issue_invoices(*Q1)
    assert sorted(q1.lines.values_list("kind", "amount_nok")) == [
        ("usage", Decimal("4.00")),
        ("waiver", Decimal("-4.00")),
    ]
    assert q1.total_nok == 0
    [q2] = issue_invoices(*Q2)
    assert sorted(q2.lines.values_list("kind", "amount_nok")) == [
        ("usage", Decimal("8.00")),
        ("waiver", Decimal("-6.00")),
    ]
    assert q2.total_nok == Decimal("2.00")
    assert_total_is_sum_of_lines(q2)


def test_category_0_is_always_free_for_bott(world):
    org = f.organisation("research")
    org.is_bott = True
    org.save()
    f.granted(f.project(org, code="small2"), world.cpu, 100_000, period=YEAR)
    use("small2", "1", "100", kind="cpu", gpu_type="")
    [invoice] = issue_invoices(*Q1)
    assert invoice.total_nok == 0


def test_take_or_pay_tops_up_to_the_committed_minimum(world):
    agency = f.organisation("public", sector="health", name="FHI")
    order = SectorOrder.objects.create(
        organisation=agency, sector="health", year=2027, commitment_share=Decimal("0.8")
    )
    line = SectorOrderLine.objects.create(
        order=order, resource_class=world.cpu, amount=Decimal(1_000_000)
    )
    services.confirm_order(order)
    proj = f.project(agency, code="fhi1")
    services.sub_allocate(line, proj, Decimal(500_000))
    [invoice] = issue_invoices(*H1)
    lines = {ln.kind: ln for ln in invoice.lines.all()}
    days = Decimal(181)
    sub_charge = to_ore(
        (Decimal(500_000) * days / 365).quantize(Decimal("0.0001")) * Decimal("0.04")
    )
    committed = to_ore(Decimal("0.8") * Decimal(1_000_000) * days / 365 * Decimal("0.04"))
    assert lines["unit"].amount_nok == sub_charge
    assert lines["take_or_pay"].amount_nok == committed - sub_charge
    assert lines["take_or_pay"].sector_order == order
    assert invoice.total_nok == committed
    assert_total_is_sum_of_lines(invoice)


def test_no_top_up_when_use_exceeds_the_commitment(world):
    agency = f.organisation("public", sector="health")
    order = SectorOrder.objects.create(
        organisation=agency, sector="health", year=2027, commitment_share=Decimal("0.5")
    )
    line = SectorOrderLine.objects.create(
        order=order, resource_class=world.cpu, amount=Decimal(1_000_000)
    )
    services.confirm_order(order)
    services.sub_allocate(line, f.project(agency, code="fhi2"), Decimal(900_000))
    [invoice] = issue_invoices(*H1)
    assert not invoice.lines.filter(kind="take_or_pay").exists()


def test_overlapping_periods_are_refused(world):
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    use("nn1000k", "1", "10")
    issue_invoices(*Q1)
    with pytest.raises(ValidationError, match="overlaps invoice"):
        issue_invoices(*H1)


def test_preview_matches_the_issued_invoice(world):
    proj = f.project(code="nn1000k")
    f.granted(proj, world.gpu, 1000)
    use("nn1000k", "1", "3.3333")
    preview = preview_invoice(proj.organisation, *Q1)
    [invoice] = issue_invoices(*Q1)
    assert preview["total_nok"] == invoice.total_nok == Decimal("24.00")
    assert InvoiceLine.objects.count() == len(preview["lines"])


def test_month_end_drafts_show_what_would_be_issued_and_issue_nothing(world):
    from regnekraft.accounting.invoicing import draft_invoices_for_month
    from regnekraft.ops.jobs import month_end_invoices

    proj = f.project(code="nn1000k")
    f.granted(proj, world.gpu, 1000)
    use("nn1000k", "1", "10")  # February
    february = (dt.date(2027, 2, 1), dt.date(2027, 3, 1))
    drafts = month_end_invoices(today="2027-03-01")  # the job of 1 March: February's drafts
    assert (drafts["period_start"], drafts["period_end"]) == february
    preview = preview_invoice(proj.organisation, *february)
    assert drafts["drafts"] == [
        {
            "organisation": proj.organisation.short_name,
            "lines": len(preview["lines"]),
            "total_nok": preview["total_nok"],
        }
    ]
    assert drafts["total_nok"] == preview["total_nok"] == Decimal("72.00")
    assert not Invoice.objects.exists()
    issue_invoices(*february)
    after = draft_invoices_for_month(*february)
    assert (after["already_issued"], after["drafts"]) == (1, [])
