"""bench_checkout.py's client process: a lean HTTP/1.1 client (raw asyncio
streams, keep-alive, Content-Length bodies only: what onsale sends) so that
the client is not the limit.

    python loadtests/checkout_client.py     # one JSON job on stdin (see Job)

Phase 1 (not measured): each of its buyers joins the queue, waits to be
admitted and holds one GA place. It prints ``{"ready": n}`` and waits for a
line on stdin. Phase 2 (measured): the held buyers pay, ``concurrency`` at a
time, each over its own kept-alive connection; it prints one JSON line with
the latencies, the statuses and its own CPU seconds over phase 2.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import uvloop

CARD = {"provider": "test", "card_number": "4242424242424242"}
ADMIT_WAIT = 60.0


@dataclass(frozen=True)
class Job:
    url: str  # http://127.0.0.1:port
    event_id: str
    first: int  # this process' buyers: first .. first + count - 1
    count: int
    concurrency: int
    timeout: float = 60.0


class Conn:
    """One kept-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        return await asyncio.wait_for(self._response(self.reader), self.timeout)

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _prepare(conn: Conn, event_id: str) -> tuple[str, str] | None:
    """Join, get admitted, hold one GA place: (access token, hold id)."""
    status, body = await conn.request("POST", f"/api/events/{event_id}/queue")
    if status not in (200, 201):
        return None
    auth = {"Authorization": f"Bearer {body['queue_token']}"}
    deadline = time.monotonic() + ADMIT_WAIT
    token = ""
    while time.monotonic() < deadline:
        status, body = await conn.request("GET", f"/api/events/{event_id}/queue/status", None, auth)
        if status == 200 and body.get("state") == "admitted":
            token = str(body["access_token"])
            break
        await asyncio.sleep(0.3)
    if not token:
        return None
    status, body = await conn.request(
        "POST",
        f"/api/events/{event_id}/holds",
        {"section": "FLOOR", "quantity": 1},
        {"Authorization": f"Bearer {token}"},
    )
    return (token, str(body["hold_id"])) if status == 201 else None


async def _pay(conn: Conn, i: int, token: str, hold_id: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    status, _ = await conn.request(
        "POST",
        f"/api/holds/{hold_id}/checkout",
        {"buyer": {"email": f"fan{i}@example.org", "name": "Fan"}, "payment": CARD},
        {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    return status, time.perf_counter() - t0


async def run(job: Job) -> None:
    host, port = job.url.removeprefix("http://").split(":")
    conns = [Conn(host, int(port), job.timeout) for _ in range(job.concurrency)]
    buyers = list(range(job.first, job.first + job.count))
    held: list[tuple[int, str, str]] = []

    async def prepare_lane(lane: int) -> None:
        for i in buyers[lane :: job.concurrency]:
            got = await _prepare(conns[lane], job.event_id)
            if got:
                held.append((i, *got))

    await asyncio.gather(*(prepare_lane(k) for k in range(job.concurrency)))
    print(json.dumps({"ready": len(held)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    # the server has closed the connections kept idle past its keep-alive
    # timeout meanwhile (uvicorn: 5 s): each lane opens a fresh one
    for c in conns:
        c.close()

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    todo = iter(held)

    async def pay_lane(lane: int) -> None:
        for i, token, hold_id in todo:  # the lanes share one iterator: C at a time
            try:
                status, took = await _pay(conns[lane], i, token, hold_id)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                conns[lane].close()
                status, took = 0, 0.0
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 201:
                latencies.append(took)

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(pay_lane(k) for k in range(job.concurrency)))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    for c in conns:
        c.close()
    print(json.dumps({"latencies": latencies, "statuses": statuses, "cpu": cpu}), flush=True)


def main() -> int:
    job = Job(**json.loads(sys.stdin.readline()))
    uvloop.run(run(job))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
