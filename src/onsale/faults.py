"""Named points where tests inject a crash.

Production code calls :meth:`Faults.check` at the places where a process could
die between two writes; a test arms one point on the service it drives (its
``faults`` argument), and the call raises there exactly as a killed process
would stop, so that recovery can be shown to work. Nothing is armed unless a
test arms it, and arming one service's points touches no other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AFTER_ORDER_COMMIT = "after_order_commit"  # between checkout steps 3 and 4
AFTER_AUTHORIZE = "after_authorize"  # between checkout steps 2 and 3


class InjectedCrash(Exception):
    """Raised at an armed fault point."""


@dataclass
class Faults:
    armed: set[str] = field(default_factory=set)

    def arm(self, point: str) -> None:
        self.armed.add(point)

    def disarm(self, point: str) -> None:
        self.armed.discard(point)

    def check(self, point: str) -> None:
        if point in self.armed:
            raise InjectedCrash(point)
