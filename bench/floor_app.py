"""The floor the hot-path benchmark compares llmops against: a minimal FastAPI + pydantic app that
parses the same triage body with the same model and answers a fixed reply of the same shape.

    python -m uvicorn floor_app:app --app-dir bench --port 9200
"""

from __future__ import annotations

from fastapi import FastAPI

from llmops.assistant.schema import Category, Triage, TriageReply, TriageRequest
from llmops.sdk import TokenUsage

app = FastAPI()

REPLY = Triage(category=Category.FYI, priority=3, summary="A fixed reply.")


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/triage")
async def triage(body: TriageRequest) -> TriageReply:
    return TriageReply(
        request_id="floor",
        triage=REPLY,
        prompt_version="floor",
        model="floor",
        provider="floor",
        usage=TokenUsage(input_tokens=len(body.email.body), output_tokens=0),
        latency_ms=0.0,
        retries=0,
        degraded=False,
    )
