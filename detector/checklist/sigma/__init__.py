"""Sigma rules (SigmaHQ and others) loaded as they are, through pySigma, as checklist scenarios.
May import the checklist model, pySigma, and the top modules (schema, yamlsafe); never detection.
"""

from detector.checklist.sigma.load import LOADED, OUT_OF_SCOPE, SKIPPED, Outcome, SigmaLoad, load_sigma
from detector.checklist.sigma.scenarios import LEVEL_PRIOR, STATUS_FACTOR, Defaults, confidence_prior

__all__ = [
    "LEVEL_PRIOR", "LOADED", "OUT_OF_SCOPE", "SKIPPED", "STATUS_FACTOR", "Defaults", "Outcome", "SigmaLoad",
    "confidence_prior", "load_sigma",
]
