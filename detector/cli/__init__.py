"""The command line (DESIGN §9): thin click commands that parse options, call the library, print views.
The one place that may import both `detector` and `escalation`.
"""

from detector.cli.root import cli, main

__all__ = ["cli", "main"]
