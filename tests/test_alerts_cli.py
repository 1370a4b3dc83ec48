"""`llmops alerts list|test|history` as a user runs them, plus the rules file and signature checks."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from fakes.webhook_receiver import WebhookReceiver
from llmops.alerts.notifiers import sign, verify_signature
from llmops.alerts.rules import DEFAULT_RULES, load_rules
from processes import cli_env, run_llmops

SECRET = "whsec_cli_test"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_llmops(cli_env(tmp_path, COLUMNS="200", **env), "alerts", *args)


def test_alerts_test_list_and_history(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        sent = _run(
            tmp_path,
            "test",
            "error_rate",
            LLMOPS_ALERT_WEBHOOK_URL=receiver.url,
            LLMOPS_ALERT_WEBHOOK_SECRET=SECRET,
        )
        assert sent.returncode == 0, sent.stderr
        assert "webhook: delivered after 1 attempt(s)" in sent.stdout and "log: delivered" in sent.stdout
        [request] = receiver.received()
        headers = request.headers
        assert verify_signature(
            SECRET, headers["X-Llmops-Timestamp"], request.body, headers["X-Llmops-Signature"]
        )
        assert request.json()["event"] == "test" and request.json()["rule"] == "error_rate"
        assert SECRET not in sent.stdout + sent.stderr

    listed = _run(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    for rule in DEFAULT_RULES:
        assert rule.name in listed.stdout
    history = _run(tmp_path, "history", "--rule", "error_rate", "--limit", "5")
    assert history.returncode == 0 and "test" in history.stdout and "yes" in history.stdout


def test_alerts_test_exits_1_when_the_webhook_is_dead_and_2_for_unknown_rules(tmp_path: Path) -> None:
    dead = _run(tmp_path, "test", LLMOPS_ALERT_WEBHOOK_URL="http://127.0.0.1:9/dead")
    assert dead.returncode == 1 and "webhook: NOT delivered (ConnectError)" in dead.stdout
    assert _run(tmp_path, "test", "no_such_rule").returncode == 2


def test_rules_file_and_its_errors(tmp_path: Path) -> None:
    assert load_rules("") == list(DEFAULT_RULES)
    good = tmp_path / "rules.json"
    good.write_text('{"rules": [{"name": "slow", "kind": "latency_p95", "floor_ms": 800, "window_s": 120}]}')
    [rule] = load_rules(str(good))
    assert (rule.name, rule.floor_ms, rule.window_s, rule.min_requests) == ("slow", 800, 120, 20)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, kind: nope, threshold: -1}\n")
    with pytest.raises(ValueError, match=r"rules\.0\.kind.*rules\.0\.threshold"):
        load_rules(str(bad))
    listed = _run(tmp_path, "list", LLMOPS_ALERT_RULES=str(bad))
    assert listed.returncode == 2 and "invalid alert rules file" in listed.stderr


def test_signature_rejects_replays_and_tampering() -> None:
    body, now = b'{"rule":"x"}', time.time()
    stamp = str(int(now))
    signature = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, stamp, body, signature, now=now)
    assert not verify_signature(SECRET, stamp, body, signature, now=now + 301)
    assert not verify_signature(SECRET, str(int(now) + 1), body, signature, now=now)
    assert not verify_signature(SECRET, "not-a-time", body, signature, now=now)


def test_eval_compare_hook_fires_then_resolves_through_the_webhook(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from llmops.alerts.setup import notify_eval_regression
    from llmops.config import Settings
    from llmops.evals.compare import compare_runs
    from llmops.redaction import Redactor
    from llmops.storage.db import make_engine
    from llmops.storage.migrate import upgrade
    from test_evals_compare import make_run

    ids = [f"case-{i}" for i in range(10)]
    baseline = make_run(dict.fromkeys(ids, 1.0), critical={"case-1"}, version="v7", run_id="a")
    worse = make_run(dict.fromkeys(ids, 1.0) | {"case-1": 0.0}, critical={"case-1"}, version="v8", run_id="b")
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with WebhookReceiver() as receiver:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, alert_webhook_url=receiver.url, alert_webhook_secret=SecretStr(SECRET)
        )
        fixed = make_run(dict.fromkeys(ids, 1.0), critical={"case-1"}, version="v8", run_id="c")
        [fired] = notify_eval_regression(settings, engine, Redactor(), compare_runs(baseline, worse))
        # A sanity compare of v7 with itself is not the pair that fired: the alert keeps firing.
        assert notify_eval_regression(settings, engine, Redactor(), compare_runs(baseline, baseline)) == []
        [resolved] = notify_eval_regression(settings, engine, Redactor(), compare_runs(baseline, fixed))
        assert (fired.kind, fired.delivered, resolved.kind) == ("firing", True, "resolved")
        assert [r.json()["event"] for r in receiver.received()] == ["firing", "resolved"]
    engine.dispose()
