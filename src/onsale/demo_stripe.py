"""``onsale demo --stripe``: the demo paying through Stripe's API as
localstripe (a fake Stripe server, a test dependency) plays it, started here
on a free port; the demo venue's account is connected to it.

localstripe keeps one store for any key and writes it to
/tmp/localstripe.pickle; ``--from-scratch`` starts it empty.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from onsale.payments.accounts import AccountForm, AccountStore

DEMO_ACCOUNT = AccountForm(
    secret_key="sk_test_onsaledemo",
    publishable_key="pk_test_onsaledemo",
    webhook_secret="whsec_onsaledemo",
)


class LocalStripeMissing(RuntimeError):
    """localstripe is not installed (``pip install localstripe``)."""


@dataclass
class LocalStripe:
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_localstripe(seconds: float = 20) -> LocalStripe:
    """localstripe on a free loopback port, ready. Raises LocalStripeMissing,
    RuntimeError when it does not start."""
    command = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
    if not Path(command).exists():
        raise LocalStripeMissing("localstripe is not installed (pip install localstripe)")
    port = _free_port()
    proc = subprocess.Popen(
        [command, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = LocalStripe(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localstripe exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(server.js_url, timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError("localstripe did not start")


async def connect_demo_account(accounts: AccountStore, venue_id: str) -> None:
    await accounts.connect(venue_id, DEMO_ACCOUNT, actor="demo")
