"""`scan --engine dask` on a real LocalCluster of two worker processes: the same findings as the
local engine (ids, counts, first/last seen, evidence, confidence) on a multi-file, mixed-format
archive with cross-file chains, a gzip generation and files split into byte ranges; the same
checkpoints, so a later local scan goes on from there; a worker killed mid-scan changes nothing;
a path the workers cannot read is an error naming the worker and the path."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import distributed
import pytest

from detector.config import Config, EngineSpec
from detector.detection.engine import load_engine
from detector.errors import SourceReadError
from detector.runs.dask_engine import run_dask_scan
from detector.runs.scan import run_scan
from detector.state.store import Store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import generate_logs  # noqa: E402
from backlogkit import ATTACKER, backlog, time_of  # noqa: E402

SIGMAHQ_WEB = (ROOT.parent / "shared" / "sigma" / "rules" / "web").resolve()  # read from its path, never copied
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CHUNK = 16 << 10  # many batches per file
PARTITION = 96 << 10  # the larger plain files are split into several byte ranges


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
        silence_logs=50,
    ) as local, distributed.Client(local, set_as_default=False) as client:
        yield local, client


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Web access log (its older half a gzip generation) and a bastion's auth.log with a web scan
    followed by SSH logins from the scanner; the realistic app and infra sample logs besides
    (JSON lines, logfmt, RFC 3164/5424, ISO syslog, kernel firewall lines)."""
    root = tmp_path_factory.mktemp("archive")
    web = root / "web"
    web.mkdir()
    access, auth = backlog(web)
    lines = access.read_text().splitlines(keepends=True)
    split = next(n for n, line in enumerate(lines) if time_of(line) >= datetime(2026, 11, 23, 5, tzinfo=timezone.utc))
    with gzip.open(web / "access.log.1.gz", "wt") as older:  # the scanner's requests (03:00) are in here
        older.write("".join(lines[:split]))
    access.write_text("".join(lines[split:]))
    auth.rename(root / "auth.log")
    api = root / "api.jsonl"
    generate_logs.write("app-json", 4000, api, seed=5, start="2026-11-23T00:00:00Z", rate=0.12, attack_rate=0.01)
    for sample in ("app", "infra"):
        shutil.copytree(ROOT / "sample_logs" / sample, root / sample)
    return root


def _config(state: Path) -> Config:
    return Config(path=None, state=state, checklist=None, escalation=None, timezone="UTC",
                  engine=EngineSpec(kind="dask"))


def snapshot(state: Path) -> dict:
    """Everything a later run or a user reads: findings with their evidence, checkpoints."""
    with Store(state) as store:
        findings = sorted(
            (f.id, f.scenario_id, tuple(sorted(f.entity.items())), f.first_seen, f.last_seen, f.count, f.status,
             round(f.confidence, 4), tuple((e.path, e.offset, e.line, e.timestamp) for e in f.evidence))
            for f in store.findings(include_exercise=True)
        )
        files = sorted(
            (r["path"], r["offset"], r["tail_hash"], r["lines_read"], r["format"], r["at_eof"], r["size_seen"])
            for r in store.execute("SELECT * FROM files")
        )
        samples = sorted(tuple(r) for r in store.execute("SELECT path, offset, reason, sample FROM unparsed_samples"))
        # the change feed escalation reads: how often a finding was extended or re-rated on the
        # way depends on how the input was cut into batches (locally too); which findings were
        # raised or closed does not
        feed = sorted({tuple(r) for r in store.execute("SELECT finding_id, change FROM finding_log WHERE change IN ('new', 'closed')")})
    return {"findings": findings, "files": files, "samples": samples, "feed": feed}


def batches_of(state: Path) -> list[tuple]:
    """The batches correlation was handed: file, byte range, counts, event times, kinds."""
    with Store(state) as store:
        return sorted(tuple(r) for r in store.execute(
            "SELECT path, start_offset, end_offset, lines, parsed, unparsed, first_event, last_event, log_kind"
            " FROM ingest_log"))


def local_scan(state: Path, paths: list[Path], now: datetime = NOW, sink=None, **kwargs) -> dict:
    with Store(state) as store:
        result = run_scan(store, _config(state), paths, now, sink=sink or load_engine(None), log=lambda _m: None,
                          chunk_size=CHUNK, **kwargs)
    return result.stats


def dask_scan(state: Path, paths: list[Path], client, now: datetime = NOW, sink=None, **kwargs) -> dict:
    spec = EngineSpec(kind="dask", partition_mb=1)
    with Store(state) as store:
        result = run_dask_scan(store, _config(state), paths, now, sink=sink or load_engine(None), log=lambda _m: None,
                               chunk_size=CHUNK, spec=spec, client=client, partition_bytes=PARTITION, **kwargs)
    return result.stats


