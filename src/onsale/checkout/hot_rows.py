"""The order transaction's last statement: the contended rows (I2, I10).

Every buyer of a section passes through its ``sections`` row, every buyer of
a venue through its ``ticket_counters`` row; a row lock is held from the
statement that takes it to COMMIT. So ``repo.write_order`` writes everything
else first and takes both in this one statement, with no round trip between
taking the first of them and COMMIT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from onsale.errors import SeatsUnavailable

if TYPE_CHECKING:
    from onsale.checkout import repo


def _hot_sql(n_sections: int, with_idem: bool) -> str:
    """One statement for the contended rows, so that no round trip comes
    between taking the first of them and COMMIT: each section's guarded
    counter (sorted, as refunds take them), then the venue's ticket-number
    counter (it reads every section CTE, so it runs after them: the lock
    order is always sections then counter, no deadlock), then the numbers of
    the tickets and the idempotent answer with them (rows of this checkout
    alone). No row from ``c``: a section is full."""
    parts = [
        f"s{i} AS (UPDATE sections SET sold = sold + :n{i} WHERE event_id = :event"
        f" AND code = :sec{i} AND sold + :n{i} <= capacity RETURNING 1)"
        for i in range(n_sections)
    ]
    guard = "".join(f" AND EXISTS (SELECT 1 FROM s{i})" for i in range(n_sections))
    parts.append(
        "c AS (INSERT INTO ticket_counters (venue_id, last_number)"
        f" SELECT :venue, :n WHERE true{guard}"
        " ON CONFLICT (venue_id) DO UPDATE"
        " SET last_number = ticket_counters.last_number + EXCLUDED.last_number"
        " RETURNING last_number - :n + 1 AS first)"
    )
    parts.append(
        "t AS (UPDATE tickets SET number = c.first + x.i - 1"
        " FROM c, unnest(CAST(:ids AS text[])) WITH ORDINALITY AS x(id, i)"
        " WHERE tickets.id = x.id RETURNING 1)"
    )
    if with_idem:
        parts.append(
            "r AS (SELECT CAST(:resp AS jsonb) AS j),"
            " i AS (UPDATE idempotency SET state = 'done', status_code = 201,"
            " updated_at = now(), response = jsonb_set(r.j, '{tickets}', (SELECT"
            " jsonb_agg(e.elem || jsonb_build_object('number', c.first + e.i - 1)"
            " ORDER BY e.i) FROM jsonb_array_elements(r.j -> 'tickets')"
            " WITH ORDINALITY AS e(elem, i)))"
            " FROM c, r WHERE scope = :scope AND key = :key RETURNING 1)"
        )
    flags = "".join(f", EXISTS (SELECT 1 FROM s{i}) AS ok{i}" for i in range(n_sections))
    return "WITH " + ", ".join(parts) + f" SELECT (SELECT first FROM c) AS first{flags}"


async def take(
    conn: AsyncConnection,
    order: repo.NewOrder,
    idem: tuple[str, str] | None,
    response: dict[str, Any],
    *,
    guard_capacity: bool,
) -> None:
    """The section counters and the ticket numbers, the transaction's last
    statement (I2, I10); the tickets in ``response`` gain their ``number``."""
    by_section: dict[str, int] = {}
    for line in order.quote.lines:
        by_section[line.section] = by_section.get(line.section, 0) + 1
    taken = sorted(by_section.items()) if guard_capacity else []
    ids = [t["ticket_id"] for t in response["tickets"]]
    params: dict[str, Any] = {
        "event": order.event_id,
        "venue": order.venue_id,
        "n": len(ids),
        "ids": ids,
    }
    for i, (section, n) in enumerate(taken):
        params[f"sec{i}"] = section
        params[f"n{i}"] = n
    stmt = sa.text(_hot_sql(len(taken), idem is not None))
    if idem is not None:
        params.update(scope=idem[0], key=idem[1], resp=response)
        stmt = stmt.bindparams(sa.bindparam("resp", type_=JSONB))
    row = (await conn.execute(stmt, params)).one()
    if row.first is None:
        full = next(s for i, (s, _) in enumerate(taken) if not row[i + 1])
        raise SeatsUnavailable("Not enough places left in this section", section=full)
    for k, ticket in enumerate(response["tickets"]):
        ticket["number"] = int(row.first) + k
