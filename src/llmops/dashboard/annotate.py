"""The annotation page (`/annotate`): label the requests most worth adding to the eval set, as
`llmops eval label` does, into a dataset stored in the database (`llmops.evals.case_store`), so labels
made on every replica land in one place; `llmops eval export NAME` writes it as a file.

A submitted form names a case and its expectations only: the case itself is rebuilt on the server
from the stored trace, so nobody can write an email into a dataset through the form. Like every page it
needs a session, and like every form a CSRF token. A bad value answers 400 naming the field, never
echoing it."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from llmops.dashboard import annotate_view
from llmops.dashboard.auth import CSRF_FIELD, check_csrf, form_fields
from llmops.dashboard.routes import SignedIn, render
from llmops.evals.case_store import add_case
from llmops.evals.datasets import DatasetError
from llmops.evals.labelling import CATEGORIES, Correction, LabelError, labelled, make_label
from llmops.service import Services, services_of

router = APIRouter(include_in_schema=False)


@router.get("/annotate")
async def annotate_page(
    request: Request,
    session: SignedIn,
    dataset: str = annotate_view.DEFAULT_DATASET,
    added: str | None = None,
) -> Response:
    services = services_of(request)
    try:
        data = await asyncio.to_thread(
            annotate_view.queue, services.engine, services.redactor, dataset, added
        )
    except (ValueError, DatasetError, LabelError) as exc:
        return render(request, "error.html", session, 400, message=_message(exc))
    return render(
        request,
        "annotate.html",
        session,
        data=data,
        categories=CATEGORIES,
        page="annotate",
    )


@router.post("/annotate")
async def annotate(request: Request, session: SignedIn) -> Response:
    fields = await form_fields(request)
    check_csrf(session.csrf, fields.get(CSRF_FIELD))
    name = fields.get("dataset", annotate_view.DEFAULT_DATASET)
    case_id = fields.get("case_id", "")
    corrections = [
        Correction(case_id, "category", fields.get("category", "")),
        Correction(
            case_id, "priority", f"{fields.get('priority_low', '')}-{fields.get('priority_high', '')}"
        ),
        Correction(case_id, "critical", "true" if fields.get("critical") else "false"),
    ]
    services = services_of(request)
    if fields.get("must_contain", "").strip():
        # typed text is stored in the database: masked like the case itself (and the replies it is checked in)
        phrase = services.redactor.redact(fields["must_contain"])
        corrections.append(Correction(case_id, "must_contain", phrase))
    by = f"dashboard key {session.key_fingerprint}"
    try:
        added = await asyncio.to_thread(_label, services, name, case_id, corrections, by)
    except (ValueError, DatasetError, LabelError) as exc:
        return render(request, "error.html", session, 400, message=_message(exc))
    if not added:
        return render(request, "error.html", session, 404, message="That case is not waiting for a label.")
    return RedirectResponse("/annotate?" + urlencode({"dataset": name, "added": case_id}), status_code=303)


def _label(services: Services, name: str, case_id: str, corrections: list[Correction], by: str) -> bool:
    """Label the queued case `case_id` and store it in the named dataset; False when no such case
    waits for a label (or another replica stored it meanwhile)."""
    queued = annotate_view.candidates(services.engine, services.redactor, name)
    case = next((case for case in queued if case.id == case_id), None)
    if case is None:
        return False
    return add_case(services.engine, name, labelled(case, make_label(case, False, corrections)), by=by)


def _message(exc: Exception) -> str:
    """What was wrong, by field: a label error's detail (without the submitted case id), a dataset
    error's first line (the stored file's line and field)."""
    text = exc.detail if isinstance(exc, LabelError) else str(exc)
    return text.splitlines()[0][:300] if text else "That label cannot be saved."
