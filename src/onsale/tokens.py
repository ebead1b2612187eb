"""Signed tokens: queue tokens, access tokens and order tokens.

A token is ``base64url(json claims) "." base64url(HMAC-SHA256(key, payload))``.
The claims name their kind, so a queue token can never be used where an access
token is required, and their event, so a token is useless for another event.
Pure code: the clock is an argument.

:class:`Signer` is the one owner of the server's secret: built once from the
settings by the runtime and handed to whoever signs or checks a token (the
queue, checkout, the edges, the join guard). Nothing else unwraps the secret.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from onsale.errors import Forbidden, TokenExpired, Unauthorized

if TYPE_CHECKING:
    from onsale.settings import Secret

Kind = Literal["queue", "access", "order"]
_KIND_CODES: dict[Kind, str] = {"queue": "q", "access": "a", "order": "o"}
_CODE_KINDS: dict[str, Kind] = {v: k for k, v in _KIND_CODES.items()}


@dataclass(frozen=True)
class Claims:
    kind: Kind
    event_id: str
    subject: str  # queue entry id for queue and access tokens, order id for order tokens
    expires_at: int  # unix seconds

    def to_wire(self) -> dict[str, object]:
        return {
            "k": _KIND_CODES[self.kind],
            "e": self.event_id,
            "s": self.subject,
            "x": self.expires_at,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, claims: Claims) -> str:
    payload = _b64(json.dumps(claims.to_wire(), separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def _parse(key: bytes, token: str) -> Claims:
    payload, sep, mac = token.partition(".")
    # A header or query string may carry any character; only ASCII can be ours.
    if not sep or not payload or not token.isascii():
        raise Unauthorized("The token is not valid")
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise Unauthorized("The token is not valid")
    try:
        raw = json.loads(_unb64(payload))
        return Claims(
            kind=_CODE_KINDS[raw["k"]],
            event_id=str(raw["e"]),
            subject=str(raw["s"]),
            expires_at=int(raw["x"]),
        )
    except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only if the format changed
        raise Unauthorized("The token is not valid") from exc


# Tokens whose signature checked out, with their claims: a shopper sends the
# same access token with every request of a session, and the HMAC and JSON of
# a check cost more than the rest of a hold's Python. Only tokens we signed are
# kept (a forged one raises, and exceptions are never cached); kind, event and
# expiry are checked on every use. Bounded: the least recently used go first.
_verified = functools.lru_cache(maxsize=16384)(_parse)


def verify(key: bytes, token: str, *, kind: Kind, event_id: str | None, now: float) -> Claims:
    """Check a token's signature, kind, event and expiry; return its claims.

    Raises Unauthorized (forged or malformed), TokenExpired, or Forbidden (a
    valid token of another kind or for another event).
    """
    claims = _verified(key, token)
    if claims.kind != kind:
        raise Forbidden(f"A {claims.kind} token cannot be used here; a {kind} token is needed")
    if event_id is not None and claims.event_id != event_id:
        raise Forbidden("This token is for another event")
    if now >= claims.expires_at:
        raise TokenExpired()
    return claims


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class Signer:
    """Signs and verifies every token with the server's secret (the
    verification cache above is keyed by it)."""

    def __init__(self, secret: Secret) -> None:
        # The one place the secret is unwrapped (tests/unit/test_layers.py
        # checks no other module calls secret_key.reveal()).
        self._key = secret.reveal().encode()

    def derive(self, purpose: bytes) -> bytes:
        """A key of its own for ``purpose`` (request hashes, join challenges):
        a value made for one purpose never checks as another."""
        return hmac.new(self._key, purpose, hashlib.sha256).digest()

    def sign(self, claims: Claims) -> str:
        return sign(self._key, claims)

    def verify(self, token: str, *, kind: Kind, event_id: str | None, now: float) -> Claims:
        """:func:`verify` with the server's key. Raises Unauthorized,
        TokenExpired, Forbidden."""
        return verify(self._key, token, kind=kind, event_id=event_id, now=now)

    def access(self, token: str | None, event_id: str | None, now: float) -> Claims:
        """Claims of an access token (``event_id`` None: any event). Raises
        Unauthorized (none, forged), TokenExpired, Forbidden (another kind of
        token, or another event)."""
        if token is None:
            raise Unauthorized("An access token is required: join the queue first")
        return self.verify(token, kind="access", event_id=event_id, now=now)
