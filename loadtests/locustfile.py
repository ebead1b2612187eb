"""Locust suites of a hot on-sale, against any onsale URL (`--host`).

(Over 450 lines: Locust loads the user classes from this one file; what they
share that is not Locust's own (the record, the verdict's checks, the event
body) already lives in run_sellout.py and scenario.py.)

    locust -f loadtests/locustfile.py Fan --headless -u 300 -r 50 -t 60s --host URL
    locust -f loadtests/locustfile.py BoxOffice ...     # staff selling at the counter
    locust -f loadtests/locustfile.py Browser ...       # the read traffic of an on-sale
    locust -f loadtests/locustfile.py Intruder ...      # sockets with no or forged tokens

`loadtests/run_sellout.py` starts a server, creates the event, runs these and
checks the verdict; run them by hand (or distributed: `--master` / `--worker`)
with these variables:

| variable | meaning |
| --- | --- |
| ONSALE_LT_EVENT | the event id (required) |
| ONSALE_LT_VENUE_KEY | the venue's API key (BoxOffice) |
| ONSALE_LT_RECORD | a folder: each process appends what fans were told to its own JSONL file |
| ONSALE_LT_ABANDON_QUEUE, ..._HOLD | shares of fans who leave the queue, or a hold (0.05, 0.1) |
| ONSALE_LT_LEAVE_SHOP | share of admitted fans who look and leave without a word (0.1) |
| ONSALE_LT_DECLINE | share who try a declined card first (0.1) |
| ONSALE_LT_DOUBLE | share who submit their checkout twice with one key (0.1) |
| ONSALE_LT_DOUBLE_CLICK | share who click "pay" twice at once, each click its own key (0.05) |
| ONSALE_LT_RELOAD | share who reload the page mid-queue (0.1) |
| ONSALE_LT_PERSIST | 1: fans ride out outages (chaos.py): retry a 503 or a lost connection |
| ONSALE_LT_REQUESTS | 1: every request also goes to the record (name, status, error) |
| ONSALE_LT_INTRUDER_KNOCKS | sockets the Intruder opens without a guarded join (24) |
| ONSALE_METRICS_TOKEN | read /metrics with it (the longest stall, at the end) |

Request types of their own in Locust's statistics: WS "queue wait" (join to
admission), POST "hold", POST "checkout", and the verdict events.

An admitted fan's page says it is there (POST "presence") once when the seat
map shows; the leavers (ONSALE_LT_LEAVE_SHOP) then close the tab: admission
parks them after the event's shopper grace. At the end of the run the
server's longest queue stall is written to the record ("stall") and printed.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gevent
import websocket
from locust import FastHttpUser, User, between, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner

from scenario import server_longest_stall

EVENT = os.environ.get("ONSALE_LT_EVENT", "")
VENUE_KEY = os.environ.get("ONSALE_LT_VENUE_KEY", "")
RECORD_DIR = os.environ.get("ONSALE_LT_RECORD", "")
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
QUEUE_TIMEOUT = float(os.environ.get("ONSALE_LT_QUEUE_TIMEOUT", "120"))
PERSIST = os.environ.get("ONSALE_LT_PERSIST") == "1"
LOG_REQUESTS = os.environ.get("ONSALE_LT_REQUESTS") == "1"
# A persistent fan tries again for this long (a Postgres outage lasts ~10 s).
RETRY_SECONDS = 20.0
CLOSE_BAD_TOKEN = 4401


def _share(name: str, default: float) -> float:
    return float(os.environ.get(f"ONSALE_LT_{name}", default))


SHARES = {
    "abandon_queue": _share("ABANDON_QUEUE", 0.05),
    "abandon_hold": _share("ABANDON_HOLD", 0.1),
    "decline": _share("DECLINE", 0.1),
    "double": _share("DOUBLE", 0.1),
    "double_click": _share("DOUBLE_CLICK", 0.05),
    "reload": _share("RELOAD", 0.1),
    "leave_shop": _share("LEAVE_SHOP", 0.1),
}


class Record:
    """What fans were told, one JSON line each, in this process' own file."""

    def __init__(self, folder: str) -> None:
        self.path = Path(folder) / f"record-{os.getpid()}.jsonl" if folder else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, **fields: Any) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")


RECORD = Record(RECORD_DIR)


