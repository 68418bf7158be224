"""The monitoring files without Docker: docker-compose.yml's Prometheus and Grafana with
what they mount, Prometheus's scrape config and alert rules, Grafana's provisioning, and the
dashboard. Every query is parsed as PromQL, and every connector metric a query names is one
the worker declares. (A real Prometheus and Grafana are not run here: no Docker engine.)
The metrics a real worker serves after a short run: tests/ops/test_dashboard_metrics.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import promql_parser
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

import streams.metrics  # noqa: F401 - declares the stream processor's metrics in REGISTRY
from config import load_settings
from sinks.metrics import REGISTRY as SINK_REGISTRY
from testkit.processes import ROOT

MONITORING = ROOT / "ops" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "airmp.json"
ALERTS = MONITORING / "prometheus" / "alerts.yml"
# Grafana's own variables in a panel's query, as Grafana substitutes them before Prometheus
# parses it (a range it picks, at least four scrape intervals).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
HISTOGRAM_SAMPLES = ("_bucket", "_sum", "_count")
NOT_OURS = {"up"}  # Prometheus's own


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL as Prometheus gets it) of every panel's every target."""
    queries = []
    for panel in panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"]]
    return rules


def metrics_in(expr: str) -> set[str]:
    """The metric names an expression selects (its vector selectors, as Prometheus parses)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def dashboard_metrics() -> set[str]:
    return {name for _, expr in panel_queries() for name in metrics_in(expr)}


def declared_samples(*registries: CollectorRegistry) -> set[str]:
    """Every sample name the worker's registries can serve (a histogram's _bucket, ...)."""
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            if family.type == "histogram":
                names.update(family.name + suffix for suffix in HISTOGRAM_SAMPLES)
            elif family.type == "counter":
                names.add(family.name + "_total")
            else:
                names.add(family.name)
    return names


# --- docker compose -----------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return loaded


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (relative to the repo)."""
    found = {}
    for volume in compose()["services"][service].get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("./"):
            found[container] = ROOT / host
    return found


def test_compose_runs_prometheus_and_grafana_on_the_files_in_the_repo() -> None:
    services = compose()["services"]
    assert {"kafka", "mparticle", "worker", "prometheus", "grafana"} <= set(services)
    for name in ("prometheus", "grafana"):
        image = services[name]["image"]
        assert re.fullmatch(r"[a-z/]+:v?\d+\.\d+\.\d+", image), image  # a pinned release
        for host in mounts(name).values():
            assert host.exists(), host
    assert set(compose()["volumes"]) == {"worker-data", "prometheus-data", "grafana-data"}
    assert services["prometheus"]["ports"] == ["9090:9090"]
    assert services["grafana"]["ports"] == ["3000:3000"]


def test_prometheus_scrapes_the_workers_and_loads_the_alerts() -> None:
    config = load_yaml(MONITORING / "prometheus" / "prometheus.yml")
    prometheus = mounts("prometheus")
    assert prometheus["/etc/prometheus/prometheus.yml"] == MONITORING / "prometheus/prometheus.yml"
    command = compose()["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert [prometheus[path] for path in config["rule_files"]] == [ALERTS]
    (job,) = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("airmp", "/metrics")
    (discovery,) = job["dns_sd_configs"]
    # The compose service of the workers, on the port the worker serves /metrics on.
    assert discovery["names"] == ["worker"] and "worker" in compose()["services"]
    assert (discovery["type"], discovery["port"]) == ("A", load_settings().web_port)
    assert compose()["services"]["worker"]["ports"] == [f"{discovery['port']}:6066"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = mounts("grafana")
    provisioning = grafana["/etc/grafana/provisioning"]
    assert provisioning == MONITORING / "grafana" / "provisioning"
    sources = load_yaml(provisioning / "datasources" / "prometheus.yml")
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert {k: source[k] for k in ("type", "access", "url", "isDefault")} == {
        "type": "prometheus",
        "access": "proxy",
        "url": "http://prometheus:9090",  # the compose service, on Prometheus's port
        "isDefault": True,
    }
    providers = load_yaml(provisioning / "dashboards" / "airmp.yml")
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert grafana[provider["options"]["path"]] == DASHBOARD.parent
    home = compose()["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


# --- the dashboard ------------------------------------------------------------------------


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert (board["uid"], board["title"]) == ("airmp-connector", "AIR -> mParticle connector")
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    for panel in panels():
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]


def test_the_dashboard_has_the_panels_the_issue_asks_for() -> None:
    wanted = {
        "AIR events in, by eventName": "airmp_air_events_total",
        "Records out, by eventName": "airmp_records_total",
        "Dead letters, by reason": "airmp_dead_letters_total",
        "Consumer lag, per partition": "airmp_consumer_lag",
        "Sink requests, by status": "airmp_sink_requests_total",
        "Sink answer time": "airmp_sink_request_seconds_bucket",
        "Batches per request": "airmp_sink_batches_per_request_sum",
        "Rate-limit waits": "airmp_sink_wait_seconds_total",
        "Rewards, by outcome": "airmp_rewards_total",
        "Edge requests, by route and status": "airmp_edge_requests_total",
        "Edge answer time (p95), by route": "airmp_edge_request_seconds_bucket",
    }
    queried: dict[str, set[str]] = {}
    for title, expr in panel_queries():
        queried.setdefault(title, set()).update(metrics_in(expr))
    for title, metric in wanted.items():
        assert metric in queried.get(title, set()), title


def test_every_query_is_promql_naming_metrics_the_worker_declares() -> None:
    declared = declared_samples(REGISTRY, SINK_REGISTRY)
    for title, expr in panel_queries():
        names = metrics_in(expr)  # raises on a query Prometheus would not parse
        assert names, title
        missing = {n for n in names if n not in declared}
        assert not missing, (title, missing)
    for rule in alert_rules():
        names = metrics_in(rule["expr"])
        missing = {n for n in names - NOT_OURS if n not in declared}
        assert not missing, (rule["alert"], missing)


# --- the alerts ---------------------------------------------------------------------------


def test_the_alert_rules_are_prometheus_rules_with_a_runbook() -> None:
    groups = load_yaml(ALERTS)["groups"]
    assert [g["name"] for g in groups] == ["airmp"]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("#")
    }
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"Airmp[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
        assert rule["annotations"]["summary"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert (ROOT / page).exists(), rule["alert"]
        assert not anchor or anchor in headings, (rule["alert"], anchor)
