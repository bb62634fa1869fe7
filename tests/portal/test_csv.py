"""CSV exports keep formula text as text in every cell, whatever the cell holds (issue 10, item
8: CSV injection through a model object's name)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy

from regnekraft.parties.models import Organisation, Person
from regnekraft.portal.tables import Cell, Column, Table, csv_response

ATTACKS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("http://x","y")']


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name


def _rows(table: Table) -> list[list[str]]:
    response = csv_response(table, "plain")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("attack", ATTACKS)
def test_formula_text_is_neutralised_whatever_the_cell_holds(attack):
    table = Table("t", "T", [Column("a"), Column("b"), Column("c"), Column("d"), Column("e")])
    org = Organisation(short_name=attack, name=attack)
    lazy = gettext_lazy(attack.replace("\r", "\t"))  # gettext turns a CR into a newline
    table.add(attack, org, Cell(org, href="/x/"), Named(attack), lazy)
    assert _rows(table)[1] == ["'" + attack] * 4 + ["'" + str(lazy)]


def test_a_person_named_like_a_formula_is_neutralised():
    assert _rows(_one(Cell(Person(name="=2*3"))))[1] == ["'=2*3"]


def _one(value) -> Table:
    table = Table("t", "T", [Column("v")])
    table.add(value)
    return table


def test_numbers_dates_and_plain_text_are_written_as_they_are():
    table = Table("t", "T", [Column("n", numeric=True)] * 6)
    table.add(Decimal("-5.25"), -3, 2.5, dt.date(2027, 1, 1), "nn1000k", None)
    assert _rows(table)[1] == ["-5.25", "-3", "2.5", "2027-01-01", "nn1000k", ""]


def test_a_column_label_is_neutralised_too():
    table = Table("t", "T", [Column(gettext_lazy("=label"))])
    assert _rows(table)[0] == ["'=label"]


def test_the_default_is_the_norwegian_spreadsheet_dialect():
    table = Table("t", "T", [Column("Beløp", numeric=True), Column("Tekst")])
    table.add(Decimal("-5.25"), "=1")
    body = csv_response(table).content.decode("utf-8")
    assert body == "\ufeffBeløp;Tekst\r\n-5,25;'=1\r\n"


def test_the_download_links_of_a_paged_and_an_unpaged_table():
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    plain = render_to_string("portal/_export.html", {"table": Table("t", "T", [Column("v")])})
    assert 'href="?export=t"' in plain and 'href="?export=t&amp;dialect=plain"' in plain
    paged = Table("t", "T", [Column("v")])
    paged.pager = SimpleNamespace(export_url="?t_page=2&export=t")  # type: ignore[attr-defined]
    links = render_to_string("portal/_export.html", {"table": paged})
    assert 'href="?t_page=2&amp;export=t"' in links
    assert 'href="?t_page=2&amp;export=t&amp;dialect=plain"' in links
