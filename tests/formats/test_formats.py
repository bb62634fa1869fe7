"""The formatting layer: what people read, in bokmål and English (issue 13, item 1)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from regnekraft import formats
from regnekraft.formats import spreadsheet

THIN = "\u202f"  # narrow no-break space: bokmål's thousands separator
NB = "\u00a0"


@pytest.fixture(params=["nb", "en"])
def language(request):
    with translation.override(request.param):
        yield request.param


BOTH = {
    # what, call, bokmål, English
    "money": (
        lambda: formats.money(Decimal("77971.2000000000")),
        f"77{THIN}971,20{NB}kr",
        f"NOK{NB}77,971.20",
    ),
    "money rounds half up to øre": (
        lambda: formats.money(Decimal("0.125")),
        f"0,13{NB}kr",
        f"NOK{NB}0.13",
    ),
    "negative money": (lambda: formats.money(-1500), f"-1{THIN}500,00{NB}kr", f"NOK{NB}-1,500.00"),
    "a number needs at most two decimals": (
        lambda: formats.number(Decimal("153427.200000000")),
        f"153{THIN}427,2",
        "153,427.2",
    ),
    "whole numbers": (lambda: formats.number(1234567, 0), f"1{THIN}234{THIN}567", "1,234,567"),
    "percent": (lambda: formats.percent(Decimal("116.4")), f"116,4{NB}%", "116.4%"),
    "share": (lambda: formats.share(Decimal("0.800")), f"80,0{NB}%", "80.0%"),
    "quantity": (
        lambda: formats.quantity(12500, "core-hours"),
        f"12{THIN}500{NB}kjernetimer",
        f"12,500{NB}core-hours",
    ),
    "one of a unit": (lambda: formats.quantity(1, "GPU-hours"), f"1{NB}GPU-time", f"1{NB}GPU-hour"),
    "storage": (
        lambda: formats.quantity(Decimal("2.5"), "TB-months"),
        f"2,5{NB}TB-måneder",
        f"2.5{NB}TB-months",
    ),
    "a date": (lambda: formats.date(dt.date(2026, 12, 1)), "1. des. 2026", "1 Dec 2026"),
    "a moment in Oslo time (UTC+1 in winter)": (
        lambda: formats.datetime(dt.datetime(2026, 12, 1, 19, 32, 4, 759612, tzinfo=dt.UTC)),
        "1. des. 2026, 20:32",
        "1 Dec 2026, 20:32",
    ),
    "summer time is UTC+2": (
        lambda: formats.datetime(dt.datetime(2027, 6, 30, 22, 15, tzinfo=dt.UTC)),
        "1. juli 2027, 00:15",
        "1 Jul 2027, 00:15",
    ),
    "the day of a moment is Oslo's day": (
        lambda: formats.date(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)),
        "1. jan. 2027",
        "1 Jan 2027",
    ),
    "nothing": (lambda: formats.money(None), "–", "–"),
}


@pytest.mark.parametrize("case", list(BOTH))
def test_each_kind_of_figure_in_both_languages(case, language):
    call, bokmal, english = BOTH[case]
    assert call() == (bokmal if language == "nb" else english)


def test_an_explicit_language_wins_over_the_active_one():
    with translation.override("en"):
        assert formats.money(10, language="nb") == f"10,00{NB}kr"
        assert formats.quantity(2, "core-hours", language="nb") == f"2{NB}kjernetimer"
    assert formats.locale_for("en-us") == "en_GB"
    assert formats.locale_for("de") == "nb_NO"  # anything else: the portal's default


def test_an_unknown_unit_is_shown_as_it_is():
    with translation.override("nb"):
        assert formats.quantity(3, "widgets") == f"3{NB}widgets"


def test_not_a_number_is_an_error_naming_the_value():
    with pytest.raises(ValueError, match="not a number: 'abc'"):
        formats.money("abc")


def test_the_template_filters_are_built_in_and_never_fail_on_a_blank():
    template = Template(
        "{{ m|money }}|{{ q|qty:'core-hours' }}|{{ p|percent }}|{{ s|share:0 }}|"
        "{{ t|moment }}|{{ d|day }}|{{ n|num:0 }}|{{ blank|money }}|{{ text|money }}"
    )
    context = Context(
        {
            "m": Decimal("7000000"),
            "q": 10,
            "p": 80,
            "s": Decimal("0.755"),
            "t": dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC),
            "d": dt.date(2027, 1, 1),
            "n": Decimal("12345.678"),
            "blank": None,
            "text": "n/a",
        }
    )
    with translation.override("nb"):
        assert template.render(context) == (
            f"7{THIN}000{THIN}000,00{NB}kr|10{NB}kjernetimer|80,0{NB}%|76{NB}%|"
            f"1. des. 2026, 13:00|1. jan. 2027|12{THIN}346|–|n/a"
        )


def _read(d: spreadsheet.Dialect, header, rows) -> list[list[str]]:
    out = io.StringIO()
    spreadsheet.write(out, header, rows, d)
    text = out.getvalue()
    assert text.startswith("\ufeff") == d.byte_order_mark
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=d.delimiter))


def test_csv_in_the_norwegian_spreadsheet_dialect():
    rows = _read(
        spreadsheet.NORWEGIAN,
        ["Prosjekt", "Beløp"],
        [["nn1000k", Decimal("77971.2000000000")], ["ærlig", -3], ["=1+1", 2.5]],
    )
    assert rows == [
        ["Prosjekt", "Beløp"],
        ["nn1000k", "77971,2000000000"],
        ["ærlig", "-3"],
        ["'=1+1", "2,5"],
    ]


def test_csv_in_the_plain_dialect_keeps_full_precision_and_oslo_time():
    moment = dt.datetime(2026, 12, 1, 19, 32, 4, tzinfo=dt.UTC)
    rows = _read(
        spreadsheet.PLAIN,
        ["a", "b", "c", "d"],
        [[Decimal("1E+3"), moment, dt.date(2027, 1, 1), None]],
    )
    assert rows[1] == ["1000", "2026-12-01 20:32:04", "2027-01-01", ""]


def test_an_unknown_dialect_is_refused_with_the_choices():
    assert spreadsheet.dialect(None) is spreadsheet.NORWEGIAN
    with pytest.raises(ValueError, match="unknown CSV dialect 'excel': choose one of no, plain"):
        spreadsheet.dialect("excel")