def _fire(
    environment: Any,
    request_type: str,
    name: str,
    started: float,
    exception: BaseException | None = None,
    fan: str = "",
) -> None:
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=(time.time() - started) * 1000,
        response_length=0,
        exception=exception,
        context={"fan": fan} if fan else {},
    )


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error_code(r: Any) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def _retryable(r: Any) -> bool:
    """An answer a persistent fan tries again: the service said "unavailable"
    (503), or the connection broke (status 0, e.g. its process was killed)."""
    return PERSIST and r.status_code in (0, 502, 503, 504)


class _WsClosed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"websocket closed with code {code}")
        self.code = code


class _NotAdmitted(Exception):
    """QUEUE_TIMEOUT passed while waiting (not an OSError, unlike TimeoutError)."""


def _receive(ws: websocket.WebSocket) -> dict[str, Any]:
    """The next JSON message; a close frame raises _WsClosed with its code."""
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        raise _WsClosed(int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005)
    message: dict[str, Any] = json.loads(data)
    return message


class Fan(FastHttpUser):
    """A fan: joins, waits on the websocket, holds, pays. Each task run is a
    new fan; some leave, reload, fail a card or double-click, by share."""

    weight = 10
    wait_time = between(0.1, 1.0)
    fan_id = ""

    def context(self) -> dict[str, Any]:
        return {"fan": self.fan_id}

    def _join(self, token: str | None = None) -> dict[str, Any] | None:
        deadline = time.time() + RETRY_SECONDS
        while True:
            body, again = self._join_once(token)
            if not again or time.time() > deadline:
                return body
            time.sleep(random.uniform(0.3, 1.0))

    def _join_once(self, token: str | None) -> tuple[dict[str, Any] | None, bool]:
        with self.client.post(
            f"/api/events/{EVENT}/queue",
            headers=_auth(token) if token else {},
            name="join",
            catch_response=True,
        ) as r:
            if r.status_code in (200, 201):
                body: dict[str, Any] = r.json()
                return body, False
            if r.status_code == 409 and "sold_out" in r.text:
                r.success()
                RECORD.write("sold_out_at_join")
                raise StopUser()
            r.failure(f"join {r.status_code}")
            return None, _retryable(r)

    def _ws_url(self, token: str) -> str:
        base = (self.host or "").replace("http://", "ws://").replace("https://", "wss://")
        return f"{base}/ws/events/{EVENT}/queue?token={token}"

    def _wait(self, fan: dict[str, Any]) -> str | None:
        """The access token once admitted, None if the fan left or sold out.

        A persistent fan whose socket breaks reconnects with the same queue
        token until QUEUE_TIMEOUT; its place must survive that (no position
        larger than one it was told, never its own token refused).
        """
        started = time.time()
        token = fan["queue_token"]
        seen: dict[str, int | None] = {"position": None}
        while True:
            try:
                return self._listen(fan, token, started, seen)
            except _NotAdmitted:
                break
            except _WsClosed as exc:
                _fire(self.environment, "WS", "queue wait", started, exc, self.fan_id)
                if exc.code == CLOSE_BAD_TOKEN:
                    RECORD.write("token_refused", entry=fan["entry_id"], fan=self.fan_id)
                    return None
                if not PERSIST:
                    return None
            except (websocket.WebSocketException, OSError, ValueError) as exc:
                _fire(self.environment, "WS", "queue wait", started, exc, self.fan_id)
                if not PERSIST:
                    return None
            if time.time() - started >= QUEUE_TIMEOUT:
                break
            RECORD.write("ws_reconnect", entry=fan["entry_id"], fan=self.fan_id)
            time.sleep(random.uniform(0.3, 1.0))
        _fire(
            self.environment, "WS", "queue wait", started, TimeoutError("not admitted"), self.fan_id
        )
        RECORD.write("gave_up", entry=fan["entry_id"], fan=self.fan_id)
        return None

    def _listen(
        self, fan: dict[str, Any], token: str, started: float, seen: dict[str, int | None]
    ) -> str | None:
        """One websocket connection, until admitted, closed, left or timed out."""
        reload_at = started + random.uniform(0.5, 3) if random.random() < SHARES["reload"] else 0
        ws = websocket.create_connection(self._ws_url(token), timeout=QUEUE_TIMEOUT)
        try:
            while time.time() - started < QUEUE_TIMEOUT:
                message = _receive(ws)
                if message["type"] == "admitted":
                    _fire(self.environment, "WS", "queue wait", started)
                    RECORD.write("admitted", entry=fan["entry_id"], fan=self.fan_id)
                    return str(message["access_token"])
                if message["type"] == "closed":
                    RECORD.write("closed", reason=message.get("reason"), entry=fan["entry_id"])
                    _fire(self.environment, "WS", "queue closed", started)
                    return None
                position = message.get("position")
                last_position = seen["position"]
                if last_position is not None and position is not None and position > last_position:
                    RECORD.write(
                        "place_lost", entry=fan["entry_id"], before=last_position, after=position
                    )
                seen["position"] = position if position is not None else last_position
                if reload_at and time.time() > reload_at:
                    reload_at = 0
                    ws.close()  # the page reloads: same token, same place
                    ws = websocket.create_connection(self._ws_url(token), timeout=QUEUE_TIMEOUT)
                if random.random() < SHARES["abandon_queue"] / 20:
                    RECORD.write("left_queue", entry=fan["entry_id"])
                    return None
        finally:
            ws.close()
        raise _NotAdmitted

    def _presence(self, access: str) -> None:
        with self.client.post(
            f"/api/events/{EVENT}/presence",
            headers=_auth(access),
            name="presence",
            catch_response=True,
        ) as r:
            if r.status_code == 204 or _retryable(r):
                r.success()  # a lost beat is made up by the next one
            else:
                r.failure(f"presence {r.status_code}")

    def _choose(self) -> dict[str, Any]:
        kind = random.random()
        if kind < 0.4:
            r = self.client.get(f"/api/events/{EVENT}/seats", name="seat map")
            seats = r.json()["seats"] if r.status_code == 200 else []  # outage: any seat
            free = [s["id"] for s in seats if s["state"] == "free"]
            if free:
                return {"seats": random.sample(free, k=min(len(free), random.choice((1, 2))))}
        if kind < 0.7:
            return {"section": "BALC", "quantity": random.choice((1, 2, 3)), "best_available": True}
        return {"section": "FLOOR", "quantity": random.choice((1, 2, 4))}

    def _hold(self, access: str) -> dict[str, Any] | None:
        deadline = time.time() + RETRY_SECONDS
        while True:
            hold, again = self._hold_once(access)
            if not again or time.time() > deadline:
                return hold
            time.sleep(random.uniform(0.3, 1.0))

    def _hold_once(self, access: str) -> tuple[dict[str, Any] | None, bool]:
        with self.client.post(
            f"/api/events/{EVENT}/holds",
            json=self._choose(),
            headers=_auth(access),
            name="hold",
            catch_response=True,
        ) as r:
            if r.status_code == 201:
                hold: dict[str, Any] = r.json()
                return hold, False
            if r.status_code == 409:
                r.success()  # someone was faster: a normal answer in a sell-out
                return None, False
            r.failure(f"hold {r.status_code}: {(r.text or '')[:100]}")
            return None, _retryable(r)

    def _pay(self, access: str, hold: dict[str, Any], card: str, key: str) -> Any:
        body = {
            "buyer": {"email": f"fan-{uuid.uuid4().hex[:10]}@example.org", "name": "Fan"},
            "payment": {"provider": "test", "card_number": card},
        }
        return self.client.post(
            f"/api/holds/{hold['hold_id']}/checkout",
            json=body,
            headers={**_auth(access), "Idempotency-Key": key},
            name="checkout",
            catch_response=True,
        )

    def _checkout(self, access: str, hold: dict[str, Any]) -> None:
        if random.random() < SHARES["decline"]:
            with self._pay(access, hold, DECLINED_CARD, str(uuid.uuid4())) as r:
                if r.status_code == 402:
                    r.success()
                else:
                    r.failure(f"declined card answered {r.status_code}")
        if random.random() < SHARES["double_click"]:
            self._double_click(access, hold)
            return
        key = str(uuid.uuid4())
        if random.random() < SHARES["double"]:
            jobs = [gevent.spawn(self._checkout_once, access, hold, key) for _ in range(2)]
            gevent.joinall(jobs)
            orders = {j.value for j in jobs if j.value}
            if len(orders) > 1:
                RECORD.write("double_order", orders=sorted(orders))
            return
        self._checkout_once(access, hold, key)

    def _double_click(self, access: str, hold: dict[str, Any]) -> None:
        """Two checkouts of one hold at once, each with its own key (a page
        that makes a key per click): one order, the other a 409, never a 5xx.
        Each 409 is a "double_click_409" line, counted in the verdicts' report."""
        keys = (str(uuid.uuid4()), str(uuid.uuid4()))
        jobs = [gevent.spawn(self._click, access, hold, key) for key in keys]
        gevent.joinall(jobs)
        orders = {j.value for j in jobs if j.value}
        if len(orders) > 1:  # a violation in the verdicts (check_record)
            RECORD.write("double_order", orders=sorted(orders))

    def _click(self, access: str, hold: dict[str, Any], key: str) -> str | None:
        with self._pay(access, hold, GOOD_CARD, key) as r:
            if r.status_code in (200, 201):
                return self._paid(r.json(), r.status_code, hold)
            if r.status_code == 409:
                r.success()  # the other click is paying, or has paid
                RECORD.write("double_click_409", code=_error_code(r), hold_id=hold["hold_id"])
                return None
            r.failure(f"checkout {r.status_code}: {(r.text or '')[:100]}")
            return None

    def _paid(self, order: dict[str, Any], status: int, hold: dict[str, Any]) -> str:
        RECORD.write(
            "paid",
            order_id=order["order_id"],
            status=status,
            seats=[t["seat"] for t in order["tickets"]],
            quantity=len(order["tickets"]),
            hold_id=hold["hold_id"],
        )
        return str(order["order_id"])

    def _checkout_once(self, access: str, hold: dict[str, Any], key: str) -> str | None:
        """The order id; a persistent fan retries with the same key (same order)."""
        deadline = time.time() + RETRY_SECONDS
        while True:
            order, again = self._checkout_attempt(access, hold, key)
            if not again or time.time() > deadline:
                return order
            time.sleep(random.uniform(0.3, 1.0))

    def _checkout_attempt(
        self, access: str, hold: dict[str, Any], key: str
    ) -> tuple[str | None, bool]:
        with self._pay(access, hold, GOOD_CARD, key) as r:
            if r.status_code in (200, 201):
                return self._paid(r.json(), r.status_code, hold), False
            if r.status_code == 409:
                r.success()  # hold expired, limit, or the twin request still running
                return None, False
            r.failure(f"checkout {r.status_code}: {(r.text or '')[:100]}")
            return None, _retryable(r)

    @task
    def buy(self) -> None:
        self.fan_id = uuid.uuid4().hex[:12]
        fan = self._join()
        if fan is None:
            return
        RECORD.write("joined", entry=fan["entry_id"], fan=self.fan_id)
        access = self._wait(fan)
        if access is None:
            return
        self._presence(access)  # the seat map is on the fan's screen
        if random.random() < SHARES["leave_shop"]:
            RECORD.write("left_shop", entry=fan["entry_id"], fan=self.fan_id)
            return  # the tab closes: no release, no word
        hold = self._hold(access)
        if hold is None:
            return
        if random.random() < SHARES["abandon_hold"]:
            RECORD.write("left_hold", hold_id=hold["hold_id"])
            return
        self._checkout(access, hold)


