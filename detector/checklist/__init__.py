"""The versioned checklist of attack scenarios: its model and its validating loader.
May import only the top modules (errors, yamlsafe, durations) and parsing's field names.
"""

from detector.checklist.loader import bundled_checklist_dir, load_checklist
from detector.checklist.model import Checklist, Correlation, Rule, Sample, Scenario

__all__ = ["Checklist", "Correlation", "Rule", "Sample", "Scenario", "bundled_checklist_dir", "load_checklist"]
