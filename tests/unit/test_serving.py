"""uvicorn's options for onsale, the same for ``onsale serve`` and ``demo``."""

from __future__ import annotations

import pickle

from onsale import serving
from onsale.settings import Settings


def test_options_follow_the_settings() -> None:
    options = serving.uvicorn_options(
        Settings(forwarded_allow_ips=("10.0.0.0/8",), header_timeout_seconds=3.0)
    )
    assert options["forwarded_allow_ips"] == ["10.0.0.0/8"]
    assert options["proxy_headers"] is True
    assert options["ws_max_size"] == serving.MAX_WS_MESSAGE_BYTES
    assert options["h11_max_incomplete_event_size"] == serving.MAX_HEAD_BYTES
    assert options["http"].func is serving.BoundedHttpToolsProtocol
    assert options["http"].keywords == {
        "head_timeout": 3.0,
        "max_head_bytes": serving.MAX_HEAD_BYTES,
    }
    # trusting no proxy is an empty list, never uvicorn's default (None: loopback)
    assert serving.uvicorn_options(Settings(forwarded_allow_ips=()))["forwarded_allow_ips"] == []


def test_the_protocol_pickles_for_worker_processes() -> None:
    """``--workers N`` sends uvicorn's config to each worker by pickle."""
    http = serving.uvicorn_options(Settings())["http"]
    again = pickle.loads(pickle.dumps(http))
    assert again.func is serving.BoundedHttpToolsProtocol
    assert again.keywords == http.keywords
