"""Attribute and span names: OpenTelemetry GenAI semantic conventions (v1.41) plus our `llmops.*`.

One module so the pipeline, the exporters, the store and the report agree on spelling.
"""

from __future__ import annotations

# GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHED_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"  # content: captured like messages
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"  # content: `[{id, score, …}]`
GEN_AI_RETRIEVAL_TOP_K = "gen_ai.retrieval.top_k"
RETRIEVAL_COUNT = "llmops.retrieval.documents"  # how many documents came back (not content)
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"  # the assistant (or ingested service) a request belongs to
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"  # the session a request belongs to
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  # noqa: S105 - an attribute name, not a secret
ERROR_TYPE = "error.type"

# OpenInference names accepted on ingest and mapped onto the ones above
OPENINFERENCE_ALIASES = {
    "llm.token_count.prompt": GEN_AI_USAGE_INPUT_TOKENS,
    "llm.token_count.completion": GEN_AI_USAGE_OUTPUT_TOKENS,
    "llm.model_name": GEN_AI_REQUEST_MODEL,
    "llm.provider": GEN_AI_PROVIDER_NAME,
    "tool.name": GEN_AI_TOOL_NAME,
}

# Ours
REQUEST_ID = "llmops.request_id"
CLIENT_REQUEST_ID = "llmops.client_request_id"
EVAL = "llmops.eval"  # on an eval case's root span: the request is not live traffic
SOURCE = "llmops.source"  # on a root span: `api`, `gateway` or `ingest` (the door the request came in by)
USER_ID = "llmops.user_id"
PROMPT_NAME = "llmops.prompt.name"
PROMPT_VERSION = "llmops.prompt.version"
PROMPT_HASH = "llmops.prompt.content_hash"
COST_USD = "llmops.cost.usd"
PRICE_SOURCE = "llmops.cost.price_source"
RETRY_COUNT = "llmops.retry.count"
DEGRADED = "llmops.degraded"
DEGRADED_REASON = "llmops.degraded.reason"
STEP = "llmops.step"
STATUS = "llmops.status"
LATENCY_MS = "llmops.latency_ms"
TOTAL_INPUT_TOKENS = "llmops.usage.input_tokens"
TOTAL_OUTPUT_TOKENS = "llmops.usage.output_tokens"
CATEGORY = "llmops.triage.category"
EMAIL_SUBJECT = "llmops.email.subject"
EMAIL_SENDER = "llmops.email.sender"
ROOT_SPAN_MARKER = "llmops.root"
CANARY = "llmops.canary"
MODEL_CALLS = "llmops.model_calls"
CACHE_HIT = "llmops.cache.hit"  # a gateway reply served from the response cache
GATEWAY_ALIAS = "llmops.gateway.alias"  # the alias that served a gateway call (after a model canary's split)

# Marks a request as an eval case (`llmops eval run --target`): it is served and budgeted like any
# other, but stored with source `eval`, outside reports, alerts and canary figures.
EVAL_HEADER = "X-LLMOps-Eval"

# Span names
ROOT_SPAN = "POST /v1/triage"
IN_PROCESS_ROOT_SPAN = "triage"  # a triage run by the CLI or the eval runner, without HTTP
TOOL_SPAN_PREFIX = "execute_tool "
PIPELINE_STEPS = ("parse_email", "retrieval", "execute_tool", "rule_suggestion", "chat", "validate_output")
