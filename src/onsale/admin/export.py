"""A venue's orders as JSON or CSV (one row per ticket): the venue owns its
buyers' data and takes it where it wants."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from onsale.checkout.repo import OrderRow
from onsale.events.policy import iso

CSV_COLUMNS = [
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
    # Added with tickets/ (I10); last, so that existing imports keep their columns.
    "ticket_number",
]


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    # The writer quotes a cell holding "\n" (the line terminator) but not a bare
    # "\r", which spreadsheets read as a row break: a new row could then start
    # with a formula. Carriage returns become line feeds, inside quotes.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def orders_csv(orders: Iterable[OrderRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for o in orders:
        for t in o.tickets:
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        o.order_id,
                        o.status,
                        o.channel,
                        iso(o.created_at),
                        o.buyer_email,
                        o.buyer_name,
                        o.total_cents,
                        o.currency,
                        t.ticket_id,
                        t.section,
                        t.seat,
                        t.price_cents,
                        t.fee_cents,
                        t.status,
                        t.number,
                    )
                ]
            )
    return out.getvalue()
