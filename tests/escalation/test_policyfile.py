"""Loading the escalation policy file: the bundled default, a complete file, and every kind of
mistake reported at once as `file:line: what is wrong; what to write instead`."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from escalationkit import (
    MONDAY_BUSINESS,
    MONDAY_EVENING,
    standard_policy_text,
    utc,
    write_policy,
)

from detector.errors import PolicyError
from escalation.engine.calendar import AFTER_HOURS, BUSINESS, HOLIDAY
from escalation.engine.policy import Facts, FrozenPolicy, Recipient
from escalation.engine.policyfile import bundled_policy_path, load_policy


def problems_of(path: Path, state_dir: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, state_dir)
    assert caught.value.exit_code == 2
    return caught.value.problems


def test_the_bundled_policy_works_with_no_setup(tmp_path: Path) -> None:
    policy = load_policy(None, tmp_path)
    assert policy.source == str(bundled_policy_path())
    assert {name: channel.kind for name, channel in policy.channels.items()} == {"console": "stdout", "journal": "file"}
    assert policy.channels["journal"].path == tmp_path / "journal.jsonl"  # next to the state file
    assert [p.name for p in policy.policies] == ["page-high", "review-low"]
    page, review = policy.policies
    assert (page.after_hours, [lv.wait for lv in page.levels], page.repeat) == (
        "notify", [timedelta(minutes=20), timedelta(minutes=30)], 1
    )
    assert page.ack_timeout == timedelta(hours=4) and [t.name for t in page.on_exhausted] == ["security-lead"]
    assert review.after_hours == "hold" and [t.name for t in review.on_exhausted] == ["security-lead"]
    assert page.calendar.hours[0] == ((9 * 60, 17 * 60),) and page.calendar.hours[5] == ()
    assert policy.select(Facts("critical", 0.9, ("ssh-bruteforce",))).name == "page-high"
    assert policy.select(Facts("medium", 0.5, ("web-sqli",))).name == "review-low"
    assert policy.select(Facts("informational", 0.5, ("x",))) is None
    assert policy.group_by == ("scenario", "entity") and policy.reopen_window == timedelta(hours=24)


def test_a_complete_policy_file(tmp_path: Path) -> None:
    text = standard_policy_text().replace(
        "  alice: {channels: [alice-log]}",
        "  alice: {channels: [alice-log], email: alice@example.com, alice-log: ignored-by-files}",
    ) + """
delivery:
  retry_backoff: 1m
  give_up_after: 2h
  channels:
    alice-log: {fallback: bob-log, give_up_after: 10m}
"""
    policy = load_policy(write_policy(tmp_path, text), tmp_path / "state")
    assert policy.channels["carol-log"].path == tmp_path / "journals" / "carol.jsonl"  # relative to the file
    assert policy.contacts["alice"] == {"email": "alice@example.com", "alice-log": "ignored-by-files"}
    assert policy.delivery_for("alice-log").fallback == "bob-log"
    assert policy.delivery_for("alice-log").give_up_after == timedelta(minutes=10)
    assert policy.delivery_for("alice-log").retry_backoff == timedelta(minutes=1)  # from the defaults
    assert policy.delivery_for("carol-log").give_up_after == timedelta(hours=2)
    office = policy.calendars["office"]
    assert office.timezone == "Europe/Berlin" and office.holidays == {date(2026, 12, 24), date(2026, 12, 25)}
    assert office.classify(MONDAY_BUSINESS) == BUSINESS
    assert office.classify(MONDAY_EVENING) == AFTER_HOURS
    assert office.classify(utc("2026-12-24 10:00")) == HOLIDAY
    assert office.next_business_start(MONDAY_EVENING) == utc("2026-11-24 08:00")
    night = policy.rotations["night"]
    assert night.on_call(utc("2026-11-02 07:30")) == "erin"  # 08:30 local: before the first hand-over
    assert [night.on_call(utc(f"2026-11-{d} 12:00")) for d in ("02", "09", "16", "23", "30")] == [
        "bob", "erin", "bob", "erin", "bob"
    ]
    page = policy.select(Facts("high", 0.9, ("ssh-bruteforce",)))
    assert page is not None and page.name == "page"
    # a rotation without channels of its own reaches whoever is on call on their own channels
    after_hours = page.policy.levels[0].targets(AFTER_HOURS)
    assert page.recipients(after_hours, MONDAY_EVENING) == (Recipient("erin", "night", "erin-log", None),)
    assert page.recipients(page.policy.levels[0].targets(BUSINESS), MONDAY_BUSINESS) == (
        Recipient("alice", None, "alice-log", "ignored-by-files"),
    )
    # frozen into an incident and back, nothing is lost
    assert FrozenPolicy.from_json(page.to_json()) == page


def test_targets_may_name_their_channels_and_the_timezone_may_be_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    text = """
timezone: local
channels:
  console: {kind: stdout}
  mail: {kind: email, host: smtp.example.com, from: lw@example.com}
