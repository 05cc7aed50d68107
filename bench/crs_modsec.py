"""Logwarden's CRS verdicts against ModSecurity's, request by request: a sample of an access
log's requests is replayed to nginx running ModSecurity v3 with the same CRS install, and the
rule ids each engine flags are compared (for the rules logwarden runs; the others ModSecurity
fires are counted apart). Not a benchmark: the check that our engine reads the CRS as the
reference engine does (targets, transformations, operators, chains, captures).

    apt-get install nginx libnginx-mod-http-modsecurity      # Debian's ModSecurity 3 for nginx
    flock /work/locks/cpu.lock .venv/bin/python bench/crs_modsec.py bench/data/access-crs-1000000.log \
        --sample 20000 --attacks 2000 [--details disagreements.jsonl]

The engine compared is this checkout's (`detector` beside `bench/`), whatever the venv's
editable install points at. The sample is drawn in one pass over the log (two reservoirs:
`--sample` lines of the whole log, `--attacks` of its attack traffic), so only the sampled lines
are held; ModSecurity's audit log is read a transaction at a time.

nginx runs as a child of this script on 127.0.0.1 only (one port per paranoia level), in
detection-only mode with a JSON audit log of every request, and is stopped at the end. Each
request is sent as the log recorded it: method, target, User-Agent and Referer (plus Host,
`Accept: */*` and a sequence header). The protocol is HTTP/1.1 whatever the log says, so rules
on the protocol or on headers a log does not carry are not compared. Requests that cannot be
sent as logged (whitespace or a control character in the target) and those nginx refuses
before ModSecurity sees them (a target above the root: `/static/../../../etc/passwd`) are
counted apart as not compared. ModSecurity 3 logs a match of a multiMatch rule that starts a
chain as soon as its first rule matches, whether or not the chain then does (CRS 942131), and
adds a rule's score once per matching variable, so neither its messages nor a total tell
whether such a rule scored: the requests it is logged on are replayed to a second server
without those rules, and a rule whose removal leaves the inbound anomaly score (logged per
request by a rule of ours after the CRS) unchanged is counted as logged without scoring, not
as fired.
`--details` writes those, every request the engines disagree on
and every one ModSecurity flags with a rule logwarden does not run, as JSON lines (log content
stays escaped there as in the printed examples, which are shown as Python literals).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
# this checkout's engine, not whichever one the venv's editable install points at
sys.path[:0] = [str(HERE.parent), str(HERE)]
from bench_crs import _attackers  # noqa: E402

MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
NOT_SCORED = {949110, 980170, 959100, 980099}  # blocking evaluation and correlation
SCORES_RULE = 1999001  # ours, after the CRS: logs the request's inbound anomaly score per paranoia level
_SCORES = re.compile(r"inbound scores (\d*) (\d*) (\d*) (\d*)")
CHUNK = 16_384  # log lines read at a time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _configure(crs: Path, levels: list[int], scratch: Path, without: set[int]) -> dict[tuple[int, str], int]:
    """nginx and ModSecurity configuration under `scratch`; the port of each level, and of each
    level with the rules `without` removed (variant "without")."""
    rules = crs / "rules" if (crs / "rules").is_dir() else crs
    setup = (crs / "crs-setup.conf.example") if (crs / "crs-setup.conf.example").exists() else None
    base = "" if setup is None else "\n".join(
        line for line in setup.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
    )  # fmt: skip
    ports, servers = {}, []
    (scratch / "scores.conf").write_text(  # the last phase-2 rule: after the CRS's own evaluation
        f'SecAction "id:{SCORES_RULE},phase:2,pass,log,auditlog,t:none,msg:\'inbound scores %{{tx.inbound_anomaly_score_pl1}}'
        " %{tx.inbound_anomaly_score_pl2} %{tx.inbound_anomaly_score_pl3} %{tx.inbound_anomaly_score_pl4}'\"\n"
    )
    (scratch / "www").mkdir()
    (scratch / "www" / "ok.txt").write_text("ok\n")
    for level in levels:
        (scratch / f"setup-{level}.conf").write_text(
            base + f'\nSecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level={level}"\n'
        )
        for variant in ("", "without") if without else ("",):
            name = f"{level}-{variant}" if variant else f"{level}"
            removed = f"SecRuleRemoveById {' '.join(map(str, sorted(without)))}\n" if variant else ""
            (scratch / f"modsec-{name}.conf").write_text(
                "SecRuleEngine DetectionOnly\nSecRequestBodyAccess On\nSecResponseBodyAccess Off\n"
                "SecAuditEngine On\nSecAuditLogParts ABHZ\nSecAuditLogFormat JSON\nSecAuditLogType Serial\n"
                f"SecAuditLog {scratch}/audit-{name}.json\n"
                f"Include {scratch}/setup-{level}.conf\nInclude {rules}/*.conf\nInclude {scratch}/scores.conf\n{removed}"
            )
            ports[(level, variant)] = port = _free_port()
            servers.append(
                f"server {{ listen 127.0.0.1:{port}; modsecurity_rules_file {scratch}/modsec-{name}.conf;"
                f" location / {{ root {scratch}/www; try_files /ok.txt =404; }} }}"
            )
    temp = scratch / "tmp"
    (scratch / "nginx.conf").write_text(
        f"load_module {MODULE};\nworker_processes 1;\nerror_log {scratch}/error.log warn;\npid {scratch}/nginx.pid;\n"
        "daemon off;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
        f"  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};"
        f" uwsgi_temp_path {temp}; scgi_temp_path {temp};\n"
        "  large_client_header_buffers 4 64k;\n  modsecurity on;\n  " + "\n  ".join(servers) + "\n}\n"
    )
    return ports


def _wait_for(port: int, nginx: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds  # loading the CRS takes a few seconds per level
    while time.monotonic() < deadline:
        if nginx.poll() is not None:
            raise SystemExit("nginx stopped while starting: see its error log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nginx did not listen on 127.0.0.1:{port}")


def _sendable(request: dict) -> bool:
    """Whether the request can go on the wire as logged: a method, an origin-form target without
    whitespace or control characters, header values without line breaks."""
    if not request["method"] or not request["target"].startswith("/") or _CONTROL.search(request["target"]):
        return False
    return not any(c in request[name] for name in ("User-Agent", "Referer") for c in "\r\n\0")


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class _RawConnection(http.client.HTTPConnection):
    """Sends the request line as UTF-8 (a logged target may hold non-ASCII characters, which
    http.client would refuse)."""

    def _encode_request(self, request: str) -> bytes:
        return request.encode("utf-8")


def _replay(port: int, requests: list[dict], only: set[int] | None = None) -> None:
    """Sends each sendable request (of `only`, when given), its sequence number in a header."""
    conn = _RawConnection("127.0.0.1", port, timeout=30)
    for seq, request in enumerate(requests):
        if not _sendable(request) or (only is not None and seq not in only):
            continue
        try:
            conn.putrequest(request["method"], request["target"], skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", request["host"])
            conn.putheader("Accept", "*/*")
            conn.putheader("X-Replay-Seq", str(seq))
            for name in ("User-Agent", "Referer"):
                if request[name]:
                    conn.putheader(name, request[name].encode("utf-8"))
            if request["method"] in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", "0")
            conn.endheaders()
            conn.getresponse().read()
        except (http.client.HTTPException, OSError, ValueError):  # refused or closed by nginx: not compared
            conn.close()
    conn.close()


def _audit(path: Path) -> tuple[dict[int, set[int]], dict[int, int]]:
    """Per replayed request (its sequence number), the rule ids ModSecurity flagged, and its
    inbound anomaly score (all paranoia levels) as our last rule logged it."""
    found: dict[int, set[int]] = {}
    scores: dict[int, int] = {}
    if not path.exists():
        return found, scores
    with open(path, encoding="utf-8", errors="replace") as audit:  # one transaction a line, read as it comes
        for line in audit:
            if not line.strip():
                continue
            transaction = json.loads(line)["transaction"]
            headers = {k.lower(): v for k, v in transaction["request"]["headers"].items()}
            if "x-replay-seq" in headers:
                seq = int(headers["x-replay-seq"])
                ids = {int(m["details"]["ruleId"]) for m in transaction.get("messages", [])}
                found[seq] = ids - NOT_SCORED - {SCORES_RULE}
                for message in transaction.get("messages", []):
                    logged = _SCORES.search(message.get("message", ""))
                    if int(message["details"]["ruleId"]) == SCORES_RULE and logged:
                        scores[seq] = sum(int(v or 0) for v in logged.groups())
    return found, scores


def _multi_chains(crs: Path) -> set[int]:
    """The CRS request rules that start a chain with multiMatch (read with logwarden's loader)."""
    from detector.checklist.crs import loader

    rules = crs / "rules" if (crs / "rules").is_dir() else crs
    found = set()
    for file in sorted(rules.glob("REQUEST-*.conf")):
        for chain in loader._chains(loader._parse_file(file)):
            if len(chain) > 1 and any(a["act_name"] == "multiMatch" for a in chain[0].get("actions", [])):
                found.add(int(loader._first(chain[0], "id", "0") or 0))
    return found


def _unscored(ids: set[int], score: int | None, score_without: int | None, multi_chains: set[int]) -> set[int]:
    """The multiMatch chain rules among `ids` that ModSecurity logged but did not score: without
    them the request's inbound anomaly score is the same."""
    suspects = ids & multi_chains
    if not suspects or score is None or score_without is None:
        return set()
    return suspects if score == score_without else set()


class _Reservoir:
    """A uniform sample of `size` items from a stream of unknown length (Algorithm R): memory
    for the sample only."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.seen, self.items = size, rng, 0, []

    def offer(self, item) -> None:
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            slot = self.rng.randrange(self.seen + 1)
            if slot < self.size:
                self.items[slot] = item
        self.seen += 1


def _sample(log: Path, size: int, attacks: int, seed: int, host: str) -> tuple[list[dict], object]:
    """`size` lines drawn from the whole log and `attacks` from its attack traffic, in one pass
    over the file (chunk by chunk, holding only the samples), parsed into a frame in file order;
    the requests as a client sent them."""
    from detector.parsing import parse_lines
    from detector.parsing.base import ParseContext
    from detector.pipeline import frame_from

    rng = random.Random(seed)
    anything, attack = _Reservoir(size, rng), _Reservoir(attacks, rng)
    number = 0
    with open(log, encoding="utf-8", errors="replace") as handle:
        while chunk := [line.rstrip("\n") for line in itertools.islice(handle, CHUNK)]:
            hostile = _attackers([line.split(" ", 1)[0] for line in chunk])
            for offset, line in enumerate(chunk):
                anything.offer((number + offset, line))
                if hostile[offset]:
                    attack.offer((number + offset, line))
            number += len(chunk)
    chosen = sorted(dict(anything.items + attack.items).items())  # a line in both samples once
    array = pa.array([line for _, line in chosen], pa.string())
    ctx = ParseContext(path=str(log), timezone="UTC", file_mtime=datetime.now(timezone.utc))
    parsed = parse_lines(array, "combined", ctx)
    numbers = np.array([n for n, _ in chosen], dtype=np.int64)
    frame = frame_from(parsed.table, array, numbers, parsed.parsed_index, str(log))
    columns = {"method": "http.request.method", "target": "url.original", "User-Agent": "user_agent.original",
               "Referer": "http.request.referrer"}  # fmt: skip
    sent = {name: _as_sent(frame[column]) for name, column in columns.items()}
    requests = [{"host": host, **{name: sent[name][i] for name in columns}} for i in range(len(frame))]
    return requests, frame


def _as_sent(column) -> list[str]:
    """A frame column as the client sent it (the server's logging escapes undone, as the CRS
    stage undoes them); missing (null, NA or a log's `-`) is empty."""
    from detector.detection.crs.sources import unescape_logged

    cells = [value if isinstance(value, str) and value != "-" else "" for value in column.tolist()]
    return unescape_logged(pa.array(cells, pa.string())).to_pylist()


def _ours(frame, crs: Path, level: int) -> tuple[list[set[int]], set[int]]:
    from detector.config import CrsSettings
    from detector.detection.crs.stage import load_crs_stage

    stage = load_crs_stage(CrsSettings(crs, paranoia=level))
    scored = stage.enrich(frame)
    ids = [set(map(int, value.split())) if isinstance(value, str) else set() for value in scored["crs.rules"].tolist()]
    return ids, {rule.id for rule in stage.rules}


def compare(requests: list[dict], attack: np.ndarray, ours: list[set[int]], loaded: set[int],
            theirs: dict[int, set[int]], level: int, details=None,
            unscored: dict[int, set[int]] | None = None, show: tuple[int, ...] = ()) -> None:  # fmt: skip
    """Per group, the requests compared and those with identical rule ids; the rules only one
    engine fired, with an example each; every differing request to `details` (JSON lines)."""
    for group, members in (("benign", ~attack), ("attack", attack)):
        same = compared = flagged_ours = flagged_theirs = unsendable = 0
        only_ours, only_theirs, unloaded, both, logged = Counter(), Counter(), Counter(), Counter(), Counter()
        examples: dict[int, dict] = {}
        for seq in np.flatnonzero(members).tolist():
            if seq not in theirs:
                unsendable += not _sendable(requests[seq])
                if details is not None:
                    reason = "refused by nginx" if _sendable(requests[seq]) else "not sendable"
                    record = {"level": level, "group": group, "seq": seq, "compared": reason, **requests[seq]}
                    details.write(json.dumps(record) + "\n")
                continue
            compared += 1
            dropped = (unscored or {}).get(seq, set())
            logged.update(dropped)
            mine, reference = ours[seq], (theirs[seq] - dropped) & loaded
            same += mine == reference
            flagged_ours += bool(mine)
            flagged_theirs += bool(reference)
            both.update(mine & reference)
            if details is not None and (mine != reference or theirs[seq] - loaded):
                record = {"level": level, "group": group, "seq": seq, "logwarden": sorted(mine),
                          "modsecurity": sorted(reference), "modsecurity_not_run_here": sorted(theirs[seq] - loaded),
                          **requests[seq]}  # fmt: skip
                details.write(json.dumps(record) + "\n")
            only_ours.update(mine - reference)
            only_theirs.update(reference - mine)
            for rule in (mine ^ reference) - set(examples):
                examples[rule] = requests[seq]
            unloaded.update(theirs[seq] - loaded)
        total = int(members.sum())
        print(f"PL{level} {group}: {compared:,} of {total:,} requests compared, rule ids identical on {same:,}"
              f" (not compared: {unsendable:,} not sendable as logged,"
              f" {total - compared - unsendable:,} refused by nginx);"
              f" flagged by logwarden {flagged_ours:,}, by ModSecurity {flagged_theirs:,}")  # fmt: skip
        if both:
            print(f"   rules both fired, requests: {dict(both.most_common(8))}")
        if only_ours or only_theirs:
            print(f"   only logwarden: {dict(only_ours.most_common(8))};"
                  f" only ModSecurity: {dict(only_theirs.most_common(8))}")
            for rule, request in sorted(examples.items())[:8]:  # log content: shown escaped (repr)
                print(f"   e.g. {rule}: {request['method'][:16]!r} {request['target'][:150]!r}"
                      f" Referer {request['Referer'][:80]!r}")
        if unloaded:
            print(f"   ModSecurity also fired rules logwarden does not run: {dict(unloaded.most_common(8))}")
        if logged:
            print(f"   ModSecurity logged without scoring (multiMatch rule, its chain did not match): {dict(logged)}")
        for rule in show:
            print(f"   {rule}: both {both[rule]:,}, only logwarden {only_ours[rule]:,}, only ModSecurity"
                  f" {only_theirs[rule]:,}, logged by ModSecurity without scoring {logged[rule]:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="an nginx combined access log")
    parser.add_argument("--crs", type=Path, default=HERE.parent.parent / "shared" / "crs")
    parser.add_argument("--levels", default="1,2")
    parser.add_argument("--sample", type=int, default=5000, help="requests drawn from the log")
    parser.add_argument("--attacks", type=int, default=1000, help="and from its attack traffic (ATTACK_NETWORKS)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="www.example.com", help="the Host header sent")
    parser.add_argument("--details", type=Path, help="JSON lines: every request not compared, that the engines"
                        " disagree on, or that ModSecurity flags with a rule logwarden does not run")
    parser.add_argument("--show", default="", help="rule ids (comma-separated) to count in every group")
    args = parser.parse_args(argv)
    show = tuple(int(v) for v in args.show.split(",") if v.strip())
    nginx_binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not MODULE.exists() or not Path(nginx_binary).exists():
        print("needs nginx with ModSecurity: apt-get install nginx libnginx-mod-http-modsecurity", file=sys.stderr)
        return 2
    levels = [int(v) for v in args.levels.split(",")]
    import detector

    print(f"logwarden engine: {Path(detector.__file__).parent}; CRS: {args.crs}; ModSecurity: {MODULE}")
    requests, frame = _sample(args.log, args.sample, args.attacks, args.seed, args.host)
    attack = _attackers(frame["source.ip"].tolist())
    with tempfile.TemporaryDirectory(prefix="lw-modsec-") as name:
        scratch = Path(name)
        (scratch / "tmp").mkdir()
        multi_chains = _multi_chains(args.crs)
        ports = _configure(args.crs, levels, scratch, multi_chains)
        nginx = subprocess.Popen([nginx_binary, "-c", str(scratch / "nginx.conf"), "-p", str(scratch)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            theirs, unscored = {}, {}
            for level in levels:
                _wait_for(ports[(level, "")], nginx)
                _replay(ports[(level, "")], requests)
                time.sleep(1.0)  # the audit log's last transactions
                theirs[level], scores = _audit(scratch / f"audit-{level}.json")
                suspects = {seq for seq, ids in theirs[level].items() if ids & multi_chains}
                without: dict[int, int] = {}
                if suspects:
                    _wait_for(ports[(level, "without")], nginx)
                    _replay(ports[(level, "without")], requests, only=suspects)
                    time.sleep(1.0)
                    without = _audit(scratch / f"audit-{level}-without.json")[1]
                unscored[level] = {
                    seq: _unscored(theirs[level][seq], scores.get(seq), without.get(seq), multi_chains) for seq in suspects
                }
                if nginx.poll() is not None:
                    raise SystemExit("nginx stopped during the replay: see its error log")
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
    details = None if args.details is None else open(args.details, "w", encoding="utf-8")
    try:
        for level in levels:
            ours, loaded = _ours(frame, args.crs, level)
            compare(requests, attack, ours, loaded, theirs[level], level, details, unscored[level], show)
    finally:
        if details is not None:
            details.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
