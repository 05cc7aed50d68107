"""logwarden detector: ingestion, parsing, the checklist model, evaluation, correlation and state."""

__version__ = "0.1.0"
