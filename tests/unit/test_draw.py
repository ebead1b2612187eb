"""The verifiable pre-queue draw."""

from __future__ import annotations

import hashlib
import hmac
import random

from onsale.queue import draw


def _entries(n: int) -> list[str]:
    return [f"q_{i:05d}" for i in range(n)]


def test_order_is_a_permutation_fixed_by_the_seed() -> None:
    seed = bytes(range(32))
    entries = _entries(50)
    drawn = draw.order(seed, entries)
    assert sorted(drawn) == entries
    assert drawn == draw.order(seed, list(reversed(entries)))  # input order does not matter
    assert drawn != draw.order(bytes(32), entries)


def test_a_revealed_draw_verifies_and_a_tampered_one_does_not() -> None:
    seed = draw.new_seed()
    published = draw.commitment(seed)
    drawn = draw.order(seed, _entries(30))
    assert draw.verify(seed.hex(), published, drawn).ok
    other_seed = bytes(32)
    assert not draw.verify(other_seed.hex(), published, draw.order(other_seed, drawn)).ok
    swapped = [drawn[1], drawn[0], *drawn[2:]]
    check = draw.verify(seed.hex(), published, swapped)
    assert not check.ok and "order" in check.reason
    assert not draw.verify("zz", published, drawn).ok


def test_the_documented_few_lines_agree() -> None:
    seed = draw.new_seed()
    entries = draw.order(seed, _entries(20))
    assert hashlib.sha256(seed).hexdigest() == draw.commitment(seed)
    key = lambda e: hmac.new(seed, e.encode(), hashlib.sha256).digest()  # noqa: E731
    assert entries == sorted(entries, key=key)


def test_positions_are_uncorrelated_with_join_order() -> None:
    rng = random.Random(5)
    entries = _entries(300)
    mean_rank_of_first = (
        sum(draw.order(rng.randbytes(32), entries).index(entries[0]) for _ in range(400)) / 400
    )
    assert 120 < mean_rank_of_first < 180
