"""Secrets at rest: what onsale must keep but never show (a venue's payment
provider keys, its ticket-signing key) is stored sealed with AES-256-GCM under
a key derived from ``ONSALE_SECRET_KEY`` (``tokens.Signer.derive``).

Each value is sealed for a *context* (say ``"stripe:<venue_id>"``), bound as
the associated data: a sealed value copied into another row or another venue
does not open there. A changed server secret opens nothing sealed before it:
the value must be entered again (said in README's production checklist).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sb1."  # the format's version, so that a later one can be told apart
PURPOSE = b"onsale secretbox v1"
NONCE_BYTES = 12


class SealedValueError(ValueError):
    """A sealed value that does not open: forged, damaged, sealed for another
    context, or under another server secret."""


class SecretBox:
    """Seals and opens values with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("SecretBox needs a 32-byte key")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: str) -> str:
        """``plaintext`` sealed for ``context``, as ASCII text for a column."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, context: str) -> bytes:
        """The plaintext of a value :meth:`seal` made for ``context``.

        Raises SealedValueError for anything else.
        """
        if not token.startswith(PREFIX):
            raise SealedValueError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode())
        except ValueError as exc:
            raise SealedValueError("not a sealed value") from exc
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealedValueError("the sealed value does not open here") from exc
