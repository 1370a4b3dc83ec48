"""Schemathesis hooks for `test_openapi_fuzz.py` (loaded through `SCHEMATHESIS_HOOKS`).

`cursor` is an opaque token the API hands out (`next_cursor`); any other string is rightly refused
with 422, which schemathesis would report as a schema-valid value rejected. Leave it out of the
generated queries; the cursor's own tests cover it."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    """Runs before every call of every phase (generation hooks skip the coverage phase)."""
    if case.query:
        case.query.pop("cursor", None)
