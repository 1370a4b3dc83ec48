"""The Grafana part of the `observability` profile, checked without a Docker engine.

A dashboard whose queries name a metric the service never exposes shows "No data" and nobody notices
until an incident. So every PromQL expression is parsed for its metric and label names, and those
are checked against the `/metrics` of a real server that has served successful, retried, failed and
degraded requests. The provisioning files and the compose service are checked for what a fresh
volume needs: the datasource the panels point at, the dashboard path, the admin password as a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from live import SAMPLES, TEST_KEY, serve
from llmops.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "llmops.json"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "llmops.yaml"
EXPECTED_METRICS = {
    "llmops_requests_total",
    "llmops_request_duration_seconds_bucket",
    "gen_ai_client_token_usage_sum",
    "gen_ai_client_operation_duration_seconds_bucket",
    "llmops_cost_USD_total",
    "llmops_errors_total",
    "llmops_retries_total",
    "llmops_degraded_total",
    "llmops_tool_duration_seconds_bucket",
    "llmops_step_duration_seconds_bucket",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
PROMQL_WORDS |= {"unless", "offset", "inf", "nan"}
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"\{([^}]*)\}")
MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


# --- PromQL names ---------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers left once strings, label selectors, grouping
    clauses, range durations, dashboard variables, numbers and function calls are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = SELECTOR.sub(" ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:e[+-]?\d+)?", " ", text)
    return {
        match.group()
        for match in IDENTIFIER.finditer(text)
        if match.group().lower() not in PROMQL_WORDS and not text[match.end() :].lstrip().startswith("(")
    }


def label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = {name.strip() for group in GROUPING.findall(text) for name in group.split(",") if name.strip()}
    for selector in SELECTOR.findall(text):
        names |= {match.group(1) for part in selector.split(",") if (match := MATCHER.match(part))}
    return names


def test_metric_names_are_found_in_nested_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, gen_ai_tool_name) (rate(llmops_tool_duration_seconds_bucket{a="x"}'
        "[$__rate_interval]))) / scalar(sum(increase(llmops_requests_total[1h]))) * 3600"
    )
    assert metric_names(expr) == {"llmops_tool_duration_seconds_bucket", "llmops_requests_total"}
    assert label_names(expr) == {"le", "gen_ai_tool_name", "a"}


# --- the dashboard --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    [provisioned] = yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))["datasources"]
    return provisioned


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found += [panel] if panel["type"] != "row" else panel.get("panels", [])
    return found


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in _panels(dashboard) for target in panel["targets"]]


def test_dashboard_has_the_panels_operators_look_for(dashboard: dict[str, Any]) -> None:
    titles = {panel["title"] for panel in _panels(dashboard)}
    for title in (
        "Request rate",
        "Error rate",
        "Triage latency p50 / p95",
        "Tokens per second by type",
        "Cost per hour",
        "Retries",
        "Degraded replies",
        "Tool latency p95",
        "Step latency p95",
    ):
        assert title in titles
    latency = next(p for p in _panels(dashboard) if p["title"] == "Triage latency p50 / p95")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
    ]
    used = set().union(*(metric_names(target["expr"]) for target in _targets(dashboard)))
    assert used == EXPECTED_METRICS


def test_dashboard_uids_ids_and_positions_are_unique(dashboard: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    ids = [panel["id"] for panel in dashboard["panels"]] + [
        nested["id"] for row in dashboard["panels"] for nested in row.get("panels", [])
    ]
    assert len(ids) == len(set(ids))
    for panel in _panels(dashboard):
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_every_panel_and_query_uses_the_provisioned_datasource(
    dashboard: dict[str, Any], datasource: dict[str, Any]
) -> None:
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    assert datasource["type"] == "prometheus"
    for panel in _panels(dashboard):
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    assert dashboard["templating"]["list"] == [], "no datasource variable: the uid is fixed"


# --- the queries against a real scrape ------------------------------------------------------------


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """Metric sample names → label names, from a server that has retried, failed over to the
    degraded fallback, answered normally and rejected a bad request."""
    data = tmp_path_factory.mktemp("grafana")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data,
        database_url=f"sqlite:///{data / 'llmops.db'}",
        api_keys=TEST_KEY,
        provider="scripted",
        # First request: 429, 500, 500 exhausts the retries (error, degraded); the second retries once.
        scripted_faults="429,500*3",
        scripted_retry_after_s=0.01,
        retry_initial_s=0.01,
        retry_max_s=0.05,
        local_price_input_per_mtok=1.0,
    )
    emails = [json.loads(line)["email"] for line in (SAMPLES / "emails.jsonl").read_text().splitlines()[:3]]
    server_run = serve(settings)
    server = next(server_run)
    try:
        with server.client() as client:
            replies = [client.post("/v1/triage", json={"email": email}).json() for email in emails]
            assert client.post("/v1/triage", json={"email": {}}).status_code == 422
            text = client.get("/metrics").text
    finally:
        next(server_run, None)
    assert replies[0]["degraded"] and not replies[1]["degraded"]
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    yield names


def test_every_queried_metric_and_label_is_exposed_by_the_service(
    dashboard: dict[str, Any], scraped: dict[str, set[str]]
) -> None:
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            metrics = metric_names(target["expr"])
            assert metrics, f"{panel['title']}: no metric in {target['expr']}"
            missing = metrics - set(scraped)
            assert not missing, f"{panel['title']}: {missing} not in /metrics"
            available = set().union(*(scraped[name] for name in metrics))
            unknown = label_names(target["expr"]) - available
            assert not unknown, f"{panel['title']}: labels {unknown} not on {metrics}"
            legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend_labels <= label_names(target["expr"]), panel["title"]


# --- provisioning and the compose service ---------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host source of each volume."""
    mounts: dict[str, str] = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def test_grafana_runs_in_the_observability_profile_with_provisioning_mounted(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == ["observability"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    mounts = _mounts(grafana)
    assert (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve() == GRAFANA / "provisioning"
    assert mounts["/var/lib/grafana"] in compose["volumes"], "Grafana's database lives on a named volume"
    assert all(
        volume.endswith(":ro")
        for target, volume in zip(mounts, grafana["volumes"], strict=True)
        if target.startswith("/etc/")
    )
    [provider] = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))["providers"]
    dashboards_dir = provider["options"]["path"]
    assert (DEPLOY / mounts[dashboards_dir]).resolve() == DASHBOARD_FILE.parent
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD_FILE.name}"
    assert all(port.startswith("127.0.0.1:") for port in grafana["ports"])


def test_grafana_admin_password_comes_from_a_secret(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    environment = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    secret = environment["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert secret.startswith("/run/secrets/")
    assert secret.removeprefix("/run/secrets/") in grafana["secrets"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert environment["GF_USERS_ALLOW_SIGN_UP"] == "false"


def test_datasource_points_at_the_compose_prometheus(
    compose: dict[str, Any], datasource: dict[str, Any]
) -> None:
    prometheus = compose["services"]["prometheus"]
    port = prometheus["ports"][0].rsplit(":", 1)[1]
    assert datasource["url"] == f"http://prometheus:{port}"
    assert datasource["access"] == "proxy"
    assert datasource["isDefault"] is True
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    interval = scrape["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == interval, "$__rate_interval needs the scrape interval"
