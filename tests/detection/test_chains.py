"""Chains by class and entity links, through the real pipeline with the bundled checklist:
any attack finding of an address then its login (`recon-then-login`), and an intruder's login
then privilege escalation by that user on that host (`intrusion-then-privilege-escalation`),
with stages in one file, in several, and read in either order by separate runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detection.builders import scan_logs as scan
from detection.builders import with_scenario as of
from detector.checklist import load_checklist
from detector.model import Finding
from escalation.engine.policy import Facts, Match

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_logs" / "scenarios"
# a paging policy with a confidence floor, as operators write it (`match: {severity: high, confidence: 0.7}`)
PAGE = Match(severity="high", confidence=0.7)


def pages(finding: Finding) -> bool:
    return PAGE.matches(Facts(finding.severity, finding.confidence, (finding.scenario_id,), finding.attack))


def copy(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, folder / source.name))


# -- any attack finding, then a login from that address ---------------------------------------


@pytest.mark.parametrize("order", ["access-first", "auth-first", "one-run"])
def test_browser_probe_then_ssh_login_is_one_chain_whichever_file_is_read_first(tmp_path: Path, order: str) -> None:
    """`/.env`, `/.git/config`, `/.aws/credentials` with a browser user agent (no scanner rule
    matches), an SSH login from the address six minutes later: the probe finding's class
    (reconnaissance) is enough. Each file read by a run of its own, in either order."""
    sample = SAMPLES / "recon-then-login" / "positive-browser-probe"
    access, auth = copy(sample / "access.log", tmp_path / "logs"), copy(sample / "auth.log", tmp_path / "logs")
    state = tmp_path / "state.db"
    if order == "one-run":
        found = scan(state, access, auth)
    else:
        first, second = (access, auth) if order == "access-first" else (auth, access)
        scan(state, first)
        found = scan(state, second)
    chain = of(found, "recon-then-login")
    assert [(f.entity, f.count, f.log_kinds) for f in chain] == [({"source.ip": "100.64.14.21"}, 4, ("access", "auth"))]
    lines = [e.line for e in chain[0].evidence]
    assert [line.split('"')[1].split()[1] for line in lines[:3]] == ["/.env", "/.git/config", "/.aws/credentials"]
    assert "Accepted password for webops from 100.64.14.21" in lines[3]
    assert chain[0].extra["stages"] == {"web-sensitive-file-probe": 3}
    assert chain[0].extra["linked"] == {"host.name": "bastion07", "user.name": "webops"}
    assert pages(chain[0]), chain[0].confidence_reasons


def test_brute_force_then_login_chains_through_the_credential_access_class(tmp_path: Path) -> None:
    found = scan(tmp_path / "state.db", SAMPLES / "recon-then-login" / "positive-bruteforce.log")
    chain = of(found, "recon-then-login")
    assert [(f.entity, f.count) for f in chain] == [({"source.ip": "100.64.14.22"}, 8)]
    assert chain[0].extra["stages"] == {"ssh-bruteforce": 7}
    assert pages(chain[0])


def test_an_admins_own_low_severity_hit_then_a_normal_login_does_not_page(tmp_path: Path) -> None:
    """The admin's workstation trips the scanner-user-agent rule once (a low finding) and logs
    in over SSH an hour later: the chain is recorded, but its confidence stays under the paging
    floor, where a probe for secrets or a brute force before the login crosses it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text(
        '100.64.14.51 - - [21/Nov/2026:08:10:00 +0000] "GET /status HTTP/1.1" 200 312 "-" "Nmap Scripting Engine; https://nmap.org/book/nse.html"\n'
    )
    (logs / "auth.log").write_text(
        "Nov 21 09:12:30 bastion07 sshd[6200]: Accepted publickey for alice from 100.64.14.51 port 50300 ssh2: "
        "ED25519 SHA256:Qm9vYmFyYmF6cXV4bm9yZjEyMzQ1Njc4OTBhYmNkZWY\n"
    )
    found = scan(tmp_path / "state.db", logs)
    assert [f.severity for f in of(found, "web-scanner-user-agent")] == ["low"]
    chain = of(found, "recon-then-login")
    assert len(chain) == 1 and chain[0].extra["stages"] == {"web-scanner-user-agent": 1}
    assert chain[0].confidence < PAGE.confidence
    assert not pages(chain[0]), chain[0].confidence_reasons


def test_a_login_with_no_attack_before_it_is_no_chain(tmp_path: Path) -> None:
    found = scan(tmp_path / "state.db", SAMPLES / "recon-then-login" / "negative")
    assert of(found, "recon-then-login") == []