class BoxOffice(FastHttpUser):
    """Venue staff selling at the counter during the online sale (one desk)."""

    fixed_count = 1
    wait_time = between(2, 5)

    @task
    def sell(self) -> None:
        body = {
            "section": "FLOOR",
            "quantity": random.choice((1, 2)),
            "buyer": {"email": "counter@example.org", "name": "Walk-in"},
            "payment": {"provider": "cash"},
        }
        with self.client.post(
            f"/api/admin/events/{EVENT}/boxoffice",
            json=body,
            headers=_auth(VENUE_KEY),
            name="boxoffice",
            catch_response=True,
        ) as r:
            if r.status_code == 201:
                order = r.json()
                RECORD.write(
                    "paid",
                    order_id=order["order_id"],
                    status=201,
                    boxoffice=True,
                    seats=[t["seat"] for t in order["tickets"]],
                    quantity=len(order["tickets"]),
                )
            elif r.status_code == 409:
                r.success()
            else:
                r.failure(f"boxoffice {r.status_code}: {(r.text or '')[:100]}")


class Browser(FastHttpUser):
    """The read traffic of a hot on-sale: event page, availability, seat map."""

    wait_time = between(0.2, 1.0)

    @task(3)
    def event_page(self) -> None:
        self.client.get(f"/api/events/{EVENT}", name="event")

    @task(1)
    def seat_map(self) -> None:
        self.client.get(f"/api/events/{EVENT}/seats", name="seat map")


