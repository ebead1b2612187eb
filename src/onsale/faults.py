"""Named points where tests inject a crash (a test-only switch).

Production code calls :func:`check` at the places where a process could die
between two writes; a test arms one point, and the call raises there exactly as
a killed process would stop, so that recovery can be shown to work.
"""

from __future__ import annotations

_armed: set[str] = set()

AFTER_ORDER_COMMIT = "after_order_commit"  # between checkout steps 3 and 4
AFTER_AUTHORIZE = "after_authorize"  # between checkout steps 2 and 3


class InjectedCrash(Exception):
    """Raised at an armed fault point."""


def arm(point: str) -> None:
    _armed.add(point)


def disarm(point: str) -> None:
    _armed.discard(point)


def check(point: str) -> None:
    if point in _armed:
        raise InjectedCrash(point)
