"""``ONSALE_FORWARDED_ALLOW_IPS``: only the named proxies' ``X-Forwarded-For``
is believed, and the per-client join limit counts the address it yields.

Behind a load balancer every fan reaches onsale from the balancer's address:
unless its ``X-Forwarded-For`` is trusted they all share one join bucket. From
anyone else the header is a lie that would give each request a fresh bucket.

Before: uvicorn's default (loopback trusted) with no setting; a server told to
trust nobody still believed a spoofed header from 127.0.0.1, so three joins
from one peer under three made-up addresses were never limited
(``assert [201, 201, 201] == [201, 201, 429]``).
"""

from __future__ import annotations

from typing import Any

import httpx

from onsale.settings import Settings
from tests import live_server
from tests.security._live import open_event


def _joins(api: httpx.Client, event_id: str, forwarded: list[str]) -> list[int]:
    return [
        api.post(f"/api/events/{event_id}/queue", headers={"X-Forwarded-For": ip}).status_code
        for ip in forwarded
    ]


def test_a_spoofed_header_from_an_untrusted_peer_is_not_believed(
    settings: Settings, runtime: Any
) -> None:
    # 127.0.0.1 (the test) is not a trusted proxy here: the header is ignored
    # and all three joins come from one address, two a minute.
    with (
        live_server.running(
            settings, ONSALE_FORWARDED_ALLOW_IPS="", ONSALE_JOIN_RATE_PER_MINUTE="2"
        ) as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        event_id = open_event(api)
        assert _joins(api, event_id, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
            201,
            201,
            429,
        ]


def test_a_trusted_proxys_header_names_the_client(settings: Settings, runtime: Any) -> None:
    """Each fan behind the proxy has its own bucket, and a fan is still limited
    however many trusted proxies (a CIDR here) its request went through.

    Before: the setting was not read; the proxy at 10.1.2.3 was taken for the
    fan, who got a fresh bucket (``assert [201, 201, 201] == [201, 201, 429]``).
    """
    with (
        live_server.running(
            settings,
            ONSALE_FORWARDED_ALLOW_IPS="10.0.0.0/8, 127.0.0.1",
            ONSALE_JOIN_RATE_PER_MINUTE="2",
        ) as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        event_id = open_event(api)
        fans = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
        assert _joins(api, event_id, fans) == [201] * 4
        # the same fan again and again: limited at its third join; a chain of
        # trusted proxies (10.x) is walked back to the fan
        same = ["198.51.100.7", "198.51.100.7, 10.1.2.3", "198.51.100.7"]
        assert _joins(api, event_id, same) == [201, 201, 429]