def _same_counts(local: dict, remote: dict) -> None:
    for key in ("files", "bytes_read", "lines_read", "lines_parsed", "lines_unparsed", "lines_blank",
                "unparsed_reasons", "formats", "gaps"):
        assert remote[key] == local[key], key


def test_findings_and_checkpoints_are_those_of_the_local_engine(archive, cluster, tmp_path) -> None:
    _, client = cluster
    local = local_scan(tmp_path / "local.db", [archive])
    remote = dask_scan(tmp_path / "dask.db", [archive], client)
    _same_counts(local, remote)
    expected, got = snapshot(tmp_path / "local.db"), snapshot(tmp_path / "dask.db")
    chains = [f for f in got["findings"] if f[1] == "recon-then-login"]
    assert ((("source.ip", ATTACKER),), 7) in [(f[2], f[5]) for f in chains]  # across files and the .gz
    assert len({f[1] for f in got["findings"]}) >= 5  # web, auth, app and infra scenarios all fired
    assert got == expected
    assert batches_of(tmp_path / "dask.db") == batches_of(tmp_path / "local.db")  # cut exactly like the local reader
    parts = remote["engine"]["partitions"]
    assert max(p["parts"] for p in parts) > 1  # byte ranges were really cut
    assert {p["worker"] for p in parts} == set(client.scheduler_info()["workers"])  # both workers worked


def test_merged_batches_find_the_same_here(archive, cluster, tmp_path) -> None:
    """Workers may hand several read chunks over as one batch (`batch_chunks`: less per-batch
    work on the client). On this archive correlation finds the same in them; on a long one
    today's correlation does not quite (docs/distributed.md), which is why 1 is the default."""
    _, client = cluster
    local_scan(tmp_path / "local.db", [archive])
    remote = dask_scan(tmp_path / "dask.db", [archive], client, batch_chunks=4)
    assert snapshot(tmp_path / "dask.db") == snapshot(tmp_path / "local.db")
    with Store(tmp_path / "dask.db") as store:
        batches = store.execute("SELECT COUNT(*) FROM ingest_log").fetchone()[0]
    with Store(tmp_path / "local.db") as store:
        assert batches < store.execute("SELECT COUNT(*) FROM ingest_log").fetchone()[0] / 2
    assert remote["lines_read"] > 0


@pytest.mark.skipif(not SIGMAHQ_WEB.is_dir(), reason=f"SigmaHQ subset not found at {SIGMAHQ_WEB}")
def test_sigma_rules_given_to_the_scan_run_on_the_workers_as_locally(archive, cluster, tmp_path) -> None:
    """`scan --sigma`: the Sigma rules travel to the workers inside the checklist, and what
    they find there is what the local engine finds."""
    _, client = cluster
    local_scan(tmp_path / "local.db", [archive], sink=load_engine(None, sigma=[SIGMAHQ_WEB]))
    dask_scan(tmp_path / "dask.db", [archive], client, sink=load_engine(None, sigma=[SIGMAHQ_WEB]))
    expected, got = snapshot(tmp_path / "local.db"), snapshot(tmp_path / "dask.db")
    assert got == expected
    bundled = {s.id for s in load_engine(None).checklist.scenarios}
    assert {f[1] for f in got["findings"]} - bundled  # some Sigma rule fired


def test_a_later_local_scan_goes_on_from_the_dask_checkpoints(archive, cluster, tmp_path) -> None:
    """A dask run over the archive, then lines appended: a local scan reads only those, and the
    result is the local engine's over both steps."""
    _, client = cluster
    for name in ("local", "dask"):
        shutil.copytree(archive, tmp_path / name)
    later = NOW + timedelta(hours=1)
    extra = "".join(f"{datetime(2026, 11, 23, 9, 30, i, tzinfo=timezone.utc):%Y-%m-%dT%H:%M:%S.000000+00:00} "
                    f"bastion01 sshd[999]: Failed password for root from 203.0.113.250 port 4{i:04d} ssh2\n"
                    for i in range(12))
    local_scan(tmp_path / "local.db", [tmp_path / "local"])
    dask_scan(tmp_path / "dask.db", [tmp_path / "dask"], client)
    for name in ("local", "dask"):
        with open(tmp_path / name / "auth.log", "a") as handle:
            handle.write(extra)
    second_local = local_scan(tmp_path / "local.db", [tmp_path / "local"], later)
    second_after_dask = local_scan(tmp_path / "dask.db", [tmp_path / "dask"], later)
    assert second_after_dask["lines_read"] == second_local["lines_read"] == 12
    expected, got = snapshot(tmp_path / "local.db"), snapshot(tmp_path / "dask.db")
    normalize = lambda snap, name: str(snap).replace(str(tmp_path / name), "ROOT")  # noqa: E731
    assert normalize(got, "dask") == normalize(expected, "local")
    assert any(f[2] == (("source.ip", "203.0.113.250"),) for f in got["findings"])


