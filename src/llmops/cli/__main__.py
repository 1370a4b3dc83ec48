from llmops.cli import app

app()
