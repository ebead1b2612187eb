"""A venue's signing key that no longer opens (the server secret changed, or
processes started without one, each with a random secret) is no outage: a new
key signs, the old tickets still pass the door, online and in the bundle."""

from __future__ import annotations

import httpx

from onsale.runtime import Runtime
from onsale.settings import Secret
from onsale.tickets.issuer import TicketIssuer
from onsale.tokens import Signer
from tests.conftest import MakeEvent, auth
from tests.tickets.test_door import door_key, scan
from tests.tickets.test_numbering import sell


async def test_a_new_secret_makes_a_new_key_and_old_tickets_still_pass(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    before = (await sell(client, venue["api_key"], event["id"], 1, quantity=2))["tickets"]
    key = await door_key(client, venue, event["id"])
    assert (await scan(client, key, before[0]["code"]))["result"] == "admitted"
    assert len(await runtime.door.keys.publics(venue["id"])) == 1  # cached here
    # Another process, another server secret: the stored key does not open there.
    other = TicketIssuer.build(runtime.engine, Signer(Secret("another secret " * 4)))
    after = await other.code(venue["id"], event["id"], "tkt_from_the_other_one")
    assert after.rsplit(".", 1)[1] != before[0]["code"].rsplit(".", 1)[1]
    # Signed by a key this process had not seen: read on the miss (no such ticket).
    assert (await scan(client, key, after))["result"] == "invalid"
    assert len(await runtime.door.keys.publics(venue["id"])) == 2
    assert (await scan(client, key, before[1]["code"]))["result"] == "admitted"
    bundle = (await client.get("/api/door/bundle", headers=auth(key))).json()
    assert len(bundle["public_keys"]) == 2
