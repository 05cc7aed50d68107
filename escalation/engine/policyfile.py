"""Loading the escalation policy file (DESIGN §7) into a validated `PolicySet`.

Why one pass that collects: an operator editing the policy at 3 a.m. should see every mistake
at once, each as `file:line: what is wrong; what to write instead`, and a bad file must change
nothing (the previous policy keeps running until the file is fixed). `load_policy` either
returns a complete PolicySet with every channel built, or raises PolicyError (exit code 2).
docs/escalation.md is the reference for the format.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detector.config import local_timezone
from detector.durations import format_duration, parse_duration
from detector.errors import PolicyError
from detector.model import SEVERITIES
from detector.yamlsafe import LineDict, LineList, YamlProblem, load_yaml_text
from escalation.channels import CHANNEL_KINDS, build_channel
from escalation.channels.notification import Channel
from escalation.engine.calendar import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    Calendar,
    HolidaysUnavailable,
    always_business,
    country_holidays,
)
from escalation.engine.policy import (
    AFTER_HOURS_MODES,
    DEFAULT_STALE_AFTER,
    GROUP_BY_FIELDS,
    Delivery,
    Level,
    Match,
    Policy,
    PolicySet,
    Target,
)
from escalation.engine.rotation import Rotation

BUNDLED_NAME = "policy.yaml"
SCHEMA = 1
DEFAULT_REOPEN_WINDOW = timedelta(hours=24)
LOCAL_ZONE = "local"  # `timezone: local`: the zone of the machine running logwarden

_TOP_KEYS = (
    "schema", "timezone", "group_by", "reopen_window", "default_calendar", "calendars", "channels",
    "delivery", "contacts", "rotations", "policies", "stale_after",
)
_CALENDAR_KEYS = ("timezone", "hours", "holidays", "country", "subdivision")
_ROTATION_KEYS = ("members", "start", "every", "timezone", "channels")
_POLICY_KEYS = ("name", "match", "calendar", "after_hours", "levels", "repeat", "on_exhausted", "ack_timeout")
_MATCH_KEYS = ("severity", "confidence", "scenarios", "attack", "applications", "exercise", "stale")
_LEVEL_KEYS = ("notify", "after_hours", "wait")
_TARGET_KEYS = ("contact", "rotation", "channels")
_DELIVERY_KEYS = ("retry_backoff", "max_backoff", "give_up_after", "fallback")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
_MAX_REPEAT = 100


def bundled_policy_path() -> Path:
    """The default policy shipped inside the package (works with no setup)."""
    return Path(str(resources.files("escalation").joinpath(BUNDLED_NAME)))


def load_policy(path: Path | None, state_dir: Path) -> PolicySet:
    """Read, validate and build the policy file (None: the bundled one).

    `state_dir` is where channels without an explicit path keep their files (the `file`
    journal). Raises PolicyError listing every problem; never returns a partial policy.
    """
    source_path = path if path is not None else bundled_policy_path()
    source = str(source_path)
    try:
        raw = source_path.read_bytes()
    except OSError as exc:
        hint = "fix `escalation:` in logwarden.yaml" if path is not None else "reinstall logwarden"
        raise PolicyError(f"{source}:0: cannot read the escalation policy ({exc.strerror or exc}); {hint}") from None
    try:
        text = raw.decode("utf-8")
        data = load_yaml_text(text, source)
    except UnicodeDecodeError:
        raise PolicyError(f"{source}:0: the policy file is not UTF-8 text; save it as UTF-8") from None
    except YamlProblem as exc:
        raise PolicyError(str(exc)) from None
    reader = _PolicyReader(source, hashlib.sha256(raw).hexdigest(), state_dir)
    policy_set = reader.read(data)
    if reader.problems or policy_set is None:
        raise PolicyError(reader.sorted_problems())
    return policy_set


# --- the reader ---------------------------------------------------------------------------------


class _PolicyReader:
    """Walks the YAML tree once, building values and collecting (line, problem) pairs."""

    def __init__(self, source: str, content_hash: str, state_dir: Path) -> None:
        self.source = source
        self.content_hash = content_hash
        self.state_dir = state_dir
        self.problems: list[tuple[int, str]] = []
        self.timezone = "UTC"

    # -- reporting ----------------------------------------------------------------------------

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, f"{self.source}:{line}: {message}"))

    def sorted_problems(self) -> list[str]:
        return [message for _, message in sorted(self.problems, key=lambda item: item[0])]

    def unknown_keys(self, node: LineDict, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(node.line_of(key), f"unknown key {key!r} in {where}{hint}; expected one of: {', '.join(allowed)}")

    def mapping(self, parent: LineDict, key: str, what: str, example: str, required: bool = False) -> LineDict | None:
        value = parent.get(key)
        if value is None:
            if required:
                self.add(parent.line, f"{key} is missing; add {key}: with {what}, e.g. {example}")
            return None
        if not isinstance(value, LineDict):
            self.add(parent.line_of(key), f"{key} must be a mapping of {what}, e.g. {example}")
            return None
        return value

    def names(self, node: LineDict, what: str) -> None:
        for name in node:
            if not _NAME.match(str(name)):
                self.add(
                    node.line_of(name),
                    f"{what} name {name!r} is not usable; use letters, digits and . _ - @ + (at most 64 characters)",
                )

    def duration(
        self, node: LineDict, key: str, example: str, where: str = "", minimum: timedelta = timedelta(seconds=1)
    ) -> timedelta | None:
        value = node.get(key)
        prefix = f"{where}: " if where else ""
        if isinstance(value, int) and not isinstance(value, bool):
            # `wait: 20` would be read as 20 seconds where 20 minutes was almost surely meant,
            # and the whole path would be paged through in a minute: ask for the unit
            self.add(node.line_of(key), f"{prefix}{key} {value} has no unit; write e.g. {key}: {value}m "
                                        f"(or {value}s, {value}h; units s, m, h, d, w)")
            return None
        try:
            parsed = parse_duration(value)
        except ValueError:
            self.add(node.line_of(key), f"{prefix}{key} {value!r} is not a duration; write e.g. {key}: {example} (units s, m, h, d, w)")
            return None
        if parsed < minimum:
            self.add(node.line_of(key), f"{prefix}{key} must be at least {format_duration(minimum)}; write e.g. {key}: {example}")
            return None
        return parsed

    def zone(self, node: LineDict, key: str) -> str | None:
        value = node.get(key)
        if value == LOCAL_ZONE:
            return local_timezone()
        if isinstance(value, str) and value:
            try:
                ZoneInfo(value)
                return value
            except (ZoneInfoNotFoundError, ValueError):
                pass
        self.add(
            node.line_of(key),
            f"unknown timezone {value!r}; use an IANA name such as Europe/Berlin or America/New_York, or `local`",
        )
        return None

    def string_list(self, node: LineDict, key: str, example: str) -> tuple[str, ...]:
        value = node.get(key)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
            self.add(node.line_of(key), f"{key} must be a list of names, e.g. {key}: {example}")
            return ()
        return tuple(i.strip() for i in items)

    # -- the whole file -----------------------------------------------------------------------

    def read(self, data: Any) -> PolicySet | None:
        if not isinstance(data, LineDict):
            self.add(1, "the policy file must be a mapping with channels, contacts and policies (see docs/escalation.md)")
            return None
        self.unknown_keys(data, _TOP_KEYS, "the policy file")
        if "schema" in data and data["schema"] != SCHEMA:
            self.add(data.line_of("schema"), f"schema {data['schema']!r} is not supported; this logwarden reads schema: {SCHEMA}")
        if "timezone" in data:
            self.timezone = self.zone(data, "timezone") or "UTC"
        group_by = self._group_by(data)
        reopen_window = DEFAULT_REOPEN_WINDOW
        if "reopen_window" in data:
            reopen_window = self.duration(data, "reopen_window", "24h", minimum=timedelta(0)) or reopen_window
        stale_after = self._stale_after(data)
        channels = self._channels(data)
        calendars = self._calendars(data)
        default_calendar = self._default_calendar(data, calendars)
        # references are checked against every declared name, so a broken channel (or contact,
        # rotation, calendar) is reported once, where it is declared, not at each use
        channel_names = _declared(data, "channels")
        contacts, contact_channels = self._contacts(data, channels, channel_names)
        rotations, rotation_channels = self._rotations(data, contacts, channel_names, set(contact_channels))
        delivery, default_delivery = self._delivery(data, channel_names)
        refs = _Refs(contact_channels, rotation_channels, channel_names)
        policies = self._policies(data, calendars, default_calendar, refs)
        if self.problems:
            return None
        return PolicySet(
            source=self.source,
            content_hash=self.content_hash,
            group_by=group_by,
            reopen_window=reopen_window,
            default_calendar=default_calendar,
            calendars=calendars,
            contacts=contacts,
            rotations=rotations,
            channels=channels,
            delivery=delivery,
            policies=policies,
            default_delivery=default_delivery,
            reach={name: channels for name, channels in contact_channels.items() if name in contacts},
            stale_after=stale_after,
        )

    def _stale_after(self, data: LineDict) -> timedelta | None:
        """`stale_after: 24h` (the default) or `never`."""
        if "stale_after" not in data:
            return DEFAULT_STALE_AFTER
        if data["stale_after"] == "never":
            return None
        return self.duration(data, "stale_after", "24h, or never", minimum=timedelta(minutes=1)) or DEFAULT_STALE_AFTER

    def _group_by(self, data: LineDict) -> tuple[str, ...]:
        if "group_by" not in data:
            return GROUP_BY_FIELDS
        value = data["group_by"]
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or any(i not in GROUP_BY_FIELDS for i in items)
            or len(set(items)) != len(items)
        ):
            self.add(
                data.line_of("group_by"),
                f"group_by {value!r} is not valid; use a list of {' and/or '.join(GROUP_BY_FIELDS)}, "
                "e.g. group_by: [scenario, entity] (one incident per scenario and entity)",
            )
            return GROUP_BY_FIELDS
        return tuple(f for f in GROUP_BY_FIELDS if f in items)

    # -- channels -----------------------------------------------------------------------------

    def _channels(self, data: LineDict) -> dict[str, Channel]:
        node = self.mapping(data, "channels", "channel names to channel settings", "{console: {kind: stdout}}", required=True)
        if node is None:
            return {}
        if not node:
            self.add(node.line, "channels is empty; declare at least one, e.g. console: {kind: stdout}")
        self.names(node, "channel")
        built: dict[str, Channel] = {}
        for name, spec in node.items():
            try:
                built[name] = build_channel(name, spec, self.source, node.line_of(name), self.state_dir)
            except PolicyError as exc:
                for problem in exc.problems:
                    self.problems.append((_line_in(problem, self.source, node.line_of(name)), problem))
        return built

    # -- calendars ----------------------------------------------------------------------------

    def _calendars(self, data: LineDict) -> dict[str, Calendar]:
        node = self.mapping(data, "calendars", "calendar names to business hours", "{office: {hours: {mon-fri: 09:00-17:00}}}")
        if node is None:
            return {}
        self.names(node, "calendar")
        found: dict[str, Calendar] = {}
        for name, spec in node.items():
            calendar = self._calendar(name, spec, node.line_of(name))
            if calendar is not None:
                found[name] = calendar
        return found

    def _calendar(self, name: str, spec: Any, line: int) -> Calendar | None:
        if not isinstance(spec, LineDict):
            self.add(line, f"calendar {name!r} must be a mapping, e.g. {{timezone: Europe/Berlin, hours: {{mon-fri: 09:00-17:00}}}}")
            return None
        before = len(self.problems)
        self.unknown_keys(spec, _CALENDAR_KEYS, f"calendar {name!r}")
        zone = self.zone(spec, "timezone") if "timezone" in spec else self.timezone
        hours = self._hours(name, spec)
        holidays = self._holidays(name, spec)
        country, subdivision = self._country(name, spec)
        if len(self.problems) > before or zone is None or hours is None:
            return None
        return Calendar(name, zone, hours, holidays, country, subdivision)

    def _hours(self, name: str, spec: LineDict) -> tuple[tuple[tuple[int, int], ...], ...] | None:
        node = spec.get("hours")
        if not isinstance(node, LineDict) or not node:
            self.add(
                spec.line_of("hours"),
                f"calendar {name!r} needs hours: weekdays to business hours, e.g. hours: {{mon-fri: 09:00-17:00}}",
            )
            return None
        per_day: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
        for days_text, ranges in node.items():
            line = node.line_of(days_text)
            days = _weekdays(str(days_text))
            if days is None:
                self.add(
                    line,
                    f"calendar {name!r}: {days_text!r} is not a weekday or range; write mon, tue, ... sun, "
                    "a range such as mon-fri, or a list such as sat,sun",
                )
                continue
            items = [ranges] if isinstance(ranges, str) else ranges
            if not isinstance(items, list) or not items:
                self.add(line, f"calendar {name!r}: {days_text}: write a time range such as 09:00-17:00 or a list of them")
                continue
            for item in items:
                parsed = _time_range(item)
                if parsed is None:
                    self.add(
                        line,
                        f"calendar {name!r}: {days_text}: {item!r} is not a time range; write HH:MM-HH:MM "
                        "with the end after the start (up to 24:00), e.g. 09:00-17:00; split ranges "
                        "that cross midnight (mon: 22:00-24:00, tue: 00:00-06:00)",
                    )
                    continue
                clashes = [d for d in days if any(r[0] < parsed[1] and parsed[0] < r[1] for r in per_day[d])]
                if clashes:
                    self.add(
                        line,
                        f"calendar {name!r}: {item} overlaps other business hours on "
                        f"{', '.join(WEEKDAYS[d] for d in clashes)}; merge them into one range",
                    )
                    continue
                for day in days:
                    per_day[day].append(parsed)
        return tuple(tuple(sorted(day)) for day in per_day)

    def _holidays(self, name: str, spec: LineDict) -> frozenset[date]:
        value = spec.get("holidays")
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.add(spec.line_of("holidays"), f"calendar {name!r}: holidays must be a list of dates, e.g. [2026-12-24, 2026-12-25]")
            return frozenset()
        found: set[date] = set()
        for index, item in enumerate(value):
            line = value.line_of(index) if isinstance(value, LineList) else spec.line_of("holidays")
            day = item if isinstance(item, date) and not isinstance(item, datetime) else None
            if isinstance(item, str):
                try:
                    day = date.fromisoformat(item.strip())
                except ValueError:
                    day = None
            if day is None:
                self.add(line, f"calendar {name!r}: holiday {item!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-25")
                continue
            found.add(day)
        return frozenset(found)

    def _country(self, name: str, spec: LineDict) -> tuple[str | None, str | None]:
        country, subdivision = spec.get("country"), spec.get("subdivision")
        if country is None:
            if subdivision is not None:
                self.add(spec.line_of("subdivision"), f"calendar {name!r}: subdivision needs a country, e.g. country: DE")
            return None, None
        if not isinstance(country, str) or not country.strip():
            self.add(spec.line_of("country"), f"calendar {name!r}: country must be an ISO 3166 code such as DE or US")
            return None, None
        if subdivision is not None and (not isinstance(subdivision, str) or not subdivision.strip()):
            self.add(spec.line_of("subdivision"), f"calendar {name!r}: subdivision must be a code such as BY or CA")
            return None, None
        try:
            country_holidays(country, subdivision, date.today().year)
        except HolidaysUnavailable as exc:
            self.add(spec.line_of("country"), f"calendar {name!r}: {exc}")
            return None, None
        except (NotImplementedError, KeyError, ValueError) as exc:
            what = "subdivision" if subdivision is not None and "subdiv" in str(exc).lower() else "country"
            self.add(
                spec.line_of(what),
                f"calendar {name!r}: {what} {spec.get(what)!r} is not known to the holidays package; "
                "use an ISO 3166 code such as DE (subdivision BY) or list the dates under holidays:",
            )
            return None, None
        return country, subdivision

    def _default_calendar(self, data: LineDict, calendars: dict[str, Calendar]) -> Calendar:
        name = data.get("default_calendar")
        if name is None:
            return always_business(self.timezone)
        if name not in calendars:
            if isinstance(name, str) and name in (data.get("calendars") or {}):
                return always_business(self.timezone)  # the calendar itself is broken, reported there
            self.add(data.line_of("default_calendar"), _unknown("calendar", name, _declared(data, "calendars"), "calendars:"))
            return always_business(self.timezone)
        return calendars[name]

    # -- contacts and rotations -------------------------------------------------------------------

    def _contacts(
        self, data: LineDict, channels: dict[str, Channel], channel_names: set[str]
    ) -> tuple[dict[str, dict[str, str]], dict[str, tuple[str, ...]]]:
        node = self.mapping(data, "contacts", "people to their channels", "{alice: {channels: [console]}}", required=True)
        if node is None:
            return {}, {}
        if not node:
            self.add(node.line, "contacts is empty; declare at least one, e.g. alice: {channels: [console]}")
        self.names(node, "contact")
        addresses: dict[str, dict[str, str]] = {}
        reach: dict[str, tuple[str, ...]] = {name: () for name in node}  # every declared name
        known = channel_names | set(CHANNEL_KINDS)
        for name, spec in node.items():
            line = node.line_of(name)
            if not isinstance(spec, LineDict):
                self.add(line, f"contact {name!r} must be a mapping, e.g. {{channels: [console], email: alice@example.com}}")
                continue
            reach[name] = self._channel_refs(spec, "channels", channel_names, f"contact {name!r}", required=True)
            found: dict[str, str] = {}
            for key, value in spec.items():
                if key == "channels":
                    continue
                if key not in known:
                    close = difflib.get_close_matches(str(key), sorted(known | {"channels"}), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    self.add(
                        spec.line_of(key),
                        f"unknown key {key!r} in contact {name!r}{hint}; a contact has channels: [...] and "
                        f"addresses keyed by a channel name or kind ({', '.join(CHANNEL_KINDS)})",
                    )
                    continue
                if not isinstance(value, str) or not value.strip():
                    self.add(spec.line_of(key), f"contact {name!r}: the {key} address must be a non-empty text")
                    continue
                kind = channels[key].kind if key in channels else key if key in CHANNEL_KINDS else None
                if kind == "email" and not _EMAIL.match(value.strip()):
                    self.add(spec.line_of(key), f"contact {name!r}: {value!r} is not an email address; write e.g. alice@example.com")
                    continue
                found[key] = value.strip()
            addresses[name] = found
        return addresses, reach

    def _channel_refs(
        self, spec: LineDict, key: str, channels: Collection[str], where: str, required: bool
    ) -> tuple[str, ...]:
        if key not in spec:
            if required:
                self.add(spec.line, f"{where} needs {key}: the channels to reach it on, e.g. {key}: [console]")
            return ()
        names = self.string_list(spec, key, "[console, journal]")
        for channel in names:
            if channel not in channels:
                self.add(spec.line_of(key), f"{where}: " + _unknown("channel", channel, channels, "channels:"))
        if len(set(names)) != len(names):
            self.add(spec.line_of(key), f"{where}: a channel is listed twice in {key}; list each once")
        return tuple(dict.fromkeys(names))

    def _rotations(
        self, data: LineDict, contacts: dict[str, dict[str, str]], channels: set[str],
        declared_contacts: set[str],
    ) -> tuple[dict[str, Rotation], dict[str, tuple[str, ...]]]:
        node = self.mapping(data, "rotations", "rotation names to members", "{primary: {members: [alice, bob], every: 1w, ...}}")
        if node is None:
            return {}, {}
        self.names(node, "rotation")
        found: dict[str, Rotation] = {}
        reach: dict[str, tuple[str, ...]] = {name: () for name in node}  # every declared name
        for name, spec in node.items():
            line = node.line_of(name)
            if name in declared_contacts:
                self.add(line, f"rotation {name!r} has the name of a contact; give one of them another name")
            if not isinstance(spec, LineDict):
                self.add(line, f"rotation {name!r} must be a mapping with members, start, every and channels")
                continue
            before = len(self.problems)
            self.unknown_keys(spec, _ROTATION_KEYS, f"rotation {name!r}")
            members = self.string_list(spec, "members", "[alice, bob]") if "members" in spec else ()
            if "members" not in spec:
                self.add(line, f"rotation {name!r} needs members: the contacts in hand-over order, e.g. members: [alice, bob]")
            for member in members:
                if member not in contacts and member not in declared_contacts:
                    self.add(spec.line_of("members"), f"rotation {name!r}: " + _unknown("contact", member, contacts, "contacts:"))
            start = self._start(name, spec)
            every = self.duration(spec, "every", "1w", f"rotation {name!r}", minimum=timedelta(minutes=1)) if "every" in spec else None
            if "every" not in spec:
                self.add(line, f"rotation {name!r} needs every: how often the pager is handed over, e.g. every: 1w")
            zone = self.zone(spec, "timezone") if "timezone" in spec else self.timezone
            # without channels: each member is reached on their own contact channels
            reach[name] = self._channel_refs(spec, "channels", channels, f"rotation {name!r}", required=False)
            if len(self.problems) == before and start is not None and every is not None and zone is not None:
                found[name] = Rotation(name, members, start, every, zone)
        return found, reach

    def _start(self, name: str, spec: LineDict) -> datetime | None:
        value = spec.get("start")
        line = spec.line_of("start") if "start" in spec else spec.line
        example = "start: 2026-11-02T09:00 (local time of the first hand-over, to the first member)"
        if value is None:
            self.add(line, f"rotation {name!r} needs {example}")
            return None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                self.add(line, f"rotation {name!r}: write start as local time without an offset; the zone is the rotation's timezone")
                return None
            return value
        if isinstance(value, date):
            return datetime.combine(value, datetime.min.time())
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                return parsed
        self.add(line, f"rotation {name!r}: start {value!r} is not a local date and time; write {example}")
        return None

    # -- delivery -----------------------------------------------------------------------------

    def _delivery(self, data: LineDict, channels: set[str]) -> tuple[dict[str, Delivery], Delivery]:
        node = self.mapping(data, "delivery", "retry settings", "{give_up_after: 1h, channels: {mail: {fallback: journal}}}")
        if node is None:
            return {}, Delivery()
        self.unknown_keys(node, (*_DELIVERY_KEYS[:3], "channels"), "delivery")
        default = self._delivery_settings(node, Delivery(), "delivery")
        per_channel: dict[str, Delivery] = {}
        sub = self.mapping(node, "channels", "channel names to retry settings", "{mail: {fallback: journal}}")
        for name, spec in (sub or {}).items():
            line = sub.line_of(name)  # type: ignore[union-attr]
            if name not in channels:
                self.add(line, "delivery: " + _unknown("channel", name, channels, "channels:"))
                continue
            if not isinstance(spec, LineDict):
                self.add(line, f"delivery for channel {name!r} must be a mapping, e.g. {{fallback: journal, give_up_after: 30m}}")
                continue
            self.unknown_keys(spec, _DELIVERY_KEYS, f"delivery for channel {name!r}")
            settings = self._delivery_settings(spec, default, f"delivery for channel {name!r}")
            fallback = spec.get("fallback")
            if fallback is not None:
                if fallback == name:
                    self.add(spec.line_of("fallback"), f"channel {name!r} cannot be its own fallback; name another channel")
                    fallback = None
                elif fallback not in channels:
                    self.add(spec.line_of("fallback"), f"fallback of {name!r}: " + _unknown("channel", fallback, channels, "channels:"))
                    fallback = None
            per_channel[name] = Delivery(settings.give_up_after, settings.retry_backoff, settings.max_backoff, fallback)
        self._fallback_cycles(per_channel, sub)
        return per_channel, default

    def _delivery_settings(self, node: LineDict, base: Delivery, where: str) -> Delivery:
        give_up = self.duration(node, "give_up_after", "1h", where) if "give_up_after" in node else None
        backoff = self.duration(node, "retry_backoff", "30s", where) if "retry_backoff" in node else None
        cap = self.duration(node, "max_backoff", "15m", where) if "max_backoff" in node else None
        result = Delivery(give_up or base.give_up_after, backoff or base.retry_backoff, cap or base.max_backoff)
        if result.max_backoff < result.retry_backoff:
            self.add(node.line, f"{where}: max_backoff is shorter than retry_backoff; make max_backoff at least {format_duration(result.retry_backoff)}")
        return result

    def _fallback_cycles(self, per_channel: dict[str, Delivery], node: LineDict | None) -> None:
        reported: set[frozenset[str]] = set()
        for start in per_channel:
            seen, current = [start], per_channel[start].fallback
            while current is not None and current in per_channel and current not in seen:
                seen.append(current)
                current = per_channel[current].fallback
            if current == start and node is not None and frozenset(seen) not in reported:
                reported.add(frozenset(seen))
                self.add(
                    node.line_of(start),
                    f"fallback channels form a loop ({' -> '.join(seen + [start])}); end the chain at a channel without fallback",
                )

    # -- policies -----------------------------------------------------------------------------

    def _policies(
        self, data: LineDict, calendars: dict[str, Calendar], default_calendar: Calendar, refs: "_Refs"
    ) -> tuple[Policy, ...]:
        node = data.get("policies")
        if not isinstance(node, LineList) or not node:
            self.add(
                data.line_of("policies") if "policies" in data else data.line,
                "policies must be a non-empty list, first match wins, e.g. policies: [{name: page-high, "
                "match: {severity: high}, levels: [{notify: [alice], wait: 20m}]}]",
            )
            return ()
        found: list[Policy] = []
        names: dict[str, int] = {}
        declared_calendars = _declared(data, "calendars")
        for index, spec in enumerate(node):
            line = node.line_of(index)
            if not isinstance(spec, LineDict):
                self.add(line, "each policy must be a mapping with name, match and levels")
                continue
            name = spec.get("name")
            if isinstance(name, str) and name in names:
                self.add(spec.line_of("name"), f"policy name {name!r} is used twice (first at line {names[name]}); names must be unique")
            elif isinstance(name, str):
                names[name] = spec.line_of("name")
            policy = self._policy(spec, line, calendars, declared_calendars, default_calendar, refs)
            if policy is not None:
                found.append(policy)
        return tuple(found)

    def _policy(
        self,
        spec: LineDict,
        line: int,
        calendars: dict[str, Calendar],
        declared_calendars: set[str],
        default_calendar: Calendar,
        refs: "_Refs",
    ) -> Policy | None:
        before = len(self.problems)
        name = spec.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            self.add(spec.line_of("name") if "name" in spec else line, "a policy needs name: a short unique name such as page-high")
            name = f"#{line}"
        where = f"policy {name!r}"
        self.unknown_keys(spec, _POLICY_KEYS, where)
        match = self._match(spec, where)
        calendar = default_calendar
        if "calendar" in spec:
            wanted = spec["calendar"]
            if wanted in calendars:
                calendar = calendars[wanted]
            elif wanted not in declared_calendars:  # a declared but broken calendar is reported there
                self.add(spec.line_of("calendar"), f"{where}: " + _unknown("calendar", wanted, declared_calendars, "calendars:"))
        mode = spec.get("after_hours", "notify")
        if mode not in AFTER_HOURS_MODES:
            self.add(
                spec.line_of("after_hours"),
                f"{where}: after_hours {mode!r} is not known; use notify (page the after-hours targets now) "
                "or hold (send one digest when business hours start)",
            )
            mode = "notify"
        if mode == "hold" and not calendar.has_business_hours():
            self.add(spec.line_of("after_hours"), f"{where}: after_hours: hold needs a calendar with business hours; set calendar:")
        levels = self._levels(spec, where, refs, mode)
        repeat = spec.get("repeat", 0)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= _MAX_REPEAT:
            self.add(spec.line_of("repeat"), f"{where}: repeat must be a whole number from 0 to {_MAX_REPEAT} (how often the path restarts)")
            repeat = 0
        on_exhausted: tuple[Target, ...] = ()
        if "on_exhausted" in spec:
            on_exhausted = self._targets(spec, "on_exhausted", f"{where} on_exhausted", refs)
        ack_timeout = None
        if spec.get("ack_timeout") is not None:
            ack_timeout = self.duration(spec, "ack_timeout", "4h", where, minimum=timedelta(minutes=1))
        if len(self.problems) > before:
            return None
        return Policy(name, match, calendar, mode, levels, repeat, on_exhausted, ack_timeout)

    def _match(self, spec: LineDict, where: str) -> Match:
        node = spec.get("match")
        if node is None:
            return Match()
        if not isinstance(node, LineDict):
            self.add(spec.line_of("match"), f"{where}: match must be a mapping, e.g. match: {{severity: high, confidence: 0.5}}")
            return Match()
        self.unknown_keys(node, _MATCH_KEYS, f"{where} match")
        severity = node.get("severity")
        if severity is not None and severity not in SEVERITIES:
            self.add(node.line_of("severity"), f"{where}: severity {severity!r} is not known; use one of {', '.join(SEVERITIES)} (the minimum)")
            severity = None
        confidence = node.get("confidence")
        if confidence is not None and (
            isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1
        ):
            self.add(node.line_of("confidence"), f"{where}: confidence must be a number from 0 to 1 (the minimum), e.g. 0.5")
            confidence = None
        exercise = node.get("exercise")
        if exercise is not None and not isinstance(exercise, bool):
            self.add(node.line_of("exercise"), f"{where}: exercise must be true or false")
            exercise = None
        stale = node.get("stale")
        if stale is not None and not isinstance(stale, bool):
            self.add(node.line_of("stale"), f"{where}: stale must be true (only incidents whose newest evidence "
                                            "is older than stale_after) or false")
            stale = None
        lists = {key: self.string_list(node, key, example) if key in node else () for key, example in (
            ("scenarios", "[ssh-*]"), ("attack", "[T1110]"), ("applications", "[shop]"))}
        return Match(
            severity=severity,
            confidence=float(confidence) if confidence is not None else None,
            scenarios=lists["scenarios"],
            attack=lists["attack"],
            applications=lists["applications"],
            exercise=exercise,
            stale=stale,
        )

    def _levels(self, spec: LineDict, where: str, refs: "_Refs", mode: str) -> tuple[Level, ...]:
        node = spec.get("levels")
        if not isinstance(node, LineList) or not node:
            self.add(
                spec.line_of("levels") if "levels" in spec else spec.line,
                f"{where} needs levels: a non-empty list, e.g. levels: [{{notify: [alice], wait: 20m}}]",
            )
            return ()
        levels: list[Level] = []
        for index, item in enumerate(node):
            here = f"{where} level {index + 1}"
            if not isinstance(item, LineDict):
                self.add(node.line_of(index), f"{here} must be a mapping with notify and wait, e.g. {{notify: [alice], wait: 20m}}")
                continue
            self.unknown_keys(item, _LEVEL_KEYS, here)
            business = self._targets(item, "notify", here, refs, required=True)
            after: tuple[Target, ...] = ()
            if "after_hours" in item:
                after = self._targets(item, "after_hours", f"{here} after_hours", refs)
                if mode == "hold":
                    self.add(
                        item.line_of("after_hours"),
                        f"{here}: after_hours targets are never paged by a policy with after_hours: hold; "
                        "remove them or set after_hours: notify on the policy",
                    )
            wait = None
            if "wait" in item:
                wait = self.duration(item, "wait", "20m", here)
            else:
                self.add(item.line, f"{here} needs wait: how long to wait for an acknowledgement, e.g. wait: 20m")
            if wait is not None:
                levels.append(Level(wait, business, after))
        return tuple(levels)

    def _targets(self, node: LineDict, key: str, where: str, refs: "_Refs", required: bool = False) -> tuple[Target, ...]:
        value = node.get(key)
        line = node.line_of(key) if key in node else node.line
        if value is None and not required:
            return ()
        items = [value] if isinstance(value, (str, LineDict)) else value
        if not isinstance(items, list) or not items:
            self.add(line, f"{where}: {key} must list contacts or rotations, e.g. {key}: [alice, primary-rotation]")
            return ()
        found: list[Target] = []
        for index, item in enumerate(items):
            item_line = items.line_of(index) if isinstance(items, LineList) else line
            target = self._target(item, item_line, where, refs)
            if target is not None:
                if any(t.name == target.name for t in found):
                    self.add(item_line, f"{where}: {target.name!r} is listed twice; list each contact or rotation once")
                    continue
                found.append(target)
        return tuple(found)

    def _target(self, item: Any, line: int, where: str, refs: "_Refs") -> Target | None:
        channels: tuple[str, ...] | None = None
        if isinstance(item, str):
            name, wanted = item.strip(), None
        elif isinstance(item, LineDict):
            self.unknown_keys(item, _TARGET_KEYS, f"a target of {where}")
            kinds = [k for k in ("contact", "rotation") if k in item]
            if len(kinds) != 1 or not isinstance(item[kinds[0]], str):
                self.add(line, f"{where}: a target names one contact or one rotation, e.g. {{contact: alice, channels: [mail]}}")
                return None
            name, wanted = item[kinds[0]].strip(), kinds[0]
            if "channels" in item:
                channels = self._channel_refs(item, "channels", refs.channels, f"{where} target {name!r}", False)
        else:
            self.add(line, f"{where}: {item!r} is not a target; write a contact or rotation name, or {{contact: alice, channels: [mail]}}")
            return None
        is_rotation = name in refs.rotation_channels
        is_contact = name in refs.contact_channels
        if (wanted == "contact" and not is_contact) or (wanted == "rotation" and not is_rotation) or not (
            is_contact or is_rotation
        ):
            pool = {**refs.contact_channels, **refs.rotation_channels} if wanted is None else (
                refs.contact_channels if wanted == "contact" else refs.rotation_channels)
            what = wanted or "contact or rotation"
            self.add(line, f"{where}: " + _unknown(what, name, pool, "contacts: or rotations:"))
            return None
        default = refs.rotation_channels.get(name, ()) if is_rotation else refs.contact_channels.get(name, ())
        return Target(name, is_rotation, channels or default)


@dataclass(frozen=True)
class _Refs:
    """The names levels may refer to, each declared contact's and rotation's own channels
    (every declared name is here, even one whose settings are broken and reported already)."""

    contact_channels: dict[str, tuple[str, ...]]
    rotation_channels: dict[str, tuple[str, ...]]
    channels: set[str]


# --- small parsers ------------------------------------------------------------------------------


def _declared(data: LineDict, section: str) -> set[str]:
    """The names declared under a top-level section, whether or not their settings are valid."""
    node = data.get(section)
    return {str(k) for k in node} if isinstance(node, dict) else set()


def _unknown(what: str, name: object, known: Any, section: str) -> str:
    names = sorted(str(k) for k in known)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(names) if names else "none declared"
    return f"unknown {what} {name!r}{hint}; declare it under {section} or use one of: {listed}"


def _line_in(problem: str, source: str, fallback: int) -> int:
    """The line number of a `source:line: ...` problem built elsewhere (for sorting)."""
    rest = problem[len(source) + 1 :] if problem.startswith(source + ":") else ""
    number = rest.split(":", 1)[0]
    return int(number) if number.isdigit() else fallback


def _weekdays(text: str) -> tuple[int, ...] | None:
    """`mon`, `mon-fri`, `sat,sun`, `fri-mon` (wrapping) -> weekday indexes, Monday = 0."""
    found: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or last not in WEEKDAYS:
                return None
            start, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
            span = (end - start) % 7
            found.extend((start + i) % 7 for i in range(span + 1))
        elif part in WEEKDAYS:
            found.append(WEEKDAYS.index(part))
        else:
            return None
    return tuple(dict.fromkeys(found)) or None


def _time_range(text: Any) -> tuple[int, int] | None:
    """`09:00-17:00` -> (540, 1020); the end may be 24:00; None when malformed or empty."""
    if not isinstance(text, str):
        return None
    match = _RANGE.match(text.strip())
    if not match:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        return None
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not start < end <= MINUTES_PER_DAY:
        return None
    return start, end