def test_since_evaluates_the_same_recent_events_on_the_cluster(archive, cluster, tmp_path) -> None:
    _, client = cluster
    since = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    local = local_scan(tmp_path / "local.db", [archive], since=since)
    remote = dask_scan(tmp_path / "dask.db", [archive], client, since=since)
    assert remote["events_before_since"] == local["events_before_since"] > 0
    expected, got = snapshot(tmp_path / "local.db"), snapshot(tmp_path / "dask.db")
    assert got == expected
    assert all(f[3] >= since for f in got["findings"])
    assert len(got["findings"]) < len(snapshot_of_full(archive, client, tmp_path)["findings"])


def snapshot_of_full(archive: Path, client, tmp_path: Path) -> dict:
    dask_scan(tmp_path / "full.db", [archive], client)
    return snapshot(tmp_path / "full.db")


def test_a_truncated_archive_is_read_up_to_the_damage_as_locally(cluster, tmp_path) -> None:
    """A .gz cut short (still being written, or damaged): both engines read what can be read,
    warn, and keep the same checkpoint."""
    _, client = cluster
    lines = "".join(generate_logs.generate("auth-iso", 20_000, seed=9, start="2026-11-23T00:00:00Z", attack_rate=0.02))
    whole = gzip.compress(lines.encode())
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "auth.log.1.gz").write_bytes(whole[: len(whole) * 2 // 3])
    local = local_scan(tmp_path / "local.db", [logs])
    remote = dask_scan(tmp_path / "dask.db", [logs], client)
    _same_counts(local, remote)
    assert 0 < remote["lines_read"] < 20_000
    assert snapshot(tmp_path / "dask.db") == snapshot(tmp_path / "local.db")


def test_a_worker_killed_mid_scan_changes_nothing(archive, cluster, tmp_path) -> None:
    local_cluster, client = cluster
    local_scan(tmp_path / "local.db", [archive])
    killed: list[str] = []
    after: list[str] = []  # the workers of the partitions consumed after the kill

    def kill_one_worker(result) -> None:
        """After the first partition is consumed, SIGKILL the worker process that did not run it
        (it holds finished results and is running others): Dask must run those again."""
        if killed:
            after.append(result.worker)
            return
        pids = client.run(os.getpid)
        victim = next(address for address in pids if address != result.worker)
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(victim)

    remote = dask_scan(tmp_path / "dask.db", [archive], client, on_result=kill_one_worker)
    assert killed and len(after) > 10  # killed mid-scan, with most of it still to come
    assert killed[0] not in after  # what it held or was running was run again elsewhere
    assert snapshot(tmp_path / "dask.db") == snapshot(tmp_path / "local.db")
    assert remote["lines_read"] == local_scan(tmp_path / "again.db", [archive])["lines_read"]
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next test


def _can_unshare_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def worker_without_the_share(tmp_path):
    """A scheduler and one `dask worker` process that does not see the client's log directory:
    started in a mount namespace of its own where an empty file system hides it, as on a
    machine that lacks the shared mount. Yields (client, the hidden directory)."""
    if os.geteuid() != 0 or not _can_unshare_mounts():
        pytest.skip("needs root and mount namespaces (unshare) to hide a directory from one worker")
    logs = tmp_path / "logs"
    logs.mkdir()
    script = 'mount -t tmpfs none "$0" && exec "$@"'
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0", silence_logs=50) as local:
        worker = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(logs),
             sys.executable, "-m", "distributed.cli.dask_worker", local.scheduler_address, "--nthreads", "1",
             "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(local, set_as_default=False) as client:
                client.wait_for_workers(1, timeout=60)
                yield client, logs
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def test_a_path_the_workers_cannot_read_is_an_error_naming_worker_and_path(worker_without_the_share, tmp_path) -> None:
    client, logs = worker_without_the_share
    log = logs / "auth.log"
    log.write_text("2026-11-23T10:00:00.000000+00:00 bastion01 sshd[1]: Accepted password for a from 10.0.0.1 port 1 ssh2\n")
    state = tmp_path / "state.db"
    with pytest.raises(SourceReadError) as error:
        dask_scan(state, [log], client)
    message = str(error.value)
    worker = next(iter(client.scheduler_info()["workers"]))
    assert message.startswith(f"worker {worker} cannot read {log}: ") and "No such file" in message
    assert "\n" not in message
    with sqlite3.connect(state) as db:  # nothing of the run was recorded
        assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0
