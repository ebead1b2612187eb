"""The waiting room's websocket messages: each TypedDict and builder in
onsale/queue/messages.py against the shapes /openapi.json publishes
(openapi_schemas.WEBSOCKETS), and the push's fast builders against the
reference ones.

Before issue 12 the first message was built in queue/ws.py, the tick's in
queue/fanout.py as f-strings, admitted/closed in queue/service.py, and no
TypedDict described any of them.
"""

from __future__ import annotations

import json
from typing import Any, get_type_hints

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from onsale.openapi_schemas import WEBSOCKETS
from onsale.queue import messages
from onsale.queue.policy import FanStatus

SCHEMAS: dict[str, Any] = WEBSOCKETS["/ws/events/{event_id}/queue"]["messages"]
TYPED = {
    "status": messages.StatusMessage,
    "admitted": messages.AdmittedMessage,
    "closed": messages.ClosedMessage,
}
# The status poll's own fields that a status message never carries ("reason"
# belongs to a closed standing, which goes out as a "closed" message).
POLL_ONLY = {"reason"}


def _check(kind: str, text: str) -> dict[str, Any]:
    message = json.loads(text)
    jsonschema.validate(message, SCHEMAS[kind])
    assert set(message) <= set(SCHEMAS[kind]["properties"]), set(message)
    return message


def test_one_typeddict_per_message_with_the_published_fields() -> None:
    assert set(TYPED) == set(SCHEMAS)
    for kind, typed in TYPED.items():
        fields = set(get_type_hints(typed)) - (POLL_ONLY if kind == "status" else set())
        assert fields == set(SCHEMAS[kind]["properties"]), kind
        assert typed.__required_keys__ == set(SCHEMAS[kind]["required"]), kind


def test_the_last_messages_match_their_schemas() -> None:
    admitted = _check("admitted", messages.encode(messages.admitted("tok", "2026-01-01T00:00:00Z")))
    assert admitted["type"] == "admitted"
    for reason in SCHEMAS["closed"]["properties"]["reason"]["enum"]:
        assert _check("closed", messages.encode(messages.closed(reason)))["reason"] == reason
    assert json.loads(messages.CLOSED_SOLD_OUT) == {"type": "closed", "reason": "sold_out"}
    assert json.loads(messages.CLOSED_LOST) == {"type": "closed", "reason": "lost"}


def test_the_first_status_matches_its_schema() -> None:
    waiting = FanStatus(
        "waiting",
        position=3,
        ahead=2,
        eta_seconds=4,
        eta_p90_seconds=6,
        number=13,
        likely_sold_out=False,
        next_release_seconds=30,
    )
    first = _check("status", messages.encode(messages.status(waiting, ts=5)))
    assert first["all_held"] is True and first["number"] == 13 and first["ts"] == 5
    assert list(first)[:2] == ["type", "state"]
    _check("status", messages.encode(messages.status(FanStatus("prequeue"))))


@given(
    number=st.integers(1, 10**9),
    position=st.integers(1, 10**9),
    eta=st.integers(0, 10**7),
    p90=st.integers(0, 10**7),
    soon=st.booleans(),
    wait=st.integers(0, 3600),
    ts=st.integers(0, 2**53),
)
def test_the_fast_tick_messages_are_the_reference_ones(
    number: int, position: int, eta: int, p90: int, soon: bool, wait: int, ts: int
) -> None:
    figures = dict(
        number=number,
        position=position,
        eta=eta,
        p90=p90,
        likely_sold_out=soon,
        release_wait=wait,
        ts=ts,
    )
    fast = messages.waiting_text(**figures)  # type: ignore[arg-type]
    assert fast == messages.encode(messages.waiting(**figures))  # type: ignore[arg-type]
    _check("status", fast)
    prequeue = messages.prequeue_text(ts)
    assert prequeue == messages.encode(messages.prequeue(ts))
    _check("status", prequeue)