contacts:
  alice: {channels: [console], email: alice@example.com}
calendars:
  office: {hours: {mon-fri: 08:00-12:00, "mon,wed": 13:00-18:00}}
policies:
  - name: all
    calendar: office
    levels:
      - notify: [{contact: alice, channels: [mail, console]}]
        wait: 1h
"""
    policy = load_policy(write_policy(tmp_path, text), tmp_path)
    office = policy.calendars["office"]
    assert office.timezone == "America/New_York"
    assert office.hours[0] == ((480, 720), (780, 1080)) and office.hours[1] == ((480, 720),)
    (only,) = policy.policies
    assert only.levels[0].business_hours[0].channels == ("mail", "console")
    frozen = policy.freeze(only)
    assert frozen.recipients(only.levels[0].business_hours, MONDAY_BUSINESS) == (
        Recipient("alice", None, "mail", "alice@example.com"),
        Recipient("alice", None, "console", None),
    )


def test_policies_are_matched_in_order_on_every_kind_of_condition(tmp_path: Path) -> None:
    levels = "    levels: [{notify: [alice], wait: 20m}]\n"
    text = standard_policy_text().split("policies:\n", 1)[0] + "policies:\n" + "".join(
        f"  - name: {name}\n    match: {match}\n" + levels
        for name, match in (
            ("drills", "{exercise: true}"),
            ("shop-web", "{applications: [shop*], scenarios: [web-*]}"),
            ("credential-access", "{attack: [T1110], confidence: 0.8}"),
            ("ssh", "{scenarios: [ssh-*], severity: medium}"),
            ("anything-high", "{severity: high}"),
            ("rest", "{}"),
        )
    )
    policy = load_policy(write_policy(tmp_path, text), tmp_path)

    def chosen(severity: str, confidence: float, scenario: str, attack: tuple[str, ...] = (),
               applications: tuple[str, ...] = (), exercise: bool = False) -> str | None:
        frozen = policy.select(Facts(severity, confidence, (scenario,), attack, applications, exercise))
        return frozen.name if frozen else None

    assert chosen("critical", 0.99, "ssh-bruteforce", ("T1110.001",), exercise=True) == "drills"  # first match wins
    assert chosen("low", 0.1, "web-sqli", applications=("shop-api",)) == "shop-web"  # both globs hold
    assert chosen("low", 0.1, "web-sqli", applications=("billing",)) == "rest"
    assert chosen("low", 0.8, "app-spray", ("T1110.003",)) == "credential-access"  # T1110 covers .003
    assert chosen("low", 0.79, "app-spray", ("T1110.003",)) == "rest"  # confidence is a minimum
    assert chosen("low", 0.9, "app-spray", ("T11100",)) == "rest"  # a prefix is not a sub-technique
    assert chosen("medium", 0.5, "ssh-bruteforce") == "ssh"
    assert chosen("low", 0.5, "ssh-bruteforce") == "rest"  # severity is a minimum
    assert chosen("critical", 0.5, "sudo-root-shell") == "anything-high"  # high also matches critical
    assert chosen("informational", 0.0, "anything") == "rest"


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = write_policy(tmp_path, """\
schema: 1
timezone: Mars/Olympus
group_by: [scenario, host]
reopen_window: soon
calendars:
  office:
    timezone: Europe/Berlin
    hours:
      mon-fri: 09:00-17:00
      funday: 10:00-12:00
      sat: 18:00-08:00
    holidays: [2026-12-25, christmas]
channels:
  console: {kind: stdout}
  mail: {kind: email, host: smtp.example.com, from: logwarden@example.com, password: hunter2}
  pager: {kind: pagerr}
contacts:
  alice: {channels: [console, mial], email: not-an-address}
  bob: {channels: [console], emial: bob@example.com}
