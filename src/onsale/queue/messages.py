"""Every message of the waiting room's websocket, and the standing a status
poll answers: one ``TypedDict`` per message and one builder each
(``WEBSOCKETS`` in onsale/openapi_schemas.py publishes the same shapes;
tests/unit/test_messages.py checks every builder against them).

The push sends one status per waiting fan per second, so the tick's message
has a fast twin, :func:`waiting_text`, that writes the JSON with an f-string;
it is tested to give exactly ``encode(waiting(...))``.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from onsale.queue.policy import FanStatus

ClosedReason = Literal["sold_out", "away", "session_ended", "lost"]


class _Status(TypedDict):
    # Required keys in a base class of their own: ``Required[...]`` is not
    # seen under ``from __future__ import annotations`` before Python 3.12.
    type: Literal["status"]
    state: str  # prequeue | waiting (admitted/closed have their own messages)


class StatusMessage(_Status, total=False):
    """A fan's standing: the first message on a socket, then every tick."""

    position: int | None
    ahead: int
    eta_seconds: int | None
    eta_p90_seconds: int | None
    likely_sold_out: bool | None
    all_held: bool  # every place left is held ...
    next_release_seconds: int  # ... and the earliest hold ends in this many s
    number: int  # the fan's queue number: it never changes
    reason: str
    ts: int  # Redis' clock at the snapshot (ms): clients measure lag by it


class AdmittedMessage(TypedDict):
    """The last message of a served fan: their access token."""

    type: Literal["admitted"]
    access_token: str
    access_expires_at: str


class ClosedMessage(TypedDict):
    """The last message of a fan who will not be served (or must join again)."""

    type: Literal["closed"]
    reason: str  # a ClosedReason


Message = StatusMessage | AdmittedMessage | ClosedMessage


def encode(message: Message | dict[str, Any]) -> str:
    """The compact JSON text a socket sends."""
    return json.dumps(message, separators=(",", ":"))


def standing(status: FanStatus) -> dict[str, Any]:
    """A fan's standing on the wire (the status poll's body, and a status
    message without its ``type``). ``number`` (waiting or admitted) is the
    fan's queue number: it never changes, not even when Redis lost its data,
    so a client can tell its place was kept."""
    out: dict[str, Any] = {"state": status.state, "position": status.position}
    if status.state == "waiting":
        out.update(
            ahead=status.ahead,
            eta_seconds=status.eta_seconds,
            eta_p90_seconds=status.eta_p90_seconds,
            likely_sold_out=status.likely_sold_out,
        )
        if status.next_release_seconds:
            out.update(all_held=True, next_release_seconds=status.next_release_seconds)
    if status.number is not None and status.state in ("waiting", "admitted"):
        out["number"] = status.number
    if status.reason:
        out["reason"] = status.reason
    return out


def status(fan: FanStatus, ts: int | None = None) -> StatusMessage:
    """The status message of a fan's standing (``ts`` when known)."""
    message = StatusMessage(type="status", state=fan.state)
    message.update(standing(fan))  # type: ignore[typeddict-item]
    if ts is not None:
        message["ts"] = ts
    return message


def waiting(
    *,
    number: int,
    position: int,
    eta: int,
    p90: int,
    likely_sold_out: bool,
    release_wait: int,
    ts: int,
) -> StatusMessage:
    """The tick's message of a waiting fan (the reference of waiting_text)."""
    message = StatusMessage(
        type="status",
        state="waiting",
        number=number,
        position=position,
        ahead=position - 1,
        eta_seconds=eta,
        eta_p90_seconds=p90,
        likely_sold_out=likely_sold_out,
    )
    if release_wait:  # every place left is held: the wait is for a hold to end
        message["all_held"] = True
        message["next_release_seconds"] = release_wait
    message["ts"] = ts
    return message


def waiting_text(
    *,
    number: int,
    position: int,
    eta: int,
    p90: int,
    likely_sold_out: bool,
    release_wait: int,
    ts: int,
) -> str:
    """``encode(waiting(...))``, written directly: one per fan per tick."""
    soon = "true" if likely_sold_out else "false"
    held = ""
    if release_wait:
        held = f'"all_held":true,"next_release_seconds":{release_wait},'
    return (
        f'{{"type":"status","state":"waiting","number":{number},"position":{position},'
        f'"ahead":{position - 1},'
        f'"eta_seconds":{eta},"eta_p90_seconds":{p90},"likely_sold_out":{soon},{held}'
        f'"ts":{ts}}}'
    )


def prequeue(ts: int) -> StatusMessage:
    """The tick's message of a fan in the pre-queue (no number before the draw)."""
    return StatusMessage(type="status", state="prequeue", position=None, ts=ts)


def prequeue_text(ts: int) -> str:
    """``encode(prequeue(ts))``, written directly: one per fan per tick."""
    return f'{{"type":"status","state":"prequeue","position":null,"ts":{ts}}}'


def admitted(access_token: str, access_expires_at: str) -> AdmittedMessage:
    return AdmittedMessage(
        type="admitted", access_token=access_token, access_expires_at=access_expires_at
    )


def closed(reason: ClosedReason | str) -> ClosedMessage:
    return ClosedMessage(type="closed", reason=reason)


# Sent to many fans at once: encoded once.
CLOSED_SOLD_OUT = encode(closed("sold_out"))
CLOSED_LOST = encode(closed("lost"))
