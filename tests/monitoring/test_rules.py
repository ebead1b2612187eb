"""monitoring/: Prometheus config and rules checked and unit-tested with
promtool, and the dashboard and rules only name metrics that exist.

promtool comes with Debian's ``prometheus`` package (.ci/run installs it);
these tests fail rather than skip without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from onsale.monitoring import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*.yml"))
DASHBOARD = MONITORING / "grafana" / "dashboards" / "onsale.json"
# Series Prometheus itself makes.
BUILTIN = {"up", "ALERTS"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (see .ci/run)"
    return subprocess.run(
        [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60, check=False
    )


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_promtool_check_config(tmp_path: Path) -> None:
    # promtool wants the scrape's token file to exist: the shipped config with
    # its token file (and the rules it names) where they exist here.
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["rule_files"] = [str(MONITORING / rules) for rules in config["rule_files"]]
    token = tmp_path / "onsale-metrics-token"
    token.write_text("a-metrics-token\n")
    for job in config["scrape_configs"]:
        job["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_rules() -> None:
    done = _promtool("check", "rules", *(str(p) for p in RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules() -> None:
    done = _promtool("test", "rules", *(str(p) for p in RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_firing_test_and_a_runbook_entry() -> None:
    alerts = [r["alert"] for r in _rules() if "alert" in r]
    tests = (MONITORING / "tests" / "alerts_test.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    assert len(alerts) >= 8
    for name in alerts:
        assert re.search(rf"alertname: {name}\n\s+exp_alerts:\n\s+- exp_labels", tests), name
        assert f"#### {name}" in readme, name


def _declared() -> set[str]:
    names = set(metrics.EVENT_FIGURES) | set(metrics.COLLECTOR_FIGURES)
    for name, figure in metrics.EVENT_FIGURES.items():
        if figure.kind == "counter":
            names.add(f"{name}_total")
    suffixes = {"gauge": ("",), "counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names |= {value._name + s for s in suffixes[value._type]}
    return names


def _names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    return set(re.findall(r"\b(onsale_[a-z_]+|[a-z_]+:[a-z_:0-9]+|up|ALERTS)\b", without_strings))


def test_rules_and_panels_name_only_metrics_that_exist() -> None:
    rules = _rules()
    recorded = {r["record"] for r in rules if "record" in r}
    known = _declared() | recorded | BUILTIN
    exprs = [("rule " + r.get("record", r.get("alert", "")), r["expr"]) for r in rules]
    for where, expr in exprs + dashboard_queries():
        unknown = _names(expr) - known
        assert not unknown, (where, unknown)


def test_dashboard_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "event"}
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            left = re.findall(r"\$\{?(\w+)", target["expr"])
            assert set(left) <= {"event"}, (panel["title"], left)
    titles = {p["title"] for p in panels}
    for must in ("Queue funnel", "Sell-through", "Admission rate vs configured", "Hold latency"):
        assert must in titles
    readme = (ROOT / "README.md").read_text()
    for title in titles:
        assert f"**{title}**" in readme, title


@pytest.mark.parametrize("path", sorted((MONITORING / "grafana").rglob("*.yml")))
def test_grafana_provisioning_is_yaml(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == 1 and ("datasources" in doc or "providers" in doc)
