"""The Support Desk: an example assistant for llmops, answering customers from a knowledge base and
order data with tools. `support_desk.assistant:assistant` is what llmops loads."""
