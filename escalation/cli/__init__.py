"""The escalation side of the command line: `incidents`, `escalation`, `report`, `exercise`.
Thin click commands over the engine and reports; imported lazily by detector's CLI root.
"""
