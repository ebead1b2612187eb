"""The pre-queue draw that anyone can check.

When the pre-queue opens, a secret seed is drawn from ``secrets`` and only its
SHA-256 commitment is published. When the sale opens, the pre-queue's order is
the entries sorted by HMAC-SHA256(seed, entry id): a uniformly random
permutation that nobody could steer without the seed, and that the operator
could not choose after the fact without breaking the commitment. Then the seed
and the ordered entries are revealed, and anyone can recompute:

    import hashlib, hmac
    def check(seed_hex, commitment, entries):
        seed = bytes.fromhex(seed_hex)
        assert hashlib.sha256(seed).hexdigest() == commitment
        key = lambda e: hmac.new(seed, e.encode(), hashlib.sha256).digest()
        assert entries == sorted(entries, key=key)

Pure code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

ALGORITHM = "sort entries by HMAC-SHA256(seed, entry_id); commitment = SHA-256(seed)"


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def _rank(seed: bytes, entry: str) -> bytes:
    return hmac.new(seed, entry.encode(), hashlib.sha256).digest()


def order(seed: bytes, entries: Iterable[str]) -> list[str]:
    """The drawn order of the pre-queue entries."""
    return sorted(entries, key=lambda e: _rank(seed, e))


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str


def verify(seed_hex: str, published_commitment: str, entries: list[str]) -> Check:
    """Recompute a revealed draw: the seed must match the commitment published
    before the draw, and the order must be the one the seed gives."""
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return Check(False, "the seed is not hexadecimal")
    # A record is any JSON: compare_digest raises on non-ASCII str.
    published = published_commitment.encode("ascii", "replace")
    if not hmac.compare_digest(commitment(seed).encode(), published):
        return Check(False, "the seed does not match the published commitment")
    if order(seed, entries) != entries:
        return Check(False, "the order is not the one the seed gives")
    return Check(True, f"{len(entries)} entries in the order the committed seed gives")
