"""Canary releases of prompt versions: a live comparison of the two arms, and a controller that
promotes, rolls back or holds and records every decision. Routing lives in `llmops.prompts.router`."""
