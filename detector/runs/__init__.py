"""Runs: the library calls that drive the pipeline once (`run_scan` for cron and daemon, the
scenario sample tests of `rules test`). May import every detector room but the CLI and daemon.
"""
