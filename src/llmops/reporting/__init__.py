"""The one query layer behind `llmops report`, the dashboard and its JSON API: reports, series,
request lists and traces, quality and alert views, all taking a `Window` and `Filters`."""
