"""logwarden detector: files in, findings out (DESIGN §2): sources, parsing, detection, state.
May import only its own rooms; never `escalation` (the CLI root alone wires the two together).
"""

__version__ = "0.1.0"
