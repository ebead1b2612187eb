"""A proof of work whose challenge or nonce is not ASCII is refused with 422
``validation_error`` and spends nothing; never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from onsale.errors import ValidationFailed
from onsale.queue import draw
from onsale.queue.guard import check_challenge, solve
from onsale.runtime import Runtime
from tests.conftest import auth, event_body
from tests.security.test_ws_backdoor import places

KEY = b"test-secret-key"

# Non-ASCII where the MAC goes (a lone surrogate, JSON "\ud800", cannot even
# be encoded as UTF-8); then non-ASCII elsewhere.
BAD_MACS = ["ev.1.2.é", "ev.9999999999.ab.ünïcödé", "ev.1.2.\ud800", "ev.1.2.💥"]
HOSTILE = [*BAD_MACS, "évé.1.2.abcdef", "ev\u00a0.9999999999.ab.cd", "💥"]


@pytest.mark.parametrize("challenge", BAD_MACS)
def test_check_challenge_refuses_non_ascii(challenge: str) -> None:
    """Old code, for each: ``TypeError: comparing strings with non-ASCII characters is not
    supported`` from hmac.compare_digest (a 500 at the join)."""
    with pytest.raises(ValidationFailed):
        check_challenge(KEY, "ev", challenge, 0.0)


async def test_the_join_answers_422_to_a_non_ascii_proof(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    """Old code: ``assert 500 == 422`` for a challenge ending in "é" (the
    server's TypeError), for every non-ASCII MAC.
    """
    body = event_body()
    body["admission"]["pow_difficulty"] = 8
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    real = (await client.get(f"/api/events/{event_id}/queue/challenge")).json()["challenge"]
    before = await places(runtime, event_id)
    proofs = [{"challenge": c, "nonce": "1"} for c in HOSTILE]
    proofs += [
        {"challenge": real[:-1] + "é", "nonce": "1"},
        {"challenge": real, "nonce": "é"},
        {"challenge": real, "nonce": "\ud800"},
    ]
    for proof in proofs:
        raw = json.dumps({"pow": proof}).encode()  # ASCII: "\\ud800" travels as an escape
        r = await client.post(
            f"/api/events/{event_id}/queue",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        if "\ud800" in proof["challenge"] + proof["nonce"]:
            # The body reader refuses lone surrogates before any handler runs.
            assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request")
            continue
        assert r.status_code == 422, (proof, r.status_code, r.text)
        assert r.json()["error"]["code"] == "validation_error"
        assert "pow" in r.json()["error"]["details"]["fields"], r.text
    assert await places(runtime, event_id) == before
    # The door still opens for a real proof.
    proof = {"challenge": real, "nonce": solve(real, 8)}
    assert (
        await client.post(f"/api/events/{event_id}/queue", json={"pow": proof})
    ).status_code == 201


def test_a_draw_record_with_a_non_ascii_commitment_does_not_check() -> None:
    """``onsale verify-draw`` reads any JSON record: a non-ASCII commitment is
    a failed check, not a crash.

    Old code: ``TypeError: comparing strings with non-ASCII characters is not
    supported`` from draw.verify.
    """
    seed = bytes(32)
    for published in ("é" * 64, draw.commitment(seed)[:-1] + "é", "\ud800"):
        check = draw.verify(seed.hex(), published, [])
        assert not check.ok and "commitment" in check.reason
    assert draw.verify(seed.hex(), draw.commitment(seed), []).ok
