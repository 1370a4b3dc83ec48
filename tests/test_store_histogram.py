"""The latency histogram: SQL and Python bucket alike, and quantiles land within one bucket."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Float, literal, select

from llmops.storage import histogram

durations = st.one_of(
    st.sampled_from([0.0, *histogram.BOUNDS_MS, 2e6]),
    st.floats(min_value=0, max_value=3e6, allow_nan=False),
)


def test_sql_bucketing_matches_python_including_bounds(migrated_engine: Engine) -> None:
    values = [0.0, 0.5, 1.0, 1.0000001, 5000.0, 1e7, *histogram.BOUNDS_MS]
    with migrated_engine.connect() as connection:
        for value in values:
            expression = histogram.bucket_expression(literal(value, Float()))
            assert connection.execute(select(expression)).scalar_one() == histogram.bucket_index(value), value


@given(durations)
def test_bucket_holds_its_value(value: float) -> None:
    index = histogram.bucket_index(value)
    assert 0 <= index < histogram.BUCKETS
    if index < len(histogram.BOUNDS_MS):
        assert value <= histogram.BOUNDS_MS[index]
    if index > 0:
        assert value > histogram.BOUNDS_MS[index - 1]


@settings(max_examples=60)
@given(
    st.lists(st.floats(min_value=1.5, max_value=500_000.0), min_size=20, max_size=400),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_quantile_is_within_one_bucket_of_the_exact_value(values: list[float], q: float) -> None:
    counts = [0] * histogram.BUCKETS
    for value in values:
        counts[histogram.bucket_index(value)] += 1
    estimate = histogram.quantile(counts, q)
    ordered = sorted(values)
    low, high = ordered[math.floor(q * (len(ordered) - 1))], ordered[math.ceil(q * (len(ordered) - 1))]
    step = 2 ** (1 / 3)
    assert estimate is not None
    assert low / step <= estimate <= high * step


def test_empty_histogram_has_no_quantile() -> None:
    assert histogram.quantile([0] * histogram.BUCKETS, 0.95) is None
