"""deploy/haproxy/haproxy.cfg run for real (Debian's HAProxy) in front of an
`onsale serve`: the address onsale sees is the one HAProxy saw, whatever
X-Forwarded-For a client sends (the per-address join limit counts it), and
/readyz takes the node out."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onsale.runtime import Runtime
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth, event_body

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
HAPROXY_CFG = LOADTESTS.parent / "deploy" / "haproxy" / "haproxy.cfg"


@pytest.fixture
def node(settings: Settings, runtime: Runtime) -> Iterator[live_server.Server]:
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):  # .ci/run installs it: missing is a failure there
            pytest.fail("haproxy is not installed")
        pytest.skip("haproxy is not installed (.ci/run installs it)")
    env = {
        "ONSALE_JOIN_RATE_PER_MINUTE": "3",
        "ONSALE_FORWARDED_ALLOW_IPS": "127.0.0.1",
        # Listening a while after the balancer's check took it out.
        "ONSALE_DRAIN_WAIT_SECONDS": "4",
    }
    with live_server.running(settings, count=1, **env) as servers:
        yield servers[0]


def _haproxy(tmp_path: Path, node: live_server.Server, source: Path) -> Any:
    sys.path.insert(0, str(LOADTESTS))
    try:
        from rolling_backends import HAProxy
    finally:
        sys.path.remove(str(LOADTESTS))
    proxy = HAProxy(tmp_path / "haproxy", [int(node.host.rsplit(":", 1)[1])], source)
    proxy.wait_up(1)
    return proxy


def _joins_refused(url: str, event_id: str) -> list[int]:
    """Six joins, each claiming another client address."""
    return [
        httpx.post(
            f"{url}/api/events/{event_id}/queue",
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            timeout=10,
        ).status_code
        for i in range(6)
    ]


def _event(url: str) -> str:
    venue = httpx.post(
        f"{url}/api/admin/venues",
        headers=auth(ADMIN_TOKEN),
        json={"name": "HA", "slug": f"ha-{time.time_ns()}", "timezone": "UTC"},
        timeout=10,
    ).json()
    r = httpx.post(
        f"{url}/api/admin/events",
        headers=auth(venue["api_key"]),
        json=event_body(),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_client_cannot_choose_its_address(tmp_path: Path, node: live_server.Server) -> None:
    proxy = _haproxy(tmp_path, node, HAPROXY_CFG)
    try:
        url = proxy.url
        codes = _joins_refused(url, _event(url))
    finally:
        proxy.stop()
    # All six from HAProxy's one client: the limit (3 a minute) applies.
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429, 429], codes


def test_without_dropping_the_header_a_client_chooses_it(
    tmp_path: Path, node: live_server.Server
) -> None:
    """The protection off: the same file without `del-header`. HAProxy adds
    its own X-Forwarded-For after the client's, onsale trusts HAProxy and
    takes the address before it: the client's invention."""
    text = HAPROXY_CFG.read_text().replace("    http-request del-header X-Forwarded-For\n", "")
    careless = tmp_path / "careless.cfg"
    careless.write_text(text)
    proxy = _haproxy(tmp_path, node, careless)
    try:
        url = proxy.url
        codes = _joins_refused(url, _event(url))
    finally:
        proxy.stop()
    assert codes == [201] * 6, codes


def test_a_draining_node_leaves_the_rotation(tmp_path: Path, node: live_server.Server) -> None:
    """SIGTERM: /readyz says 503 and HAProxy marks the node down within its
    check (2 failures, 1 s apart), before the node stops listening."""
    proxy = _haproxy(tmp_path, node, HAPROXY_CFG)
    try:
        node.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        while proxy.up() and time.monotonic() - started < 10:
            time.sleep(0.1)
        took = time.monotonic() - started
        still_listening = httpx.get(f"{node.url}/readyz", timeout=2).status_code
    finally:
        proxy.stop()
    assert took < 3.5, took
    assert still_listening == 503  # down in HAProxy while the node still answers
