from __future__ import annotations

import pytest

from onsale.secretbox import PURPOSE, SealedValueError, SecretBox
from onsale.settings import Secret
from onsale.tokens import Signer


def box(secret: str = "s" * 40) -> SecretBox:
    return SecretBox(Signer(Secret(secret)).derive(PURPOSE))


def test_a_sealed_value_opens_in_its_context_and_hides_the_plaintext() -> None:
    sealed = box().seal(b"sk_test_123", "stripe:ven_1")
    assert "sk_test_123" not in sealed and sealed.isascii()
    assert box().open(sealed, "stripe:ven_1") == b"sk_test_123"
    assert box().seal(b"sk_test_123", "stripe:ven_1") != sealed  # a fresh nonce each time


@pytest.mark.parametrize(
    "change",
    [
        lambda s: (box(), s, "stripe:ven_2"),  # copied to another venue
        lambda s: (box("t" * 40), s, "stripe:ven_1"),  # another server secret
        lambda s: (box(), s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1], "stripe:ven_1"),
        lambda s: (box(), "sb1.!!!", "stripe:ven_1"),
        lambda s: (box(), "plain-text", "stripe:ven_1"),
        lambda s: (box(), "sb1.", "stripe:ven_1"),
    ],
)
def test_anything_else_does_not_open(change: object) -> None:
    sealed = box().seal(b"sk_test_123", "stripe:ven_1")
    other, token, context = change(sealed)  # type: ignore[operator]
    with pytest.raises(SealedValueError):
        other.open(token, context)


def test_the_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        SecretBox(b"short")
