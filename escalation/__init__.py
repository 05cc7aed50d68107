"""logwarden escalation: incidents, policies, calendars, the timed engine, channels, audit trail."""
