"""llmops: deploy an LLM assistant over HTTP and make it observable and safe to change."""

__version__ = "0.1.0"
