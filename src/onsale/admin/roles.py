"""Who may do what: the staff roles and the one table of actions they may
take (API.md, "Staff and the buyers' data"). Pure: no I/O.

Every venue route names one :class:`Action`; ``admin.access.require`` looks
the caller's role up in :data:`ALLOWED` next to the key check. A route added
later (the payment account, door keys, the scan, a resend) adds one line
naming its action here, never a role test of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from onsale.errors import ValidationFailed


class Role(StrEnum):
    MANAGER = "manager"
    BOXOFFICE = "boxoffice"
    DOOR = "door"
    VIEWER = "viewer"


class Action(StrEnum):
    WHO_AM_I = "who_am_i"  # GET /api/admin/me: every role may ask
    READ = "read"  # events, their stats and their orders (JSON)
    EVENT_WRITE = "event_write"  # create or change an event
    BOXOFFICE = "boxoffice"  # sell at the counter
    REFUND = "refund"
    EXPORT = "export"  # the orders as CSV, the opted-in contacts
    STAFF = "staff"  # create, list, revoke staff
    KEYS = "keys"  # rotate, list, revoke the venue's keys
    AUDIT = "audit"  # read the audit log
    BUYERS = "buyers"  # a buyer's data: export, erase
    SETTINGS = "settings"  # consent wording, privacy notice
    PAYMENT_ACCOUNT = "payment_account"  # PUT/GET /api/admin/payment-account
    DOOR_KEYS = "door_keys"  # POST /api/admin/events/{id}/door-keys
    SCAN = "scan"  # POST /api/door/scan (a door-role staff key: every event of its venue)
    RESEND_EMAIL = "resend_email"  # POST /api/admin/orders/{id}/resend


_ALL = frozenset(Role)
_MANAGER = frozenset({Role.MANAGER})

# The one table. The manager does everything; the others only what their job
# needs: the viewer reads, the door scans, the box office sells (and reads the
# events it sells, and sends a buyer their tickets again at the counter).
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.WHO_AM_I: _ALL,
    Action.READ: frozenset({Role.MANAGER, Role.BOXOFFICE, Role.VIEWER}),
    Action.EVENT_WRITE: _MANAGER,
    Action.BOXOFFICE: frozenset({Role.MANAGER, Role.BOXOFFICE}),
    Action.REFUND: _MANAGER,
    Action.EXPORT: _MANAGER,
    Action.STAFF: _MANAGER,
    Action.KEYS: _MANAGER,
    Action.AUDIT: _MANAGER,
    Action.BUYERS: _MANAGER,
    Action.SETTINGS: _MANAGER,
    Action.PAYMENT_ACCOUNT: _MANAGER,
    Action.DOOR_KEYS: _MANAGER,
    Action.SCAN: frozenset({Role.MANAGER, Role.DOOR}),
    Action.RESEND_EMAIL: frozenset({Role.MANAGER, Role.BOXOFFICE}),
}


def may(role: str, action: Action) -> bool:
    """Whether ``role`` may take ``action`` (an unknown role may do nothing)."""
    return role in ALLOWED[action]


def actions_of(role: str) -> list[str]:
    """The actions a role may take, for the page to show only those."""
    return sorted(a.value for a in Action if may(role, a))


def parse_staff(body: Any) -> tuple[str, Role]:
    """(e-mail, role) of ``{"email", "role"}``. Raises ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed(fields={"": "an object is required"})
    errors: dict[str, str] = {}
    unknown = sorted(set(body) - {"email", "role"})
    errors.update({k: "unknown field" for k in unknown})
    email = body.get("email")
    if (
        not isinstance(email, str)
        or not 3 <= len(email.strip()) <= 254
        or "@" not in email
        or any(c.isspace() for c in email.strip())
    ):
        errors["email"] = "an e-mail address is required"
    role = body.get("role")
    if role not in {r.value for r in Role}:
        errors["role"] = f"one of {', '.join(r.value for r in Role)}"
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    assert isinstance(email, str) and isinstance(role, str)
    return email.strip(), Role(role)
