"""The fixed, log-spaced latency histogram the rollup tables store as one count column per bucket.

Bucket `i` counts durations in `(BOUNDS_MS[i-1], BOUNDS_MS[i]]`; bucket 0 holds everything up to 1 ms
and the last bucket everything above ~17.5 minutes. Bounds grow by 2^(1/3) (~26 %), so a quantile read
from the histogram lands within one bucket of the truth and geometric interpolation usually gets it
within a few percent. The bounds are part of the stored format: changing them needs a migration.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import ColumnElement, case

BOUNDS_MS: tuple[float, ...] = tuple(2 ** (k / 3) for k in range(61))
BUCKETS = len(BOUNDS_MS) + 1
COLUMNS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(BUCKETS))


def bucket_index(duration_ms: float) -> int:
    return bisect_left(BOUNDS_MS, duration_ms)


@lru_cache(maxsize=16)
def bucket_expression(column: ColumnElement[float]) -> ColumnElement[int]:
    """The same bucketing as `bucket_index`, in SQL, for raw rows aggregated next to rollups; built
    once per column (building its 61 branches took ~10 ms, a good part of a small report)."""
    return case(*((column <= bound, index) for index, bound in enumerate(BOUNDS_MS)), else_=len(BOUNDS_MS))


def quantile(counts: Sequence[int], q: float) -> float | None:
    """Estimate the q-quantile (0..1) from bucket counts, interpolating geometrically inside a bucket.

    Returns None for an empty histogram. Values in the overflow bucket read as its lower bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count == 0 or seen + count < rank:
            seen += count
            continue
        if index >= len(BOUNDS_MS):
            return BOUNDS_MS[-1]
        fraction = min(max((rank - seen) / count, 0.0), 1.0)
        upper = BOUNDS_MS[index]
        if index == 0:
            return upper * fraction
        lower = BOUNDS_MS[index - 1]
        return float(lower * (upper / lower) ** fraction)
    return BOUNDS_MS[-1]
