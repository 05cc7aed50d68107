"""logwarden escalation: findings → incidents → policy → timed levels → channels, audit trail, reports.
May import detector's model, errors, config and state; never its parsing or detection internals.
"""
