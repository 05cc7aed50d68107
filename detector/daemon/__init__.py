"""The watcher daemon (`logwarden watch`): the loop around `run_scan`, its metrics, health endpoint and log.
May import every detector room; the escalation side reaches it only through a callback.
"""
