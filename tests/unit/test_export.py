"""The venue's CSV export: header, one row per ticket, no formula injection."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from onsale.admin.export import CSV_COLUMNS, orders_csv
from onsale.checkout.repo import OrderRow, TicketRow

CREATED = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)


def _ticket(ticket_id: str, seat: str | None = "BALC-A-1", **kw: object) -> TicketRow:
    fields: dict[str, object] = {
        "ticket_id": ticket_id,
        "section": "BALC" if seat else "FLOOR",
        "seat": seat,
        "price_cents": 2500,
        "fee_cents": 100,
        "code": "CODE-" + ticket_id,
        "status": "live",
        "number": int(ticket_id[1:]) if ticket_id[1:].isdigit() else None,
    }
    fields.update(kw)
    return TicketRow(**fields)  # type: ignore[arg-type]


def _order(order_id: str, tickets: tuple[TicketRow, ...], **kw: object) -> OrderRow:
    fields: dict[str, object] = {
        "order_id": order_id,
        "event_id": "ev1",
        "venue_id": "v1",
        "channel": "online",
        "status": "paid",
        "buyer_email": "fan@example.org",
        "buyer_name": "Camille",
        "total_cents": 2600 * len(tickets),
        "currency": "EUR",
        "hold_id": "h1",
        "queue_entry": "q1",
        "created_at": CREATED,
        "tickets": tickets,
    }
    fields.update(kw)
    return OrderRow(**fields)  # type: ignore[arg-type]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_header_only_when_no_orders() -> None:
    assert orders_csv([]) == ",".join(CSV_COLUMNS) + "\n"
    assert CSV_COLUMNS == [
        "order_id",
        "status",
        "channel",
        "created_at",
        "buyer_email",
        "buyer_name",
        "total_cents",
        "currency",
        "ticket_id",
        "section",
        "seat",
        "price_cents",
        "fee_cents",
        "ticket_status",
        "ticket_number",
    ]


def test_one_row_per_ticket() -> None:
    seated = _order("o1", (_ticket("t1", "BALC-A-1"), _ticket("t2", "BALC-A-2")))
    ga = _order(
        "o2",
        (_ticket("t3", None, status="void"),),
        channel="boxoffice",
        status="refunded",
        buyer_email="desk@venue.example",
        buyer_name="Dominique",
    )
    rows = _rows(orders_csv([seated, ga]))
    assert rows == [
        CSV_COLUMNS,
        ["o1", "paid", "online", "2026-12-01T10:00:05Z", "fan@example.org", "Camille", "5200",
         "EUR", "t1", "BALC", "BALC-A-1", "2500", "100", "live", "1"],
        ["o1", "paid", "online", "2026-12-01T10:00:05Z", "fan@example.org", "Camille", "5200",
         "EUR", "t2", "BALC", "BALC-A-2", "2500", "100", "live", "2"],
        ["o2", "refunded", "boxoffice", "2026-12-01T10:00:05Z", "desk@venue.example",
         "Dominique", "2600", "EUR", "t3", "FLOOR", "", "2500", "100", "void", "3"],
    ]  # fmt: skip


def test_an_order_without_tickets_has_no_row() -> None:
    assert _rows(orders_csv([_order("o1", ())])) == [CSV_COLUMNS]


def test_generator_input() -> None:
    orders = (_order(f"o{i}", (_ticket(f"t{i}"),)) for i in range(3))
    assert [r[0] for r in _rows(orders_csv(orders))[1:]] == ["o0", "o1", "o2"]


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\n=1+1"),  # a carriage return becomes a quoted line feed
        ("Camille = fan", "Camille = fan"),  # only a leading character is dangerous
        ('O\'Neil, "Jo"', 'O\'Neil, "Jo"'),
        ("Zoë\nSecond line", "Zoë\nSecond line"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(name: str, cell: str) -> None:
    rows = _rows(orders_csv([_order("o1", (_ticket("t1"),), buyer_name=name)]))
    assert len(rows) == 2
    assert rows[1][CSV_COLUMNS.index("buyer_name")] == cell


def test_every_text_column_is_neutralised() -> None:
    order = _order(
        "=o1",
        (_ticket("+t1", "-BALC-A-1", section="@BALC"),),
        buyer_email="=cmd|' /C calc'!A0@example.org",
    )
    row = _rows(orders_csv([order]))[1]
    assert row[CSV_COLUMNS.index("order_id")] == "'=o1"
    assert row[CSV_COLUMNS.index("buyer_email")] == "'=cmd|' /C calc'!A0@example.org"
    assert row[CSV_COLUMNS.index("ticket_id")] == "'+t1"
    assert row[CSV_COLUMNS.index("section")] == "'@BALC"
    assert row[CSV_COLUMNS.index("seat")] == "'-BALC-A-1"


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("x\r=1+1", "x\n=1+1"),
        ("x\r\n=1+1", "x\n=1+1"),
        ("\r=1+1", "'\n=1+1"),
        ("a\rb\rc", "a\nb\nc"),
    ],
)
def test_a_carriage_return_cannot_start_a_new_row(name: str, cell: str) -> None:
    text = orders_csv([_order("o1", (_ticket("t1"),), buyer_name=name)])
    # A bare CR left unquoted would end the row in a spreadsheet, and "=1+1..." would
    # start the next one as a formula. Only quoted line feeds may remain.
    assert "\r" not in text
    assert f'"{cell}"' in text
    rows = _rows(text)
    assert len(rows) == 2
    assert rows[1][CSV_COLUMNS.index("buyer_name")] == cell
    assert rows[1][CSV_COLUMNS.index("total_cents")] == "2600"
