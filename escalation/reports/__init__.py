"""Reports for a security lead, computed from the state: escalation report and SAMM maturity evidence.
May import the engine, the audit trail and detector's model/config/state.

The escalation report (what was detected, who was told when,
who acted, what was missed) and the OWASP SAMM Incident Management maturity evidence, both
computed from the state database, never typed in. Builders return plain JSON-able documents;
`render` turns a document into JSON, Markdown or one self-contained HTML file."""
