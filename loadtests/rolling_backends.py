"""What the rolling deploy adds to the chaos run's parts (chaos_backends.py):
a three-master Redis Cluster started from the machine's ``redis-server``, and
a real HAProxy (Debian's package) running deploy/haproxy/haproxy.cfg itself,
with only its "site:" lines (addresses, nodes, admin socket) rewritten.

Everything runs on free loopback ports under the run's temporary folder and
is stopped by its own PID.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import redis

from scenario import free_port

HAPROXY_CFG = Path(__file__).resolve().parents[1] / "deploy" / "haproxy" / "haproxy.cfg"


def _cluster_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too (and
    exists: a port above 55535 has none, and Redis refuses to start)."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """``masters`` Redis servers in cluster mode, no replicas, no persistence,
    the slots shared evenly (``redis-cli --cluster create``)."""

    def __init__(self, folder: Path, masters: int = 3) -> None:
        self.folder = folder
        self.ports = [_cluster_port() for _ in range(masters)]
        self.procs: list[subprocess.Popen[bytes]] = []
        folder.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()  # never leaves a server behind
            raise

    def _start(self) -> None:
        folder = self.folder
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        for port in self.ports:
            options = {
                "port": str(port),
                "bind": "127.0.0.1",
                "cluster-enabled": "yes",
                "cluster-config-file": str(folder / f"nodes-{port}.conf"),
                "cluster-node-timeout": "5000",
                "save": "",
                "appendonly": "no",
                "dir": str(folder),
            }
            command = [binary, *(x for k, v in options.items() for x in (f"--{k}", v))]
            log = (folder / f"redis-{port}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )
            log.close()
        self._wait(lambda c: bool(c.ping()))
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        create = ["redis-cli", "--cluster", "create", *nodes]
        subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._wait(lambda c: c.cluster("info")["cluster_state"] == "ok")

    @property
    def url(self) -> str:
        # One node is enough: onsale's client finds the others (onsale.redis).
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _wait(self, ready: object, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
            try:
                while True:
                    with contextlib.suppress(redis.RedisError, KeyError):
                        if ready(client):  # type: ignore[operator]
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis on :{port} did not get ready")
                    time.sleep(0.1)
            finally:
                client.close()

    def keys_per_master(self) -> list[int]:
        """Keys on each master: the event's hash tag puts them all on one."""
        counts = []
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                counts.append(int(client.dbsize()))
            finally:
                client.close()
        return counts

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def haproxy_config(
    listen: int, nodes: list[int], stats: int, admin_socket: Path, source: Path = HAPROXY_CFG
) -> str:
    """deploy/haproxy/haproxy.cfg with its "site:" lines set for this run:
    loopback listen and stats ports, one server line per node, the admin
    socket in the run's folder. Everything else (checks, timeouts,
    forwarding, balancing) is the shipped file's."""
    text = source.read_text().replace("maxconn 100000", "maxconn 4000")
    servers = "\n".join(
        f"    server node{i} 127.0.0.1:{port} check" for i, port in enumerate(nodes, 1)
    )
    replaced = [
        (r"(?m)^    bind :8080$", f"    bind 127.0.0.1:{listen}"),
        (r"(?m)^    bind :8404$", f"    bind 127.0.0.1:{stats}"),
        (r'(?m)^    stats socket "[^"]+"', f"    stats socket {admin_socket}"),
        (r"(?m)^    server node1 .*\n    server node2 .*$", servers),
        # Logs to the run's file, not the machine's syslog.
        (
            r"(?m)^    log stdout format raw local0 warning$",
            "    log stderr format raw local0 warning",
        ),
    ]
    for pattern, new in replaced:
        text, count = re.subn(pattern, new, text)
        if count != 1:
            raise RuntimeError(f"deploy/haproxy/haproxy.cfg: no single line matches {pattern!r}")
    return text


class HAProxy:
    """A real HAProxy on a loopback port in front of ``nodes`` (ports)."""

    def __init__(self, folder: Path, nodes: list[int], source: Path = HAPROXY_CFG) -> None:
        self.folder = folder
        self.nodes = len(nodes)
        self.port = free_port()
        self.stats_port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            haproxy_config(self.port, nodes, self.stats_port, folder / "admin.sock", source)
        )
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        checked = subprocess.run(
            [binary, "-c", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy -c: {checked.stdout}{checked.stderr}")
        log = (folder / "haproxy.log").open("ab")
        # -db: in the foreground, so that its PID is the one to stop.
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, servers: int, timeout: float = 30) -> None:
        """Until ``servers`` nodes are UP in HAProxy's own view."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log()}")
            if self.up() >= servers:
                return
            time.sleep(0.2)
        raise RuntimeError(f"haproxy: fewer than {servers} nodes up: {self.log()}")

    def up(self) -> int:
        """Nodes HAProxy counts UP (from its stats CSV)."""
        with contextlib.suppress(httpx.HTTPError):
            csv = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
            return sum(
                1 for line in csv.splitlines() if line.startswith("onsale,node") and ",UP," in line
            )
        return 0

    def log(self, tail: int = 3000) -> str:
        try:
            return (self.folder / "haproxy.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
