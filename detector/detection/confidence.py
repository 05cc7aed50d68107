"""Finding confidence: the scenario's prior, raised by evidence beyond the threshold and by
corroboration from other scenarios on the same actor (noisy-OR), every step explained.

Monotone by construction: each term can only multiply the remaining doubt `1 - c` by a
factor <= 1, and a stored confidence is never lowered.
"""

from __future__ import annotations

import math
from datetime import timedelta

from detector.checklist.model import Checklist, Scenario
from detector.model import Finding, Peer

Rated = Finding | Peer  # what can be rated: a full finding or a stored one's summary

EXCESS_STEP_FACTOR = 0.8  # each doubling beyond the threshold removes 20 % of the doubt
MAX_EXCESS_STEPS = 4
SAME_KIND_WEIGHT = 0.5  # corroboration by another scenario reading the same log kind
OTHER_KIND_WEIGHT = 0.8  # ... by a scenario reading another log kind: independent evidence
CORROBORATION_WINDOW = timedelta(hours=24)


def _evidence_term(scenario: Scenario, finding: Rated) -> tuple[float, str | None]:
    """Doubt factor for evidence beyond the threshold, with its explanation."""
    if scenario.correlation is not None and scenario.correlation.type in ("temporal", "temporal_ordered"):
        return 1.0, None  # a sequence is as strong as its stages (below), not as its repeats
    observed = finding.count
    what = "events"
    if scenario.correlation is not None and scenario.correlation.type == "value_count":
        observed = int(finding.extra.get("distinct_values", finding.count))
        what = f"distinct {scenario.correlation.value_field} values"
    factor = _excess_factor(scenario.threshold, observed)
    if factor == 1.0:
        return 1.0, None
    threshold = scenario.threshold
    return factor, f"{observed} {what}, {observed / threshold:.1f}x the threshold of {threshold}"


def _excess_factor(threshold: int, observed: int) -> float:
    if observed < 2 * threshold:
        return 1.0
    return EXCESS_STEP_FACTOR ** min(int(math.log2(observed / threshold)), MAX_EXCESS_STEPS)


def _stage_strength(stage: Scenario, events: int) -> float:
    """What a chain's stage says on its own: the stage scenario's prior, raised by the evidence
    beyond its threshold among the events the chain holds (one stray scanner hit is weak, a
    burst of them is not)."""
    return 1 - (1 - stage.confidence) * _excess_factor(stage.threshold, events)


# Entity fields that say where something happened, not who did it: every finding on a host
# shares its name, so sharing only these corroborates nothing (one account's sudo failures say
# nothing about another account's root shell on the same machine).
CONTEXT_FIELDS = frozenset({"host.name", "host.hostname", "service.name"})


class _SharedEntity:
    """The entity values another finding shares with `finding` that let it corroborate: at
    least one of the finding's actor fields (its entity minus CONTEXT_FIELDS; all of them when
    its entity is only context, e.g. a host). Empty: no corroboration. Set up once per finding,
    asked once per peer."""

    def __init__(self, finding: Rated, scenario: Scenario | None) -> None:
        self.items = sorted(finding.entity.items())
        fields = scenario.entity if scenario is not None else tuple(finding.entity)
        self.actors = [f for f in fields if f not in CONTEXT_FIELDS]

    def __call__(self, other: Rated) -> dict[str, str]:
        entity = other.entity
        shared = {k: v for k, v in self.items if entity.get(k) == v}
        if self.actors and not any(f in shared for f in self.actors):
            return {}
        return shared


def _overlaps(a: Rated, b: Rated) -> bool:
    return a.first_seen - CORROBORATION_WINDOW <= b.last_seen and b.first_seen <= a.last_seen + CORROBORATION_WINDOW


def compute(finding: Rated, checklist: Checklist, others: list[Peer]) -> tuple[float, tuple[str, ...]]:
    """Confidence and reasons of `finding` given other findings sharing an entity value."""
    scenario = checklist.scenario(finding.scenario_id)
    prior = scenario.confidence if scenario else finding.confidence
    confidence = prior
    reasons = [f"prior {prior:.2f} of scenario {finding.scenario_id} v{finding.scenario_version}"]
    if scenario is not None:
        factor, why = _evidence_term(scenario, finding)
        if why:
            raised = 1 - (1 - confidence) * factor
            reasons.append(f"+{raised - confidence:.2f}: {why}")
            confidence = raised
    stages = dict(finding.extra.get("stages", {}))
    for stage_id, events in sorted(stages.items()):
        # a chain holds the findings of its stages: each one is independent evidence (noisy-OR)
        stage = checklist.scenario(stage_id)
        if stage is None:
            continue
        strength = _stage_strength(stage, int(events))
        raised = 1 - (1 - confidence) * (1 - strength)
        reasons.append(f"+{raised - confidence:.2f}: stage {stage_id} of the chain ({events} events, {strength:.2f})")
        confidence = raised
    # the strongest corroboration per other scenario: (strength, the peer, shared values, independent)
    best: dict[str, tuple[float, Rated, dict[str, str], bool]] = {}
    shared_with = _SharedEntity(finding, scenario)
    for other in others:
        if other.scenario_id == finding.scenario_id or other.exercise != finding.exercise:
            continue
        if other.scenario_id in stages:
            continue  # counted as a stage
        if not _overlaps(finding, other):
            continue
        shared_values = shared_with(other)
        if not shared_values:
            continue
        other_scenario = checklist.scenario(other.scenario_id)
        other_prior = other_scenario.confidence if other_scenario else other.confidence
        independent = not set(other.log_kinds) & set(finding.log_kinds)
        weight = OTHER_KIND_WEIGHT if independent else SAME_KIND_WEIGHT
        strength = weight * other_prior
        if strength > (best[other.scenario_id][0] if other.scenario_id in best else 0.0):
            best[other.scenario_id] = (strength, other, shared_values, independent)
    for scenario_id in sorted(best):
        strength, other, shared_values, independent = best[scenario_id]
        shared = ", ".join(f"{k}={v}" for k, v in shared_values.items())
        kinds = "/".join(other.log_kinds) or "?"
        why = f"corroborated by {scenario_id} ({kinds}{', another log kind' if independent else ''}) on {shared}"
        raised = 1 - (1 - confidence) * (1 - strength)
        reasons.append(f"+{raised - confidence:.2f}: {why}")
        confidence = raised
    return min(confidence, 0.999), tuple(reasons)
