"""The OWASP CRS as a rule set: read SecRule files with msc-pyparser, keep what access logs can feed.
May import only the top modules (errors, yamlsafe) and pyarrow (RE2 checks); never detection."""

from detector.checklist.crs.loader import load_crs
from detector.checklist.crs.model import (
    Condition,
    CrsRule,
    CrsRuleSet,
    CrsSettings,
    Skipped,
    Variable,
)

__all__ = ["Condition", "CrsRule", "CrsRuleSet", "CrsSettings", "Skipped", "Variable", "load_crs"]