rotations:
  night: {members: [alice, zed], start: 2026-11-02T09:00, every: weekly}
delivery:
  channels:
    console: {fallback: mail}
    mail: {fallback: console, give_up_after: 1h}
policies:
  - name: page
    match: {severity: urgent, confidence: 1.5, colour: red}
    calendar: ofice
    after_hours: wake-everyone
    levels:
      - notify: [alice, carol]
        wait: 20 minutes
      - notfy: [bob]
    repeat: -1
    on_exhausted: [nobody]
  - name: page
    levels: []
""")
    found = problems_of(path, tmp_path)
    expected = [
        (2, "unknown timezone 'Mars/Olympus'; use an IANA name such as Europe/Berlin"),
        (3, "group_by ['scenario', 'host'] is not valid; use a list of scenario and/or entity"),
        (4, "reopen_window 'soon' is not a duration; write e.g. reopen_window: 24h"),
        (10, "calendar 'office': 'funday' is not a weekday or range; write mon, tue, ... sun"),
        (11, "calendar 'office': sat: '18:00-08:00' is not a time range; write HH:MM-HH:MM"),
        (12, "calendar 'office': holiday 'christmas' is not a date; write it as YYYY-MM-DD"),
        (15, "channel 'mail': password must not be written in the policy file; put it in an environment variable and write password_env"),
        (16, "channel 'pager': unknown kind 'pagerr'; use one of stdout, file, email"),
        (18, "contact 'alice': unknown channel 'mial' (did you mean 'mail'?); declare it under channels: or use one of: console, mail, pager"),
        (18, "contact 'alice': 'not-an-address' is not an email address; write e.g. alice@example.com"),
        (19, "unknown key 'emial' in contact 'bob' (did you mean 'email'?)"),
        (21, "rotation 'night': unknown contact 'zed'; declare it under contacts: or use one of: alice, bob"),
        (21, "rotation 'night': every 'weekly' is not a duration; write e.g. every: 1w"),
        (24, "fallback channels form a loop (console -> mail -> console); end the chain at a channel without fallback"),
        (28, "unknown key 'colour' in policy 'page' match; expected one of: severity, confidence"),
        (28, "policy 'page': severity 'urgent' is not known; use one of informational, low, medium, high, critical"),
        (28, "policy 'page': confidence must be a number from 0 to 1"),
        (29, "policy 'page': unknown calendar 'ofice' (did you mean 'office'?)"),
        (30, "policy 'page': after_hours 'wake-everyone' is not known; use notify"),
        (32, "policy 'page' level 1: unknown contact or rotation 'carol'; declare it under contacts: or rotations: or use one of: alice, bob, night"),
        (33, "policy 'page' level 1: wait '20 minutes' is not a duration; write e.g. wait: 20m"),
        (34, "unknown key 'notfy' in policy 'page' level 2 (did you mean 'notify'?)"),
        (34, "policy 'page' level 2: notify must list contacts or rotations"),
        (34, "policy 'page' level 2 needs wait: how long to wait for an acknowledgement, e.g. wait: 20m"),
        (35, "policy 'page': repeat must be a whole number from 0 to 100"),
        (36, "policy 'page' on_exhausted: unknown contact or rotation 'nobody'"),
        (37, "policy name 'page' is used twice (first at line 27); names must be unique"),
        (38, "policy 'page' needs levels: a non-empty list"),
    ]
    assert len(found) == len(expected), "\n".join(found)
    for problem, (line, text) in zip(found, expected):
        assert problem.startswith(f"{path}:{line}: {text}"), problem


def test_structural_mistakes(tmp_path: Path) -> None:
    path = write_policy(tmp_path, """\
channels: {console: {kind: stdout}}
contacts:
  alice: {channels: [console]}
  night: {channels: [console]}
rotations:
  night: {members: [alice], start: "2026-11-02 09:00+01:00", every: 1w}
calendars:
  office: {hours: {mon-fri: [09:00-13:00, 12:00-17:00]}}
policies:
  - name: quiet
    calendar: office
    after_hours: hold
    ack_timeout: 10s
    levels:
      - notify: [{contact: alice, rotation: night}]
        after_hours: [alice]
        wait: 0s
