"""Bots and abuse at the door of the waiting room: a per-client join rate
limit, and an optional proof-of-work per event (a small hashcash the fan's
browser solves: a few hundred milliseconds for a person, a real cost for a bot
that wants thousands of places).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from onsale.errors import RateLimited, ValidationFailed
from onsale.keys import join_rate_key, pow_used_key
from onsale.redis import AnyRedis

CHALLENGE_SECONDS = 300
# The purpose of the challenges' key, derived from the server's secret
# (tokens.Signer.derive): a challenge never checks as a token, or back.
CHALLENGE_PURPOSE = b"onsale/join-challenge/v1"


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def solve(challenge: str, difficulty: int, *, limit: int = 50_000_000) -> str:
    """The first nonce that meets ``difficulty`` (what the fan's browser does)."""
    for n in range(limit):
        if leading_zero_bits(pow_digest(challenge, str(n))) >= difficulty:
            return str(n)
    raise RuntimeError("no nonce found")


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def new_challenge(key: bytes, event_id: str, now: float) -> str:
    """``<event>.<expiry>.<random>.<mac>``: stateless until spent."""
    body = f"{event_id}.{int(now) + CHALLENGE_SECONDS}.{secrets.token_hex(8)}"
    return f"{body}.{_sign(key, body)}"


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"pow": message})


def check_challenge(key: bytes, event_id: str, challenge: str, now: float) -> None:
    """Raises ValidationFailed for a forged, foreign or expired challenge."""
    # Ours are ASCII; anything else is refused before hashing or comparing
    # (compare_digest raises on non-ASCII str, and a lone surrogate cannot
    # even be encoded).
    if not challenge.isascii():
        raise _bad("not a challenge of this server")
    body, _, mac = challenge.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not hmac.compare_digest(mac.encode(), _sign(key, body).encode()):
        raise _bad("not a challenge of this server")
    if parts[0] != event_id:
        raise _bad("the challenge is for another event")
    if not parts[1].isdigit() or int(parts[1]) < now:
        raise _bad("the challenge has expired; ask for a new one")


@dataclass
class Guard:
    client: AnyRedis
    prefix: str
    # The challenges' key (tokens.Signer.derive(CHALLENGE_PURPOSE)).
    secret: bytes
    joins_per_minute: int

    async def limit_joins(self, client_id: str, now: float | None = None) -> None:
        """Raises RateLimited (with Retry-After) past the per-client join rate."""
        if self.joins_per_minute <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // 60)
        key = join_rate_key(self.prefix, client_id[:64], window)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if int(count) > self.joins_per_minute:
            raise RateLimited("Too many joins from this client", retry_after=60 - int(now % 60))

    async def check_pow(self, event_id: str, difficulty: int, body: Any) -> None:
        """Raises ValidationFailed unless ``body["pow"]`` solves a fresh,
        unspent challenge of this event at ``difficulty``."""
        if difficulty <= 0:
            return
        proof = body.get("pow") if isinstance(body, dict) else None
        if not isinstance(proof, dict):
            raise _bad("this event asks for a proof of work: GET .../queue/challenge")
        challenge, nonce = proof.get("challenge"), proof.get("nonce")
        if not isinstance(challenge, str) or not isinstance(nonce, str) or len(nonce) > 64:
            raise _bad("pow needs a challenge and a nonce (strings)")
        if not nonce.isascii():
            raise _bad("the nonce must be ASCII")
        check_challenge(self.secret, event_id, challenge, time.time())
        if leading_zero_bits(pow_digest(challenge, nonce)) < difficulty:
            raise _bad("the nonce does not solve the challenge")
        fresh = await self.client.set(
            pow_used_key(self.prefix, challenge), "1", nx=True, ex=CHALLENGE_SECONDS
        )
        if not fresh:
            raise _bad("this challenge was used already")