# -- entity links: the address's login links the user on the host ------------------------------


def _split_intrusion(folder: Path) -> tuple[Path, Path]:
    """The positive sample cut in two files: brute force and login; then the sudo to root."""
    lines = (SAMPLES / "intrusion-then-privilege-escalation" / "positive.log").read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if " sudo: " in line)
    folder.mkdir(parents=True)
    first, second = folder / "auth.log", folder / "secure.log"
    first.write_text("".join(lines[:cut]))
    second.write_text("".join(lines[cut:]))
    return first, second


@pytest.mark.parametrize("order", ["login-first", "sudo-first", "one-file"])
def test_intrusion_then_root_shell_holds_the_whole_chain(tmp_path: Path, order: str) -> None:
    state = tmp_path / "state.db"
    if order == "one-file":
        found = scan(state, SAMPLES / "intrusion-then-privilege-escalation" / "positive.log")
    else:
        login, sudo = _split_intrusion(tmp_path / "logs")
        first, second = (login, sudo) if order == "login-first" else (sudo, login)
        scan(state, first)
        found = scan(state, second)
    chain = of(found, "intrusion-then-privilege-escalation")
    assert [(f.entity, f.severity) for f in chain] == [({"host.name": "app09", "user.name": "svc-report"}, "critical")]
    lines = [e.line for e in chain[0].evidence]
    assert sum("Failed password for svc-report from 100.64.14.41" in line for line in lines) == 7
    assert "Accepted password for svc-report from 100.64.14.41" in lines[7]
    assert "COMMAND=/bin/bash" in lines[8]
    assert chain[0].extra["stages"] == {"recon-then-login": 8, "sudo-root-shell": 1}
    # noisy-OR over the stages: above the chain's prior and above each stage's own finding
    stage_findings = [f for f in found if f.scenario_id in chain[0].extra["stages"]]
    assert {f.scenario_id for f in stage_findings} == {"recon-then-login", "sudo-root-shell"}
    assert chain[0].confidence > max(f.confidence for f in stage_findings) > load_checklist().scenario(chain[0].scenario_id).confidence
    reasons = " ".join(chain[0].confidence_reasons)
    assert "stage recon-then-login of the chain" in reasons and "stage sudo-root-shell of the chain" in reasons


def test_an_admins_login_then_sudo_to_root_is_no_intrusion(tmp_path: Path) -> None:
    found = scan(tmp_path / "state.db", SAMPLES / "intrusion-then-privilege-escalation" / "negative.log")
    assert of(found, "intrusion-then-privilege-escalation") == []


# -- a class takes in Sigma rules' findings too -------------------------------------------------

SIGMA_PROBE = """\
title: Probe for our internal build manifest
id: 6f1c2a7e-0d55-4c3b-9a51-5d2f3e4b1401
status: test
level: medium
tags:
    - attack.reconnaissance
    - attack.t1595.003
logsource:
    category: webserver
detection:
    selection:
        cs-uri-stem: /internal/build-manifest.txt
    condition: selection
"""


def test_a_sigma_reconnaissance_finding_then_a_login_is_a_chain(tmp_path: Path) -> None:
    """A Sigma rule the operator added (`--sigma`) is in the reconnaissance class like a bundled
    scenario: its finding, then an SSH login from the address, is one recon-then-login chain."""
    sigma = tmp_path / "sigma"
    sigma.mkdir()
    (sigma / "build_manifest.yml").write_text(SIGMA_PROBE)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text(
        '100.64.14.61 - - [21/Nov/2026:08:10:00 +0000] "GET /internal/build-manifest.txt HTTP/1.1" 404 153 "-" '
        '"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"\n'
    )
    (logs / "auth.log").write_text(
        "Nov 21 08:14:30 bastion07 sshd[6300]: Accepted password for webops from 100.64.14.61 port 50310 ssh2\n"
    )
    checklist = load_checklist(sigma=[sigma])
    probe = "6f1c2a7e-0d55-4c3b-9a51-5d2f3e4b1401"
    assert probe in checklist.scenario("recon-then-login").correlation.step_members(0)
    found = scan(tmp_path / "state.db", logs, checklist=checklist)
    assert [f.entity for f in of(found, probe)] == [{"source.ip": "100.64.14.61"}]
    chain = of(found, "recon-then-login")
    assert [(f.entity, f.count, f.extra["stages"]) for f in chain] == [({"source.ip": "100.64.14.61"}, 2, {probe: 1})]
