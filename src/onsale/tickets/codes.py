"""Ticket codes a door device can trust without the network (pure).

A code is ``<event_id>.<ticket_id>.<signature>``: the signature is Ed25519
over ``onsale-ticket-v1|<event_id>|<ticket_id>`` with the venue's key
(keys.py), base64url without padding. The door page checks the same message
with the venue's public key (static/door/verify.js); a change here is a
change there.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DOMAIN = "onsale-ticket-v1"
_ID = r"[A-Za-z0-9_-]{1,64}"
CODE_RE = re.compile(rf"^({_ID})\.({_ID})\.([A-Za-z0-9_-]{{86}})$")


@dataclass(frozen=True)
class Parsed:
    event_id: str
    ticket_id: str
    signature: bytes


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def message(event_id: str, ticket_id: str) -> bytes:
    return f"{DOMAIN}|{event_id}|{ticket_id}".encode()


def make_code(key: Ed25519PrivateKey, event_id: str, ticket_id: str) -> str:
    return f"{event_id}.{ticket_id}.{b64(key.sign(message(event_id, ticket_id)))}"


def parse(code: str) -> Parsed | None:
    """The parts of a well-formed code, None for anything else."""
    found = CODE_RE.match(code.strip()) if code.isascii() else None
    if found is None:
        return None
    sig = unb64(found.group(3))
    if len(sig) != 64:
        return None
    return Parsed(found.group(1), found.group(2), sig)


def verify(public_keys: Sequence[bytes], code: str) -> Parsed | None:
    """The code's parts when one of the venue's keys signed it, else None."""
    parsed = parse(code)
    if parsed is None:
        return None
    signed = message(parsed.event_id, parsed.ticket_id)
    for public_key in public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(parsed.signature, signed)
        except (InvalidSignature, ValueError):
            continue
        return parsed
    return None
