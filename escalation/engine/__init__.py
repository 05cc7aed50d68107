"""The escalation engine: incidents, policies (model and file loader), calendars, rotations, the
timed stepper and the persisted outbox. May import channels, the audit trail and detector's model/state.
"""
