"""``ONSALE_METRICS_TOKEN``: ``GET /metrics`` answers 401 (JSON ``unauthorized``)
without ``Authorization: Bearer <that token>``.

Before: the variable was not read and ``/metrics`` answered anyone, with every
event's sales figures and the process' internals
(``assert 200 == 401`` on the first unauthenticated scrape).
"""

from __future__ import annotations

from typing import Any

import httpx

from onsale.settings import Settings
from tests import live_server
from tests.conftest import auth

TOKEN = "metrics-" + "t" * 32


def test_metrics_need_the_token(settings: Settings, runtime: Any) -> None:
    with (
        live_server.running(settings, ONSALE_METRICS_TOKEN=TOKEN) as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        for headers in (
            {},
            auth("wrong"),
            auth(TOKEN[:-1]),
            auth(TOKEN + "x"),
            {"Authorization": TOKEN},  # not a bearer token
            {"Authorization": f"Basic {TOKEN}"},
        ):
            refused = api.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.status_code)
            assert refused.json()["error"]["code"] == "unauthorized"
            assert "onsale_" not in refused.text
        scraped = api.get("/metrics", headers=auth(TOKEN))
        assert scraped.status_code == 200
        assert "onsale_http_requests_total" in scraped.text
        # The refusals are counted like any other error answer.
        assert 'onsale_http_errors_total{code="unauthorized"}' in scraped.text


def test_without_the_setting_metrics_stay_open(settings: Settings, runtime: Any) -> None:
    """Outside production, no token set: a local Prometheus scrapes as before.
    (A control for the test above; production refuses to start without one.)"""
    with (
        live_server.running(settings) as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        assert api.get("/metrics").status_code == 200
