"""The text model that weighs in on the category: shipped trained on the dev split as it is, retrainable
to the same weights, fused with the rules as documented, and on the path a triage request takes."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import zlib
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live import LiveServer
from llmops.assistant.category_model import BUCKETS, CHAR_NGRAMS, CategoryModel, model_text, ngram_counts
from llmops.assistant.normalize import parse_email
from llmops.assistant.rules import (
    PHISHING_THRESHOLD,
    RULE_POINTS_PER_NAT,
    Scores,
    TriageContext,
    rule_suggestion,
)
from llmops.assistant.schema import Category
from llmops.evals.category_training import TRAINING_SPLIT, train_on
from llmops.evals.datasets import bundled_dataset_path, load_dataset

RETRAIN = "python -m llmops.evals.category_training"


def test_the_bundled_model_was_trained_on_the_dev_split_as_it_is() -> None:
    dev = load_dataset(bundled_dataset_path(TRAINING_SPLIT))
    assert CategoryModel.bundled().corpus_sha256 == dev.hash, f"the dev split changed: run `{RETRAIN}`"


def test_retraining_on_the_dev_split_reproduces_the_bundled_model() -> None:
    """Never on the test split; the golden set (not trained on) is the probe."""
    retrained = train_on(bundled_dataset_path(TRAINING_SPLIT))
    bundled = CategoryModel.bundled()
    for case in load_dataset(bundled_dataset_path()).cases[:20]:
        assert case.email is not None
        text = model_text(parse_email(case.email))
        expected = bundled.probabilities(text)
        for category, probability in retrained.probabilities(text).items():
            assert probability == pytest.approx(expected[category], abs=1e-3)


def _counted_one_by_one(text: str) -> dict[int, int]:
    """The features as documented, each n-gram hashed and counted on its own (no cache, no numpy)."""
    counts: Counter[int] = Counter()
    lowered = text.lower()
    for word in lowered.split():
        padded = f" {word} "
        for n in CHAR_NGRAMS:
            for start in range(len(padded) - n + 1):
                counts[zlib.crc32(padded[start : start + n].encode()) % BUCKETS] += 1
    words = re.findall(r"\w\w+", lowered)
    for key in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
        counts[BUCKETS + zlib.crc32(key.encode()) % BUCKETS] += 1
    return dict(counts)


@given(st.text(alphabet=st.sampled_from("ab cé\nÜß1-"), max_size=60) | st.text(max_size=40))
def test_the_cached_counting_finds_what_counting_one_by_one_finds(text: str) -> None:
    indices, counts = ngram_counts(text)
    assert list(indices) == sorted(indices)
    assert dict(zip(indices.tolist(), counts.tolist(), strict=True)) == _counted_one_by_one(text)


def test_probabilities_cover_every_category_and_sum_to_one() -> None:
    probabilities = CategoryModel.bundled().probabilities("")
    assert set(probabilities) == set(Category)
    assert math.fsum(probabilities.values()) == pytest.approx(1.0)


points = st.integers(min_value=0, max_value=80).map(lambda quarters: quarters / 4)  # the rules' steps
probability = st.floats(min_value=0.001, max_value=1.0, allow_nan=False)


@given(
    st.dictionaries(st.sampled_from(list(Category)), points), st.lists(probability, min_size=5, max_size=5)
)
def test_fusion_weighs_rule_points_against_the_models_log_odds(
    values: dict[Category, float], raw: list[float]
) -> None:
    scores = Scores()
    scores.values.update(values)
    probabilities = dict(zip(Category, (p / sum(raw) for p in raw), strict=True))
    fused = scores.best(probabilities)
    for other in Category:
        gained = (scores.values[fused] - scores.values[other]) / RULE_POINTS_PER_NAT
        assert gained + math.log(probabilities[fused] / probabilities[other]) >= -1e-9
    # a model without an opinion leaves the rules' choice; a strong phishing score wins over any model
    assert scores.best(dict.fromkeys(Category, 0.2)) is scores.best()
    scores.phishing = PHISHING_THRESHOLD
    assert scores.best(probabilities) is Category.SPAM


def test_a_triage_request_files_what_the_rules_and_the_model_agree_on(shared_server: LiveServer) -> None:
    """A candidate's start-date question in Spanish: the rules alone read it as news (`fyi`); with the
    model fused in, the served reply asks for action, as labelled."""
    dev = load_dataset(bundled_dataset_path(TRAINING_SPLIT)).cases
    case = next(c for c in dev if c.id == "dv-es-candidate-start-date")
    assert case.email is not None and case.expected.category is Category.ACTION_REQUIRED
    rules_alone = rule_suggestion(parse_email(case.email), TriageContext()).triage.category
    assert rules_alone is Category.FYI, "the rules file it right alone now: pick a case where they differ"
    with shared_server.client() as client:
        reply = client.post("/v1/triage", json={"email": case.email.model_dump(mode="json")})
    assert reply.status_code == 200, reply.text
    assert reply.json()["triage"]["category"] == "action_required"


def test_the_quality_benchmark_puts_the_rules_alone_beside_the_default_and_never_lists_a_test_case() -> None:
    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_triage_quality.py"
    run = subprocess.run(
        [sys.executable, str(bench), "--split", "test", "--limit", "10", "--rounds", "1", "--misses"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("test ")]
    assert any(row[1:5] == ["this", "tree,", "rules", "alone"] for row in rows), run.stdout
    assert any(row[1:3] == ["this", "tree"] and row[3].endswith("%") for row in rows), run.stdout
    assert "ts-" not in run.stdout


@pytest.mark.model
def test_the_quality_benchmark_runs_the_default_setup_with_the_local_model() -> None:
    """Two golden emails through the app with the real local model: the figures the issue's latency
    target is read from (p50/p95 per triage) come out, and nothing degrades."""
    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_triage_quality.py"
    arguments = ["--local-model", "--prompt-version", "email_triage_v2", "--split", "golden", "--limit", "2"]
    run = subprocess.run(
        [sys.executable, str(bench), *arguments],
        capture_output=True,
        text=True,
        timeout=1200,
        check=True,
    )
    row = next(line.split() for line in run.stdout.splitlines() if line.startswith("SmolLM2-135M-Instruct "))
    degraded, p50 = int(row[6]), float(row[7])
    assert degraded == 0 and p50 > 0, run.stdout
