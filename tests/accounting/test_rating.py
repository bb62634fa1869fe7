import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regnekraft.accounting.rating import NoPrice, PriceBook, rate, rate_usage, to_ore, to_record
from regnekraft.catalog.models import Price
from tests import factories as f

pytestmark = pytest.mark.django_db

DAY = dt.date(2027, 3, 1)


def test_gpu_type_price_wins_over_generic_gpu_price(world):
    assert PriceBook().unit_price("A", world.gpu, DAY) == Decimal("7.2")
    other = f.resource_class(world.system, kind="gpu", units=10, gpu_type="MI250X")
    assert PriceBook().unit_price("A", other, DAY) == Decimal("5.6")


def test_tier_multiplier_applies(world):
    tier3 = f.resource_class(f.system("critical", tier=3), kind="cpu", units=10)
    assert PriceBook().unit_price("A", tier3, DAY) == Decimal("0.064")  # 0.04 x 1.6


def test_price_list_switch_by_valid_from(world):
    new = f.price_list("A", valid_from=dt.date(2027, 4, 1), prices={"cpu": "0.05"})
    book = PriceBook()
    assert book.price_list("A", dt.date(2027, 3, 31)) == world.list_a
    assert book.price_list("A", dt.date(2027, 4, 1)) == new
    assert book.unit_price("A", world.cpu, dt.date(2027, 3, 31)) == Decimal("0.04")
    assert book.unit_price("A", world.cpu, dt.date(2027, 4, 1)) == Decimal("0.05")


def test_no_valid_list_or_no_price_is_an_error(world):
    with pytest.raises(NoPrice, match="category D"):
        PriceBook().unit_price("D", world.cpu, DAY)
    with pytest.raises(NoPrice, match="category A"):
        PriceBook().unit_price("A", world.cpu, dt.date(2019, 12, 31))
    f.price_list("A", valid_from=dt.date(2027, 6, 1), prices={"gpu": "6"})
    with pytest.raises(NoPrice, match="no price for cpu"):
        PriceBook().unit_price("A", world.cpu, dt.date(2027, 6, 2))


def test_rate_keeps_four_decimals_half_up(world):
    assert rate(Decimal("1.23456"), Decimal("1")) == Decimal("1.2346")
    assert rate(Decimal("0.00005"), Decimal("1")) == Decimal("0.0001")
    assert rate_usage("A", world.cpu, Decimal("1000"), DAY) == Decimal("40.0000")
    Price.objects.filter(price_list=world.list_a, kind="cpu").update(unit_price=Decimal("0.0333"))
    assert rate_usage("A", world.cpu, Decimal("3"), DAY) == Decimal("0.0999")


def test_ore_rounding_is_half_up():
    assert to_ore(Decimal("0.005")) == Decimal("0.01")
    assert to_ore(Decimal("0.0049")) == Decimal("0.00")
    assert to_ore(Decimal("2.675")) == Decimal("2.68")  # banker's rounding would give 2.67
    assert to_ore(Decimal("-0.005")) == Decimal("-0.01")


@given(st.decimals(min_value=0, max_value=10**9, places=6))
def test_rounding_moves_by_at_most_half_a_unit(x):
    assert abs(to_ore(x) - x) <= Decimal("0.005")
    assert abs(to_record(x) - x) <= Decimal("0.00005")


def test_no_interface_publishes_a_list_that_reprices_rated_use(world, client):
    """The rule (accounting.rating.check_price_list_start) through the admin; the API and
    the portal are tested in tests/api/test_writes.py and tests/portal/test_flows.py."""
    from django.contrib.auth import get_user_model

    from regnekraft.accounting.importer import import_records
    from regnekraft.accounting.rating import earliest_new_list_day
    from regnekraft.catalog.models import PriceList

    assert earliest_new_list_day() is None  # nothing rated: any day will do
    f.granted(f.project(code="nn1000k"), world.gpu, 1000)
    import_records(
        [
            {
                "cluster": "betzy",
                "job_id": "1",
                "account": "nn1000k",
                "kind": "gpu",
                "gpu_type": "A100",
                "quantity": "1",
                "start": "2027-02-01T08:00:00",
                "end": "2027-02-01T10:00:00",
            }
        ],
        source="t",
    )
    assert earliest_new_list_day() == dt.date(2027, 2, 2)
    admin = get_user_model().objects.create_superuser("root", "root@example.no", "pw")
    client.force_login(admin)
    form = {
        "category": "A",
        "name": "Late",
        "tier_multipliers": "{}",
        "free_allowance_nok": "0",
        "source": "",
        "prices-TOTAL_FORMS": "0",
        "prices-INITIAL_FORMS": "0",
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
    }
    refused = client.post("/admin/catalog/pricelist/add/", {**form, "valid_from": "2027-02-01"})
    assert refused.status_code == 200 and "already rated or invoiced" in refused.content.decode()
    assert not PriceList.objects.filter(name="Late").exists()
    accepted = client.post("/admin/catalog/pricelist/add/", {**form, "valid_from": "2027-02-02"})
    assert accepted.status_code == 302 and PriceList.objects.filter(name="Late").exists()
    # a list that priced rated use cannot be changed (not even its multipliers) or deleted
    used = PriceList.objects.get(category="A", valid_from__lt=dt.date(2027, 2, 2))
    edited = client.post(
        f"/admin/catalog/pricelist/{used.pk}/change/",
        {
            **form,
            "name": used.name,
            "valid_from": str(used.valid_from),
            "tier_multipliers": '{"1": "9"}',
        },
    )
    assert edited.status_code == 200 and "cannot change" in edited.content.decode()
    used.refresh_from_db()
    assert used.tier_multipliers != {"1": "9"}
    assert (
        client.post(f"/admin/catalog/pricelist/{used.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
