"""bench_checkout.py's ceiling: the minimum durable work any correct checkout
must do, as a bare asyncpg program. One transaction per checkout: the order
row, its ticket row, the idempotency row, then the capacity-guarded counter
(``UPDATE ... SET sold = sold + n WHERE ... AND sold + n <= capacity``, last,
so its row lock is held the shortest time). Statements are prepared once per
connection (asyncpg's statement cache); a pool as large as the lanes.

    python loadtests/checkout_ceiling.py DSN COUNT CONCURRENCY   # one process

Prints ``{"ready": COUNT}`` once its pool is open, waits for a line on
stdin, then one JSON line: latencies of the committed transactions, refusals and
its own CPU seconds. ``prepare(dsn)`` creates the tables (bench_checkout.py
calls it once, in its own database so its transaction counters stand apart).
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time

import asyncpg
import uvloop

SECTION = "FLOOR"
CAPACITY = 100_000_000

TABLES = """
CREATE TABLE IF NOT EXISTS bare_sections (
    event_id text NOT NULL, code text NOT NULL, capacity int NOT NULL, sold int NOT NULL,
    PRIMARY KEY (event_id, code));
CREATE TABLE IF NOT EXISTS bare_orders (
    id text PRIMARY KEY, event_id text NOT NULL, status text NOT NULL,
    buyer_email text NOT NULL, buyer_name text NOT NULL, total_cents int NOT NULL,
    currency text NOT NULL, hold_id text UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bare_tickets (
    id text PRIMARY KEY, order_id text NOT NULL REFERENCES bare_orders(id),
    event_id text NOT NULL, section text NOT NULL, seat text, price_cents int NOT NULL,
    code text NOT NULL, status text NOT NULL);
CREATE INDEX IF NOT EXISTS bare_tickets_order ON bare_tickets(order_id);
CREATE TABLE IF NOT EXISTS bare_idempotency (
    scope text NOT NULL, key text NOT NULL, status_code int, response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key));
"""

ORDER = (
    "INSERT INTO bare_orders (id, event_id, status, buyer_email, buyer_name, total_cents,"
    " currency, hold_id) VALUES ($1, 'ev', 'paid', $2, 'Fan', 5000, 'EUR', $3)"
)
TICKET = (
    "INSERT INTO bare_tickets (id, order_id, event_id, section, seat, price_cents, code, status)"
    " VALUES ($1, $2, 'ev', $3, NULL, 5000, $4, 'live')"
)
IDEM = "INSERT INTO bare_idempotency (scope, key, status_code, response) VALUES ($1, $2, 201, $3)"
GUARD = (
    "UPDATE bare_sections SET sold = sold + $2 WHERE event_id = 'ev' AND code = $1"
    " AND sold + $2 <= capacity RETURNING sold"
)


async def prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(TABLES)
        await conn.execute(
            "INSERT INTO bare_sections VALUES ('ev', $1, $2, 0) ON CONFLICT DO NOTHING",
            SECTION,
            CAPACITY,
        )
    finally:
        await conn.close()


async def checkout(conn: asyncpg.Connection) -> bool:
    """One checkout's durable work; False when the section is full."""
    order_id = f"ord_{secrets.token_hex(8)}"
    response = json.dumps({"order_id": order_id, "status": "paid"})
    async with conn.transaction():
        await conn.execute(ORDER, order_id, "fan@example.org", f"hold_{secrets.token_hex(8)}")
        await conn.execute(TICKET, f"tkt_{secrets.token_hex(8)}", order_id, SECTION, "code")
        await conn.execute(IDEM, f"checkout:{order_id}", secrets.token_hex(8), response)
        if await conn.fetchval(GUARD, SECTION, 1) is None:
            raise LookupError("full")
    return True


async def run(dsn: str, count: int, concurrency: int) -> dict[str, object]:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    # as the client processes do: ready, then wait for the measured start
    print(json.dumps({"ready": count}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    latencies: list[float] = []
    refused = 0
    left = iter(range(count))

    async def lane() -> None:
        nonlocal refused
        async with pool.acquire() as conn:
            for _ in left:  # the lanes share one iterator
                t0 = time.perf_counter()
                try:
                    await checkout(conn)
                except LookupError:
                    refused += 1
                    continue
                latencies.append(time.perf_counter() - t0)

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    await pool.close()
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"latencies": latencies, "statuses": {"201": len(latencies), "409": refused}, "cpu": cpu}


def main() -> int:
    dsn, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4:] == ["--prepare"]:
        uvloop.run(prepare(dsn))
        return 0
    print(json.dumps(uvloop.run(run(dsn, count, concurrency))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
