"""The versioned checklist of attack scenarios: model, loader/validator, history."""

from .loader import bundled_checklist_dir, load_checklist
from .model import Checklist, Correlation, Rule, Sample, Scenario

__all__ = ["Checklist", "Correlation", "Rule", "Sample", "Scenario", "bundled_checklist_dir", "load_checklist"]
