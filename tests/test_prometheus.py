"""Prometheus reads our metrics right: counters exist at 0 before their first event, `/metrics` and the
shipped rules pass promtool, and a real Prometheus scraping a live server counts every retry.

promtool and prometheus come from Debian's `prometheus` package (`make test` installs it when root);
the tests that need them are skipped with a reason when they are absent.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live import LiveServer

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "llmops.json"
EMAIL = {"sender": "a@example.com", "recipients": ["b@example.com"], "subject": "Hello", "body": "Lunch?"}

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus not installed (apt-get install prometheus)"
)


def _scrape(server: LiveServer) -> str:
    with server.client() as client:
        reply = client.get("/metrics")
    assert reply.status_code == 200
    return reply.text


def _values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_fixed_label_counters_exist_at_zero_before_any_event(live_server: Callable[..., LiveServer]) -> None:
    text = _scrape(live_server(fallback_providers=["local"]))
    retries = _values(text, "llmops_retries_total")
    providers = {dict(labels)["gen_ai_provider_name"] for labels in retries}
    error_types = {dict(labels)["error_type"] for labels in retries}
    assert providers == {"scripted", "local"}
    assert error_types == {"timeout", "connect_error", "rate_limited", "server_error"}
    assert set(retries.values()) == {0.0}
    degraded = _values(text, "llmops_degraded_total")
    assert {dict(labels)["llmops_degraded_reason"] for labels in degraded} == {
        "providers_failed",
        "invalid_output",
    }
    errors = _values(text, "llmops_errors_total")
    assert {"rate_limited", "server_error", "timeout"} <= {dict(labels)["error_type"] for labels in errors}


@needs_promtool
def test_shipped_rules_pass_promtool() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_metrics_output_passes_promtool(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="429*3")
    with server.client() as client:
        assert client.post("/v1/triage", json={"email": EMAIL}).status_code == 200
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=_scrape(server), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[LiveServer], str]]:
    """Start a real Prometheus scraping a live server every second; yields a starter returning its URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(server: LiveServer) -> str:
        port = _free_port()
        (tmp_path / "token").write_text(server.key)
        target = server.base_url.removeprefix("http://")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "llmops",
                    "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")},
                    "static_configs": [{"targets": [target]}],
                }
            ],
        }
        (tmp_path / "prometheus.yml").write_text(json.dumps(config))
        log = (tmp_path / "prometheus.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def _query(url: str, expr: str) -> list[dict]:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def _scraped_once_more(url: str, after: float) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = _query(url, 'timestamp(up{job="llmops"})')
        if result and float(result[0]["value"][1]) > after + 1:
            return
        time.sleep(0.3)
    raise AssertionError("prometheus did not scrape again")


@needs_prometheus
def test_real_prometheus_sees_every_retry_and_dashboard_queries_return_zero(
    live_server: Callable[..., LiveServer], database_url: str, prometheus: Callable[[LiveServer], str]
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("metrics do not depend on the database")
    server = live_server(scripted_faults="429*9", max_retries=2, breaker_failure_threshold=100)  # no breaker
    url = prometheus(server)
    _scraped_once_more(url, time.time())  # the counters' zero is scraped before any event
    assert _query(url, "sum(llmops_retries_total)")[0]["value"][1] == "0"
    for expr in _dashboard_exprs():  # before any traffic: 0, never "No data"
        if "or vector(0)" in expr:
            assert _query(url, expr), expr
    with server.client() as client:
        for _ in range(3):  # 3 attempts each, all rate limited: 2 retries + a degraded reply each
            assert client.post("/v1/triage", json={"email": EMAIL}).json()["degraded"]
        for _ in range(2):
            assert client.post("/v1/triage", json={"email": EMAIL}).status_code == 200
    _scraped_once_more(url, time.time())
    _scraped_once_more(url, time.time())
    retries = float(_query(url, "sum(increase(llmops_retries_total[10m]))")[0]["value"][1])
    degraded = float(_query(url, "sum(increase(llmops_degraded_total[10m]))")[0]["value"][1])
    assert 6 <= retries < 7, retries  # increase() extrapolates a little past the samples, never short
    assert 3 <= degraded < 3.5, degraded
    ratio = _query(url, _dashboard_exprs_by_title()["HTTP error ratio"].replace("$__range", "10m"))
    assert float(ratio[0]["value"][1]) == 0.0


def _dashboard_exprs_by_title() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [
        p for row in dashboard["panels"] for p in ([row] if row["type"] != "row" else row.get("panels", []))
    ]
    return {panel["title"]: panel["targets"][0]["expr"] for panel in panels if panel.get("targets")}


def _dashboard_exprs() -> list[str]:
    return [
        expr.replace("$__range", "10m").replace("$__rate_interval", "1m")
        for expr in _dashboard_exprs_by_title().values()
    ]
