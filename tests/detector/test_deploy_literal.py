"""docs/deploy.md followed literally, as root, in a temporary root: a private mount namespace in
which /etc, /opt, /usr/local, /var/lib, /var/log and /var/spool are overlays on a tmpfs, so the
real system never changes. The Install block runs word for word (its `$EDITOR` writes the
documented minimal logwarden.yaml), then the check block, then the documented cron line runs
once as the service user with cron's environment; what it produced is checked: state private to
the service user, findings from the logs it may read through `adm`, a 0644 metrics file, and a
doctor that is satisfied."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "docs" / "deploy.md"
OVERLAID = ("/etc", "/opt", "/usr/local", "/var/lib", "/var/log", "/var/spool")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creating a user and a mount namespace needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("unshare", "runuser", "useradd")),
                       reason="needs unshare, runuser and useradd (util-linux, passwd)"),
]


def _blocks(section: str) -> list[tuple[str, str]]:
    """(language, text) of the fenced blocks under the `## section` heading of deploy.md."""
    text = DEPLOY.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 3)
    body = text[start:end if end != -1 else None]
    return re.findall(r"```(\w+)\n(.*?)```", body, re.S)


def _cron_command() -> str:
    lines = [ln for ln in (REPO / "docs/deploy/logwarden.cron").read_text().splitlines()
             if ln.strip() and not ln.startswith("#") and not re.match(r"^[A-Z_]+=", ln)]
    (entry,) = lines
    return entry.split(None, 5)[5]


def _logs(now: datetime) -> tuple[str, str]:
    """An SSH brute force in /var/log/auth.log, a scanner in nginx's access log, written now."""
    auth = "".join(
        f"{now - timedelta(minutes=3) + timedelta(seconds=15 * i):%b %d %H:%M:%S} bastion sshd[811]: "
        f"Failed password for root from 203.0.113.77 port {40000 + i} ssh2\n" for i in range(8))
    access = "".join(
        f'192.0.2.33 - - [{now - timedelta(minutes=2) + timedelta(seconds=i):%d/%b/%Y:%H:%M:%S +0000}] '
        f'"GET /admin?id={i} HTTP/1.1" 404 120 "-" "sqlmap/1.8#stable (https://sqlmap.org)"\n' for i in range(4))
    return auth, access


def _script(work: Path, src: Path) -> str:
    install, checks = [b for lang, b in _blocks("Install") if lang == "sh"]
    (minimal,) = [b for lang, b in _blocks("Install") if lang == "yaml"]
    (crontab,) = [b for lang, b in _blocks("The cron job (`logwarden scan`)") if lang == "sh"]
    (work / "logwarden.yaml").write_text(minimal)
    (work / "editor").write_text(f"#!/bin/sh\ncat {work / 'logwarden.yaml'} > \"$1\"\n")
    (work / "editor").chmod(0o755)
    auth, access = _logs(datetime.utcnow())
    (work / "auth.log").write_text(auth)
    (work / "access.log").write_text(access)
    cron_env = "env -i SHELL=/bin/sh PATH=/usr/bin:/bin HOME=/var/lib/logwarden LOGNAME=logwarden"
    as_service = f"runuser -u logwarden -- {cron_env}"
    mounts = "\n".join(
        f"mkdir -p $T/up{d} $T/work{d} && mount -t overlay overlay -o lowerdir={d},upperdir=$T/up{d},workdir=$T/work{d} {d}"
        for d in OVERLAID)
    return f"""
set -eu
T={work}/root && mkdir -p $T && mount -t tmpfs tmpfs $T
{mounts}
# the logs a Debian server has: root:adm 0640
install -d /var/log/nginx
install -m 0640 -o root -g adm {work}/auth.log /var/log/auth.log
install -m 0640 -o root -g adm {work}/access.log /var/log/nginx/access.log
cd {src}
export EDITOR={work}/editor
echo '>>> install'
{install}
echo '>>> checks'
{checks}
echo '>>> crontab'
if command -v crontab >/dev/null; then {crontab.strip()}; crontab -u logwarden -l | grep -F -- {shlex.quote(_cron_command())}; fi
echo '>>> cron line'
set +e
{as_service} /bin/sh -c {shlex.quote(_cron_command())} > {work}/cron.out 2> {work}/cron.err
echo $? > {work}/cron.rc
runuser -u logwarden -- logwarden doctor -c /etc/logwarden/logwarden.yaml --format json > {work}/doctor.json
echo $? > {work}/doctor.rc
runuser -u logwarden -- logwarden findings -c /etc/logwarden/logwarden.yaml --format json > {work}/findings.json
stat -c '%U %a' /var/lib/logwarden/state.db /var/lib/prometheus/node-exporter/logwarden.prom /etc/logwarden/logwarden.yaml > {work}/stat.txt
ls /opt/logwarden/share/doc/logwarden/deploy.md > {work}/doc.txt
"""


def test_deploy_md_works_as_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    work = tmp_path / "work"
    work.mkdir()
    script = work / "deploy.sh"
    script.write_text(_script(work, src))
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", str(script)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (work / "cron.rc").read_text().strip() == "0", (work / "cron.err").read_text()
    assert (work / "cron.err").read_text() == ""
    cron_out = (work / "cron.out").read_text()
    assert cron_out.startswith("logwarden scan: 2 file(s)"), cron_out[:2000]
    assert cron_out.splitlines()[1].startswith("findings raised or extended: 3 (")  # -q: the summary
    assert "[HIGH] SSH password brute force from one source: source.ip=203.0.113.77" in cron_out  # bundled policy
    assert [line.split() for line in (work / "stat.txt").read_text().splitlines()] == [
        ["logwarden", "600"], ["logwarden", "644"], ["root", "640"]]
    doctor = json.loads((work / "doctor.json").read_text())
    assert (work / "doctor.rc").read_text().strip() == "0", doctor
    assert doctor["ok"] and {c["area"] for c in doctor["checks"]} >= {
        "config", "checklist", "policy", "channels", "state", "source", "last run", "defects", "audit"}
    scenarios = {f["scenario_id"] for f in json.loads((work / "findings.json").read_text())["findings"]}
    assert {"ssh-bruteforce", "web-scanner-user-agent"} <= scenarios
    assert (work / "doc.txt").read_text().strip() == "/opt/logwarden/share/doc/logwarden/deploy.md"
    # and the real system saw none of it
    assert subprocess.run(["getent", "passwd", "logwarden"], capture_output=True).returncode != 0
    assert not Path("/etc/logwarden").exists() and not Path("/opt/logwarden").exists()
