"""The venue routes' one door: the key check and the role check together.

Every venue route starts with ``caller = await require(request, Action.X)``:
the key must work (401 otherwise), its venue must not be suspended by the
platform (403), and its role must be allowed ``X`` by ``roles.ALLOWED`` (403
``forbidden``). No process keeps a key or a role in memory, so a revoked
staff key is refused by every process on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request

from onsale.admin.key_policy import StoredKey
from onsale.admin.key_service import KeyService
from onsale.admin.roles import Action, may
from onsale.audit import Actor
from onsale.errors import Forbidden, Unauthorized
from onsale.http import runtime_of, same_secret, token_of
from onsale.tickets.door import Scanner


@dataclass(frozen=True)
class Caller:
    key: StoredKey
    actor: Actor

    @property
    def venue_id(self) -> str:
        return self.key.venue_id

    @property
    def role(self) -> str:
        return self.key.role


def client_address(request: HTTPConnection) -> str | None:
    """The client's address as the server's proxy settings resolved it
    (``ONSALE_FORWARDED_ALLOW_IPS``: only trusted proxies' X-Forwarded-For)."""
    return request.client.host if request.client else None


def actor_of(key: StoredKey, address: str | None) -> Actor:
    """Who a key is in the audit log: the staff member, or the key itself."""
    label = f"staff:{key.staff_id}" if key.staff_id else f"key:{key.key_id}"
    return Actor(label, key.role, address)


async def require(request: Request, action: Action) -> Caller:
    """The caller, if its key works and its role may take ``action``.

    Raises Unauthorized (no key, unknown, revoked; TokenExpired past a
    rotation's grace) and Forbidden (a suspended venue, a role that may not).
    """
    token = token_of(request)
    if token is None:
        raise Unauthorized("A venue API key is required")
    key = await runtime_of(request).venues.keys.authenticate(token)
    if key.venue_suspended:
        raise Forbidden("This venue is suspended by the platform operator")
    if not may(key.role, action):
        raise Forbidden(f"The {key.role} role may not do this", action=action.value)
    return Caller(key, actor_of(key, client_address(request)))


def require_platform(request: Request) -> Actor:
    """The platform operator (``ONSALE_ADMIN_TOKEN``). Raises Unauthorized."""
    rt = runtime_of(request)
    if not same_secret(token_of(request), rt.settings.admin_token.reveal()):
        raise Unauthorized("The platform token is required")
    return Actor("platform", None, client_address(request))


async def staff_scanner(keys: KeyService, token: str) -> Scanner:
    """A staff key as a door scanner (``tickets.door.DoorService.staff``):
    the roles that may scan (door, manager) scan every event of their venue.
    Raises Unauthorized, Forbidden (a suspended venue, a role that may not)."""
    key = await keys.authenticate(token)
    if key.venue_suspended:
        raise Forbidden("This venue is suspended by the platform operator")
    if not may(key.role, Action.SCAN):
        raise Forbidden(f"The {key.role} role may not scan tickets", action=Action.SCAN.value)
    return Scanner(key.venue_id, None, f"key:{key.key_id}")
