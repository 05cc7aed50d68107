"""Realistic synthetic logs: one module per log family, driven by `engine.stream`.

Used by `bench/generate_logs.py` (the command line and the `generate`/`write` API)."""