# ---- the intruder: the websocket door without a guarded join (I8) ----------

INTRUDER_KNOCKS = int(os.environ.get("ONSALE_LT_INTRUDER_KNOCKS", "24"))
INTRUDER_LISTEN_SECONDS = 2.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _forged_token() -> str:
    """A queue token in the right format for this event, not signed by the server."""
    claims = {"k": "q", "e": EVENT, "s": f"q_{uuid.uuid4().hex[:16]}-1", "x": 2**31 - 1}
    return f"{_b64(json.dumps(claims).encode())}.{_b64(os.urandom(32))}"


# What the intruder knocks with, in turn: none of it comes from a join.
INTRUDER_TOKENS: dict[str, Any] = {
    "no_token": lambda: None,
    "empty_token": lambda: "",
    "garbage_token": lambda: uuid.uuid4().hex,
    "forged_token": _forged_token,
}


def knock_once(host: str, token: str | None) -> tuple[str, str]:
    """Open the queue socket with ``token`` (None: no token parameter) and
    read its first frame: ("refused", "4401") is the right answer; "got_in"
    (with the message's type) means the socket let it in; "closed_other",
    "no_answer", "unreached" or "lost" are outages, not admissions."""
    base = host.replace("http://", "ws://").replace("https://", "wss://")
    url = f"{base}/ws/events/{EVENT}/queue"
    if token is not None:
        url += f"?token={quote(token)}"
    try:
        ws = websocket.create_connection(url, timeout=INTRUDER_LISTEN_SECONDS)
    except (websocket.WebSocketException, OSError) as exc:
        return "unreached", type(exc).__name__
    try:
        message = _receive(ws)
    except _WsClosed as exc:
        return ("refused" if exc.code == CLOSE_BAD_TOKEN else "closed_other"), str(exc.code)
    except websocket.WebSocketTimeoutException:
        return "no_answer", ""
    except (websocket.WebSocketException, OSError, ValueError) as exc:
        return "lost", type(exc).__name__
    finally:
        ws.close()
    return "got_in", str(message.get("type"))