""")
    found = problems_of(path, tmp_path)
    expected = [
        (6, "rotation 'night' has the name of a contact; give one of them another name"),
        (6, "rotation 'night': start '2026-11-02 09:00+01:00' is not a local date and time"),
        (8, "calendar 'office': 12:00-17:00 overlaps other business hours on mon, tue, wed, thu, fri; merge them into one range"),
        (13, "policy 'quiet': ack_timeout must be at least 1m"),
        (15, "policy 'quiet' level 1: a target names one contact or one rotation, e.g. {contact: alice, channels: [mail]}"),
        (16, "policy 'quiet' level 1: after_hours targets are never paged by a policy with after_hours: hold"),
        (17, "policy 'quiet' level 1: wait must be at least 1s"),
    ]
    assert len(found) == len(expected), "\n".join(found)
    for problem, (line, text) in zip(found, expected):
        assert problem.startswith(f"{path}:{line}: {text}"), problem


def test_a_duration_without_a_unit_is_refused_not_read_as_seconds(tmp_path: Path) -> None:
    # `wait: 20` meant as SAMM's 20 minutes would page the whole path within a minute
    text = (standard_policy_text()
            .replace("wait: 20m", "wait: 20")
            .replace("reopen_window: 24h", "reopen_window: 86400")
            .replace("every: 1w", "every: 7"))
    path = write_policy(tmp_path, text)
    found = problems_of(path, tmp_path)
    lines = text.splitlines()
    expected = [
        (lines.index("reopen_window: 86400") + 1,
         "reopen_window 86400 has no unit; write e.g. reopen_window: 86400m (or 86400s, 86400h; units s, m, h, d, w)"),
        (lines.index("    every: 7") + 1, "rotation 'night': every 7 has no unit; write e.g. every: 7m"),
        (lines.index("        wait: 20") + 1, "policy 'page' level 1: wait 20 has no unit; write e.g. wait: 20m"),
    ]
    assert len(found) == len(expected), "\n".join(found)
    for problem, (line, message) in zip(found, expected):
        assert problem.startswith(f"{path}:{line}: {message}"), problem


def test_required_sections_and_yaml_errors(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "timezone: UTC\n")
    assert problems_of(path, tmp_path) == [
        f"{path}:1: channels is missing; add channels: with channel names to channel settings, e.g. {{console: {{kind: stdout}}}}",
        f"{path}:1: contacts is missing; add contacts: with people to their channels, e.g. {{alice: {{channels: [console]}}}}",
        f"{path}:1: policies must be a non-empty list, first match wins, e.g. policies: [{{name: page-high, match: "
        "{severity: high}, levels: [{notify: [alice], wait: 20m}]}]",
    ]
    path.write_text("channels:\n  console: {kind: stdout}\n  console: {kind: stdout}\n")
    (problem,) = problems_of(path, tmp_path)
    assert problem.startswith(f"{path}:3: invalid YAML: duplicate key 'console' (first at line 2)")
    missing = tmp_path / "nope.yaml"
    (problem,) = problems_of(missing, tmp_path)
    assert problem.startswith(f"{missing}:0: cannot read the escalation policy")


def test_country_holidays_come_from_the_holidays_package(tmp_path: Path) -> None:
    pytest.importorskip("holidays")
    text = standard_policy_text().replace("holidays: [2026-12-24, 2026-12-25]", "country: DE\n    subdivision: BY")
    office = load_policy(write_policy(tmp_path, text), tmp_path).calendars["office"]
    assert office.classify(datetime(2026, 10, 3, 10, tzinfo=timezone.utc)) == HOLIDAY  # German Unity Day
    assert office.classify(datetime(2026, 1, 6, 10, tzinfo=timezone.utc)) == HOLIDAY  # Epiphany, Bavaria only
    bad = write_policy(tmp_path, standard_policy_text().replace("holidays: [2026-12-24, 2026-12-25]", "country: XX"))
    (problem,) = problems_of(bad, tmp_path)
    assert "calendar 'office': country 'XX' is not known to the holidays package" in problem


def test_the_example_in_the_documentation_is_valid(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "escalation.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = load_policy(write_policy(tmp_path, example), tmp_path)
    assert [p.name for p in policy.policies] == ["page-high", "review"]
    assert policy.calendars["office"].hours[5] == ((600, 720),)
    page = policy.select(Facts("critical", 0.8, ("ssh-bruteforce",)))
    assert page is not None
    night = page.recipients(page.policy.levels[0].targets(AFTER_HOURS), MONDAY_EVENING)
    assert night == (Recipient("erin", "night", "oncall-mail", "erin@example.com"),)
