"""Attribute names ingest understands, and how each maps onto the GenAI semconv (v1.41) names we store.

Three instrumentation families send LLM traces over OTLP, each with its own spelling:
- OpenTelemetry GenAI semantic conventions: v1.41 (`gen_ai.input.messages` in the `parts` shape,
  `gen_ai.provider.name`) and older releases (`gen_ai.system`, `gen_ai.usage.prompt_tokens`, indexed
  `gen_ai.prompt.0.content` attributes, `gen_ai.content.prompt` events);
- OpenInference (Arize Phoenix): `openinference.span.kind`, `llm.model_name`, `llm.token_count.*`,
  `llm.input_messages.0.message.content`, `input.value`, `session.id`, `user.id`;
- OpenLLMetry (Traceloop): `traceloop.span.kind`, `llm.request.type`, `traceloop.association.properties.*`.

Everything is renamed onto one vocabulary (`llmops.telemetry.conventions`) so the store, the reports,
the waterfall and `eval mine` read ingested spans exactly like llmops' own. One module, so a new
spelling is one line here.
"""

from __future__ import annotations

from llmops.telemetry import conventions as c

# Resource attributes naming the service, i.e. the `assistant` dimension (the first one set wins).
OPENINFERENCE_PROJECT_NAME = "openinference.project.name"
SERVICE_NAME = "service.name"
ASSISTANT_RESOURCE_KEYS = (OPENINFERENCE_PROJECT_NAME, SERVICE_NAME)
UNKNOWN_SERVICE = "unknown_service"

# Where the model call went (semconv `server.address`): tells OpenAI's own API from a compatible host.
SERVER_ADDRESS = "server.address"
HTTP_STATUS = "http.response.status_code"

# OpenInference
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
OPENINFERENCE_INPUT_MESSAGES = "llm.input_messages."  # + `{i}.message.role` / `.message.content`
OPENINFERENCE_OUTPUT_MESSAGES = "llm.output_messages."
OPENINFERENCE_MESSAGE_ROLE = "message.role"
OPENINFERENCE_MESSAGE_CONTENT = "message.content"

# OpenLLMetry (Traceloop)
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
LLM_REQUEST_TYPE = "llm.request.type"

# Older GenAI semconv: indexed message attributes (also what OpenLLMetry emits) and content events.
LEGACY_PROMPT_PREFIX = "gen_ai.prompt."  # + `{i}.role` / `{i}.content`
LEGACY_COMPLETION_PREFIX = "gen_ai.completion."
LEGACY_PROMPT_EVENT = "gen_ai.content.prompt"
LEGACY_COMPLETION_EVENT = "gen_ai.content.completion"
LEGACY_PROMPT_ATTRIBUTE = "gen_ai.prompt"
LEGACY_COMPLETION_ATTRIBUTE = "gen_ai.completion"

# Renames onto the stored vocabulary; when both spellings are present the canonical one wins.
ALIASES: dict[str, str] = {
    # OpenInference
    "llm.model_name": c.GEN_AI_REQUEST_MODEL,
    "llm.provider": c.GEN_AI_PROVIDER_NAME,
    "llm.system": c.GEN_AI_PROVIDER_NAME,
    "llm.token_count.prompt": c.GEN_AI_USAGE_INPUT_TOKENS,
    "llm.token_count.completion": c.GEN_AI_USAGE_OUTPUT_TOKENS,
    "llm.token_count.prompt_details.cache_read": c.GEN_AI_USAGE_CACHED_INPUT_TOKENS,
    "llm.prompt_template.version": c.PROMPT_VERSION,
    "tool.name": c.GEN_AI_TOOL_NAME,
    "session.id": c.GEN_AI_CONVERSATION_ID,
    "user.id": c.USER_ID,
    # Older GenAI semconv and OpenLLMetry
    "gen_ai.system": c.GEN_AI_PROVIDER_NAME,
    "gen_ai.usage.prompt_tokens": c.GEN_AI_USAGE_INPUT_TOKENS,
    "gen_ai.usage.completion_tokens": c.GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens": c.GEN_AI_USAGE_CACHED_INPUT_TOKENS,
    "traceloop.association.properties.session_id": c.GEN_AI_CONVERSATION_ID,
    "traceloop.association.properties.user_id": c.USER_ID,
    "enduser.id": c.USER_ID,
}

# Span kinds of each family → `gen_ai.operation.name` (set only when the span has none).
OPERATION_OF_OPENINFERENCE_KIND = {
    "LLM": "chat",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "EMBEDDING": "embeddings",
    "RETRIEVER": "retrieval",
}
OPERATION_OF_TRACELOOP_KIND = {"tool": "execute_tool", "agent": "invoke_agent"}
OPERATION_OF_LLM_REQUEST_TYPE = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}

# Operations that are a model call (their usage is summed into the request row).
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

# OTLP enums → the names the store uses (the SDK's `SpanKind` / `StatusCode` names).
SPAN_KINDS = ("INTERNAL", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")  # 0 = unspecified
STATUS_CODES = ("UNSET", "OK", "ERROR")
SPAN_KIND_NAMES = {f"SPAN_KIND_{name}": index for index, name in enumerate(("UNSPECIFIED", *SPAN_KINDS[1:]))}
STATUS_CODE_NAMES = {f"STATUS_CODE_{name}": index for index, name in enumerate(STATUS_CODES)}

# OTLP span flags (bits 8 and 9): whether the parent's remoteness is known, and whether it is remote.
FLAG_CONTEXT_HAS_IS_REMOTE = 0x100
FLAG_CONTEXT_IS_REMOTE = 0x200