class Intruder(User):
    """A bot at the websocket door during the sale: sockets with no queue
    token, an empty one, garbage, a forged one; it never joins over HTTP, so
    each must be closed with 4401 and told nothing. Each knock goes to the
    record ("intruder"); the verdict fails if one got in. Bounded:
    ONSALE_LT_INTRUDER_KNOCKS sockets in all, one at a time, then it idles."""

    fixed_count = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.knocks = 0

    @task
    def try_the_socket(self) -> None:
        if self.knocks >= INTRUDER_KNOCKS:
            gevent.sleep(5)
            return
        kinds = list(INTRUDER_TOKENS)
        attempt = kinds[self.knocks % len(kinds)]
        self.knocks += 1
        outcome, detail = knock_once(self.host or "", INTRUDER_TOKENS[attempt]())
        RECORD.write("intruder", attempt=attempt, outcome=outcome, detail=detail)


@events.request.add_listener
def _log_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None = None,
    context: dict[str, Any] | None = None,
    response: Any = None,
    **_: Any,
) -> None:
    if not LOG_REQUESTS:
        return
    RECORD.write(
        "request",
        type=request_type,
        name=name,
        ms=round(response_time, 1),
        status=getattr(response, "status_code", 0) if response is not None else None,
        error=None if exception is None else f"{type(exception).__name__}: {exception}"[:200],
        fan=(context or {}).get("fan") or None,
    )


@events.test_stop.add_listener
def _longest_stall(environment: Any, **_: Any) -> None:
    """The server's longest queue stall of the event, once (not per worker)."""
    if isinstance(environment.runner, WorkerRunner) or not environment.host:
        return
    longest = server_longest_stall(
        environment.host, EVENT, os.environ.get("ONSALE_METRICS_TOKEN", "")
    )
    RECORD.write("stall", longest_seconds=longest)
    print(f"longest queue stall: {longest} s", flush=True)


@events.init.add_listener
def _check_config(environment: Any, **_: Any) -> None:
    if not EVENT:
        raise SystemExit("set ONSALE_LT_EVENT to the event id (see the module docstring)")
