"""The escalation policy as values: which policy an incident gets, whom each level notifies.

`PolicySet` is one loaded policy file (see `policyfile.load_policy`). When an incident opens,
`PolicySet.select` picks the first matching policy and `freeze`s it: the result carries
everything the engine needs later (calendar, levels, the contacts and rotations it names),
so editing the file never changes an escalation already under way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from detector.model import SEVERITIES, severity_rank
from escalation.channels.notification import Channel
from escalation.engine.calendar import BUSINESS, Calendar
from escalation.engine.rotation import Rotation

GROUP_BY_FIELDS = ("scenario", "entity")
AFTER_HOURS_MODES = ("notify", "hold")
DEFAULT_STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Facts:
    """What policies are matched on: the incident's current aggregate."""

    severity: str
    confidence: float
    scenarios: tuple[str, ...]
    attack: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    exercise: bool = False
    stale: bool = False  # the newest evidence is older than the policy file's `stale_after`


def _glob_any(values: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(value, pattern) for value in values for pattern in patterns)


def _attack_any(ids: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """`T1110` also matches its sub-techniques (`T1110.001`); globs work as well."""
    return any(
        fnmatchcase(value, pattern) or value.startswith(pattern + ".") for value in ids for pattern in patterns
    )


@dataclass(frozen=True)
class Match:
    """Conditions of one policy; all given conditions must hold (minimums for severity/confidence)."""

    severity: str | None = None
    confidence: float | None = None
    scenarios: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    exercise: bool | None = None
    stale: bool | None = None  # true: only stale incidents; otherwise only fresh ones

    def matches(self, facts: Facts) -> bool:
        if facts.stale != bool(self.stale):  # old evidence pages only where a policy asks for it
            return False
        if self.severity is not None and severity_rank(facts.severity) < severity_rank(self.severity):
            return False
        if self.confidence is not None and round(facts.confidence, 6) < self.confidence:
            return False
        if self.scenarios and not _glob_any(facts.scenarios, self.scenarios):
            return False
        if self.attack and not _attack_any(facts.attack, self.attack):
            return False
        if self.applications and not _glob_any(facts.applications, self.applications):
            return False
        if self.exercise is not None and facts.exercise != self.exercise:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "confidence": self.confidence,
            "scenarios": list(self.scenarios),
            "attack": list(self.attack),
            "applications": list(self.applications),
            "exercise": self.exercise,
            "stale": self.stale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Match":
        return cls(
            severity=data.get("severity"),
            confidence=data.get("confidence"),
            scenarios=tuple(data.get("scenarios", ())),
            attack=tuple(data.get("attack", ())),
            applications=tuple(data.get("applications", ())),
            exercise=data.get("exercise"),
            stale=data.get("stale"),
        )


@dataclass(frozen=True)
class Target:
    """A contact or a rotation, and the channels it is reached on."""

    name: str
    rotation: bool
    channels: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rotation": self.rotation, "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Target":
        return cls(data["name"], bool(data["rotation"]), tuple(data["channels"]))


@dataclass(frozen=True)
class Level:
    wait: timedelta  # how long to wait for an acknowledgement before the next level fires
    business_hours: tuple[Target, ...]
    after_hours: tuple[Target, ...] = ()  # empty: the business-hours targets, around the clock

    def targets(self, day_class: str) -> tuple[Target, ...]:
        if day_class == BUSINESS or not self.after_hours:
            return self.business_hours
        return self.after_hours

    def to_dict(self) -> dict[str, Any]:
        return {
            "wait_seconds": int(self.wait.total_seconds()),
            "business_hours": [t.to_dict() for t in self.business_hours],
            "after_hours": [t.to_dict() for t in self.after_hours],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Level":
        return cls(
            wait=timedelta(seconds=int(data["wait_seconds"])),
            business_hours=tuple(Target.from_dict(t) for t in data["business_hours"]),
            after_hours=tuple(Target.from_dict(t) for t in data["after_hours"]),
        )


@dataclass(frozen=True)
class Policy:
    """One entry of `policies:`."""

    name: str
    match: Match
    calendar: Calendar
    after_hours: str  # notify: page now with the after-hours targets; hold: digest at business start
    levels: tuple[Level, ...]
    repeat: int = 0  # how many times the whole path restarts after its last level
    on_exhausted: tuple[Target, ...] = ()
    ack_timeout: timedelta | None = None  # an acknowledged incident re-escalates after this

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": self.match.to_dict(),
            "calendar": self.calendar.to_dict(),
            "after_hours": self.after_hours,
            "levels": [level.to_dict() for level in self.levels],
            "repeat": self.repeat,
            "on_exhausted": [t.to_dict() for t in self.on_exhausted],
            "ack_timeout_seconds": int(self.ack_timeout.total_seconds()) if self.ack_timeout else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Policy":
        ack = data.get("ack_timeout_seconds")
        return cls(
            name=data["name"],
            match=Match.from_dict(data["match"]),
            calendar=Calendar.from_dict(data["calendar"]),
            after_hours=data["after_hours"],
            levels=tuple(Level.from_dict(level) for level in data["levels"]),
            repeat=int(data["repeat"]),
            on_exhausted=tuple(Target.from_dict(t) for t in data["on_exhausted"]),
            ack_timeout=timedelta(seconds=int(ack)) if ack else None,
        )

    def targets(self) -> list[Target]:
        found = [t for level in self.levels for t in (*level.business_hours, *level.after_hours)]
        return found + list(self.on_exhausted)


@dataclass(frozen=True)
class Recipient:
    """One message to send: a person (contact), how they were chosen, where to reach them."""

    target: str  # contact name
    via: str | None  # the rotation that put them on call, if any
    channel: str
    address: str | None  # the contact's address for that channel, if the file gives one


@dataclass(frozen=True)
class FrozenPolicy:
    """A policy plus the contacts and rotations it names, as stored with an incident."""

    policy: Policy
    contacts: dict[str, dict[str, str]]  # contact -> channel name or kind -> address
    rotations: dict[str, Rotation]
    channel_kinds: dict[str, str]  # channel name -> kind (addresses may be keyed by kind)
    source: str
    content_hash: str
    reach: dict[str, tuple[str, ...]] = field(default_factory=dict)  # contact -> own channels


    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def calendar(self) -> Calendar:
        return self.policy.calendar

    def address(self, contact: str, channel: str) -> str | None:
        return contact_address(self.contacts.get(contact, {}), channel, self.channel_kinds.get(channel))

    def recipients(self, targets: tuple[Target, ...], at: datetime) -> tuple[Recipient, ...]:
        """Who gets which message at `at`: rotations resolve to whoever is on call then."""
        found: list[Recipient] = []
        for target in targets:
            person, via = target.name, None
            if target.rotation:
                via, person = target.name, self.rotations[target.name].on_call(at)
            # a target without channels (a rotation) reaches whoever it names on their own channels
            for channel in target.channels or self.reach.get(person, ()):
                recipient = Recipient(person, via, channel, self.address(person, channel))
                if recipient not in found:
                    found.append(recipient)
        return tuple(found)

    def to_json(self) -> str:
        return json.dumps(
            {
                "policy": self.policy.to_dict(),
                "contacts": self.contacts,
                "rotations": {name: r.to_dict() for name, r in self.rotations.items()},
                "channel_kinds": self.channel_kinds,
                "source": self.source,
                "content_hash": self.content_hash,
                "reach": {name: list(channels) for name, channels in self.reach.items()},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "FrozenPolicy":
        data = json.loads(text)
        return cls(
            policy=Policy.from_dict(data["policy"]),
            contacts={k: dict(v) for k, v in data["contacts"].items()},
            rotations={k: Rotation.from_dict(v) for k, v in data["rotations"].items()},
            channel_kinds=dict(data["channel_kinds"]),
            source=data["source"],
            content_hash=data["content_hash"],
            reach={k: tuple(v) for k, v in data.get("reach", {}).items()},
        )


def contact_address(addresses: dict[str, str], channel: str, kind: str | None) -> str | None:
    """A contact's address for a channel: keyed by the channel's name, else by its kind."""
    if channel in addresses:
        return addresses[channel]
    return addresses.get(kind) if kind else None


@dataclass(frozen=True)
class Delivery:
    """How the outbox treats one channel: retry backoff, when to give up, where to fall back."""

    give_up_after: timedelta = timedelta(hours=1)
    retry_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(minutes=15)
    fallback: str | None = None

    def backoff(self, attempt: int) -> timedelta:
        """Delay after failed attempt number `attempt` (1-based): doubling, capped."""
        seconds = self.retry_backoff.total_seconds() * (2 ** max(0, attempt - 1))
        return timedelta(seconds=min(seconds, self.max_backoff.total_seconds()))


@dataclass(frozen=True)
class PolicySet:
    """One loaded, validated policy file with its channels built."""

    source: str
    content_hash: str
    group_by: tuple[str, ...]
    reopen_window: timedelta
    default_calendar: Calendar
    calendars: dict[str, Calendar]
    contacts: dict[str, dict[str, str]]
    rotations: dict[str, Rotation]
    channels: dict[str, Channel]
    delivery: dict[str, Delivery]
    policies: tuple[Policy, ...]
    default_delivery: Delivery = field(default_factory=Delivery)
    reach: dict[str, tuple[str, ...]] = field(default_factory=dict)  # contact -> its `channels:`
    # evidence whose newest event is older than this is recorded but matches only `stale: true`
    # policies (a first run over a backlog must not page for last month); None: never stale
    stale_after: timedelta | None = DEFAULT_STALE_AFTER

    def stale_before(self, at: datetime) -> datetime | None:
        """Newest evidence before this instant is stale at `at`."""
        return None if self.stale_after is None else at - self.stale_after

    def select(self, facts: Facts) -> FrozenPolicy | None:
        """The first policy whose match holds, frozen; None when no policy matches."""
        for policy in self.policies:
            if policy.match.matches(facts):
                return self.freeze(policy)
        return None

    def freeze(self, policy: Policy) -> FrozenPolicy:
        rotations = {t.name: self.rotations[t.name] for t in policy.targets() if t.rotation}
        people = {t.name for t in policy.targets() if not t.rotation}
        people |= {member for rotation in rotations.values() for member in rotation.members}
        return FrozenPolicy(
            policy=policy,
            contacts={name: dict(self.contacts.get(name, {})) for name in sorted(people)},
            rotations=rotations,
            channel_kinds={name: channel.kind for name, channel in self.channels.items()},
            source=self.source,
            content_hash=self.content_hash,
            reach={name: tuple(self.reach.get(name, ())) for name in sorted(people)},
        )

    def delivery_for(self, channel: str) -> Delivery:
        return self.delivery.get(channel, self.default_delivery)

    def address(self, contact: str, channel: str) -> str | None:
        kind = self.channels[channel].kind if channel in self.channels else None
        return contact_address(self.contacts.get(contact, {}), channel, kind)


def max_severity(*severities: str) -> str:
    return SEVERITIES[max(severity_rank(s) for s in severities)]
