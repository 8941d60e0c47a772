"""Faults a user of the project meets: a run killed while it writes, two runs launched at once.

A materialization is SIGKILLed at a known point inside a real write (the subprocess script below slows that
write down; production code has no hook for it), then the published Parquet files and the DuckDB views must
be whole (the previous version, or the new one of every table of the step), and the next materialization
must succeed. Two runs launched together
through a `dagster dev` server on the project's dagster.yaml must queue (one run at a time), both succeed, and
leave the catalog consistent; two materializations outside the queue, racing on one output folder, must leave
every file whole.
"""
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from instr_assets.core.storage import DataStore, sweep_stale_temps
from instr_assets.definitions import ALL_ASSETS
from instr_assets.defs.clean_config import CleanConfig
from instr_assets.defs.resources import DataStoreResource
from instr_assets_tests.webserver_harness import LOCATION, REPOSITORY, DagsterDevServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CHEAP = ALL_ASSETS[:3]  # raw_sources, unified_pairs, cleaned_pairs: seconds, no model
TABLES = ["raw_sources", "unified_pairs", "unified_pairs_rejected", "cleaned_pairs", "cleaned_pairs_rejected"]

# Runs in a child process: materialize cleaned_pairs with another config (so new data would differ), with one
# real write slowed down at the chosen point. It writes MARKER when it is in the middle of that write, then
# sleeps until the test kills it.
KILLED_RUN = textwrap.dedent('''
    import io, os, sys, time
    from pathlib import Path

    root, point, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def stall(what):
        marker.write_text(what)
        time.sleep(600)

    if point == "parquet":
        # cleaned_pairs streams its kept rows into the file (polars' streaming writer, in native code): the stand-in
        # leaves the staged file as a killed writer would, its first half flushed to disk (row groups, no
        # footer), and the process stalls there.
        from instr_assets.core.clean import cleaning
        real_write_kept = cleaning._write_kept

        def half_written_then_stall(parts, clusters, out, row_group_rows):
            real_write_kept(parts, clusters, out, row_group_rows)
            data = Path(out).read_bytes()
            with open(out, "wb") as fh:
                fh.write(data[:len(data) // 2])
                fh.flush()
                os.fsync(fh.fileno())
            stall(str(out))

        cleaning._write_kept = half_written_then_stall
    elif point == "catalog":
        # The (missing) view is created inside an open DuckDB connection that holds the catalog lock; the
        # process stalls before closing it, so the change sits in the WAL, not yet checkpointed.
        import types
        import duckdb
        from instr_assets.core import storage

        class Connection:
            def __init__(self, con):
                self._con = con

            def execute(self, sql, *args):
                out = self._con.execute(sql, *args)
                if 'VIEW "cleaned_pairs"' in sql:
                    stall(sql)
                return out

            def __getattr__(self, name):
                return getattr(self._con, name)

        storage.duckdb = types.SimpleNamespace(connect=lambda *a, **k: Connection(duckdb.connect(*a, **k)),
                                               IOException=duckdb.IOException, Error=duckdb.Error)
    else:
        raise SystemExit(f"unknown kill point {point}")

    import dagster as dg
    from instr_assets.defs.clean_config import CleanConfig
    from instr_assets.defs.clean_assets import cleaned_pairs
    from instr_assets.defs.resources import DataStoreResource

    dg.materialize([cleaned_pairs], resources={"data_store": DataStoreResource(root=root)},
                   run_config=dg.RunConfig(ops={"cleaned_pairs": CleanConfig(max_words=40)}))
    raise SystemExit("the run finished: it should have been killed")
''')

# A folder swap (new_folder/replace_folder, used for resumable checkpoints and tokenized shards) killed while
# the old folder is being deleted.
KILLED_SWAP = textwrap.dedent('''
    import shutil, sys, time
    from pathlib import Path
    from instr_assets.core import storage

    final, marker = Path(sys.argv[1]), Path(sys.argv[2])
    real_rmtree = shutil.rmtree

    def slow_rmtree(path, *args, **kwargs):
        path = Path(path)
        if path.exists():  # deleting the previous version (the temp folder does not exist yet): one file, stall
            next(iter(sorted(path.iterdir()))).unlink()
            marker.write_text(str(path))
            time.sleep(600)
        return real_rmtree(path, *args, **kwargs)

    storage.shutil.rmtree = slow_rmtree
    with storage.new_folder(final) as tmp:
        for name in ("model.safetensors", "optimizer.safetensors", "state.json"):
            (tmp / name).write_text("new " + name)
    raise SystemExit("the swap finished: it should have been killed")
''')


# Runs in a child process: materialize the cheap stages into a shared output folder on an ephemeral instance (no
# run queue, no pools: what two ad-hoc `dg.materialize` scripts get), starting when the test says go.
RACING_RUN = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import dagster as dg
    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    root, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ready.write_text("ready")
    while not go.exists():
        time.sleep(0.01)
    t0 = time.time()
    result = dg.materialize(ALL_ASSETS[:3], resources={"data_store": DataStoreResource(root=root)}, raise_on_error=False)
    print(f"WINDOW {t0} {time.time()}")
    sys.exit(0 if result.success else 1)
''')


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _published_files(root: Path) -> list[Path]:
    return sorted((root / "published").glob("*/*.parquet")) if (root / "published").exists() else []


def _unfinished(root: Path) -> list[Path]:
    """What a dead writer left: link temps in published/, step versions never published."""
    return [p for p in (root / "published").iterdir() if p.name.startswith(".")] + \
           [v for v in (root / "steps").glob("*/*") if not (v / "_step.json").exists()]


def _snapshot(root: Path) -> dict:
    """Every published Parquet file's hash, and what every DuckDB view returns (row count + an order-free checksum)."""
    files = {p.name: _sha(p) for p in _published_files(root)}
    store = DataStore(root)
    views = {t: tuple(store.query(f'SELECT count(*), coalesce(sum(hash(raw_id)), 0) FROM "{t}"').row(0)) for t in TABLES}
    return {"files": files, "views": views}


def _run_until_marker(script: str, args: list[str], marker: Path, tmp_path: Path, timeout: float = 180.0):
    """Start `script` in its own process group, wait until it writes `marker`, SIGKILL the group."""
    path = tmp_path / "child.py"
    path.write_text(script, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    log = open(tmp_path / "child.log", "wb")
    proc = subprocess.Popen([sys.executable, str(path), *args, str(marker)], cwd=REPO_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"child exited {proc.returncode} before the kill point:\n"
                            f"{(tmp_path / 'child.log').read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"child did not reach the kill point in {timeout}s")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return marker.read_text()


def _materialize(root: Path, assets=CHEAP, **ops) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"data_store": DataStoreResource(root=str(root))},
                          run_config=dg.RunConfig(ops=ops), raise_on_error=False)


def _assert_consistent(root: Path) -> None:
    """Kept + rejected = input at each stage, every published Parquet file readable, every view over a
    published table (relative to the output root)."""
    for p in _published_files(root):
        pl.read_parquet(p)
    store = DataStore(root)
    n = {t: store.query(f'SELECT count(*) AS n FROM "{t}"')["n"][0] for t in TABLES}
    sources = store.query("SELECT sql FROM duckdb_views() WHERE NOT internal")["sql"].to_list()
    assert n["raw_sources"] == n["unified_pairs"] + n["unified_pairs_rejected"]
    assert n["unified_pairs"] == n["cleaned_pairs"] + n["cleaned_pairs_rejected"]
    assert all("read_parquet('published/" in s for s in sources), sources


# --- killed while writing -----------------------------------------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", ["parquet", "catalog"])
def test_sigkill_mid_write_keeps_the_previous_version(tmp_path, point):
    root = tmp_path / "out"
    t0 = time.monotonic()
    assert _materialize(root).success
    before = _snapshot(root)
    if point == "catalog":
        # Views do not change between versions, so the killed run only writes the catalog for a missing view.
        con = duckdb.connect(str(root / "instr_assets.duckdb"))
        con.execute('DROP VIEW "cleaned_pairs"')
        con.close()

    where = _run_until_marker(KILLED_RUN, [str(root), point], tmp_path / "marker", tmp_path)
    leftovers = _unfinished(root)
    cleaned = {"cleaned_pairs.parquet", "cleaned_pairs_rejected.parquet"}
    if point == "parquet":
        # Killed with part of the new cleaned_pairs in its staged version: the published version is untouched.
        staged = Path(where)
        assert staged.exists() and staged.name == "cleaned_pairs.parquet"
        with pytest.raises(Exception):
            pl.read_parquet(staged)  # a Parquet file without its footer really was on disk...
        # ...beside the cleaning's working folder of part files, in a version folder that was never published.
        assert leftovers == [staged.parent]
        assert sorted(p.name for p in staged.parent.iterdir()) == [staged.name, staged.name + ".parts"]
        assert _snapshot(root) == before  # ...and neither the published files nor the views show it
    else:
        # Killed holding the catalog lock with the view change only in DuckDB's WAL, after the switch: both
        # cleaned tables are the new version together (kept + rejected = input), the other steps' files are
        # unchanged, readers open the catalog read-only, and the lock died with the process.
        assert leftovers == []
        after = _snapshot(root)
        assert all(after["files"][k] != before["files"][k] for k in cleaned)
        assert {k: v for k, v in after["files"].items() if k not in cleaned} == \
               {k: v for k, v in before["files"].items() if k not in cleaned}
        assert after["views"]["cleaned_pairs"][0] < before["views"]["cleaned_pairs"][0]  # max_words=40 drops pairs
        _assert_consistent(root)
        with DataStore(root)._catalog_lock(timeout_s=5):
            pass

    # The next materialization succeeds, with the new config, and sweeps the dead writer's staged version.
    result = _materialize(root, [ALL_ASSETS[2]], cleaned_pairs=CleanConfig(max_words=40))
    assert result.success
    assert not _unfinished(root)
    final = _snapshot(root)
    assert final["views"]["cleaned_pairs"][0] < before["views"]["cleaned_pairs"][0]
    _assert_consistent(root)
    print(f"kill at {point}: {time.monotonic() - t0:.1f}s")


@pytest.mark.timeout(120)
def test_sigkill_mid_folder_swap_leaves_a_whole_folder(tmp_path):
    final = tmp_path / "resume"
    final.mkdir()
    for name in ("model.safetensors", "optimizer.safetensors", "state.json"):
        (final / name).write_text("old " + name)
    _run_until_marker(KILLED_SWAP, [str(final)], tmp_path / "marker", tmp_path, timeout=60)
    # Killed while the previous version was being deleted: `final` is the new folder, whole.
    assert sorted(p.name for p in final.iterdir()) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    assert all(p.read_text().startswith("new ") for p in final.iterdir())
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".resume.")]
    assert len(stale) == 1 and stale[0].name.endswith(".old")
    assert sweep_stale_temps(final) == stale  # its writer is dead: the next writer clears it
    assert not stale[0].exists()


# --- two runs at once -------------------------------------------------------------------------------------

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUNS = """
query($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) {
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}"""
ACTIVE = ("STARTING", "STARTED", "CANCELING")


@pytest.mark.timeout(400)
def test_two_runs_launched_together_queue_and_both_succeed(tmp_path):
    """A 'scheduled' run and a manual one launched at once through the UI server: dagster.yaml allows one run
    at a time, so the second waits in the queue; both succeed and the catalog is consistent."""
    t0 = time.monotonic()
    srv = DagsterDevServer(home=tmp_path / "dagster_home", output_dir=tmp_path / "output")
    srv.start()
    try:
        srv.wait_ready(timeout=180)
        assert srv.graphql("{ instance { runQueuingSupported } }")["instance"]["runQueuingSupported"]
        ready = time.monotonic()

        def launch(tags: dict) -> str:
            params = {
                "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                             "jobName": "__ASSET_JOB", "assetSelection": [{"path": [a.key.path[0]]} for a in CHEAP]},
                "runConfigData": {"execution": {"config": {"in_process": {}}}},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
            out = srv.graphql(LAUNCH, {"params": params})["launchRun"]
            assert out["__typename"] == "LaunchRunSuccess", out
            assert out["run"]["status"] == "QUEUED"  # the queued run coordinator from dagster.yaml
            return out["run"]["runId"]

        ids = [launch({"dagster/schedule_name": "nightly_rebuild"}), launch({"instr_assets/trigger": "manual"})]
        seen, overlaps = set(), []
        deadline = time.monotonic() + 300
        while True:
            runs = srv.graphql(RUNS, {"ids": ids})["runsOrError"]["results"]
            status = {r["runId"]: r["status"] for r in runs}
            seen.add(tuple(status[i] for i in ids))
            if sum(s in ACTIVE for s in status.values()) > 1:
                overlaps.append(status)
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in status.values()):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.25)
        assert overlaps == []
        assert all(s == "SUCCESS" for s in status.values()), (status, srv.log_tail())
        # One of them waited in the queue while the other ran.
        assert any(("QUEUED" in pair) and any(s in ACTIVE for s in pair) for pair in seen), seen
        first, second = sorted(runs, key=lambda r: r["startTime"])
        assert first["endTime"] <= second["startTime"], (first, second)
        print(f"two queued runs: {time.monotonic() - ready:.1f}s after the server was ready "
              f"({ready - t0:.1f}s to start it); runs {first['endTime'] - first['startTime']:.1f}s and "
              f"{second['endTime'] - second['startTime']:.1f}s, gap {second['startTime'] - first['endTime']:.1f}s")
    finally:
        srv.stop()
    _assert_consistent(srv.output_dir)
    assert not _unfinished(srv.output_dir)


@pytest.mark.timeout(240)
def test_two_unqueued_materializations_race_on_one_output_folder(tmp_path):
    """Without the run queue and pools (two ad-hoc scripts on ephemeral instances), the same stages written at
    the same time into one folder: each step writes its own version and publishes it by one link switch, a
    reader polling the published Parquet files meanwhile never sees a torn one, and the catalog ends consistent."""
    root = tmp_path / "out"
    script = tmp_path / "race.py"
    script.write_text(RACING_RUN, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        log = open(tmp_path / f"race{i}.log", "wb")
        procs.append((subprocess.Popen([sys.executable, str(script), str(root), str(tmp_path / f"ready{i}"), str(go)],
                                       cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True), log))
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert all(p.poll() is None for p, _ in procs) and time.monotonic() < deadline
            time.sleep(0.05)
        go.write_text("go")
        reads = 0
        while any(p.poll() is None for p, _ in procs):
            assert time.monotonic() < deadline + 60
            for f in _published_files(root):
                pl.read_parquet(f)  # raises on a torn file
                reads += 1
            time.sleep(0.02)  # leave the two writers most of the two cores
    finally:
        for p, log in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            log.close()
    logs = [(tmp_path / f"race{i}.log").read_text(errors="replace") for i in range(2)]
    assert [p.returncode for p, _ in procs] == [0, 0], [log[-3000:] for log in logs]
    (a0, a1), (b0, b1) = [tuple(map(float, re.search(r"WINDOW (\S+) (\S+)", log).groups())) for log in logs]
    assert a0 < b1 and b0 < a1, "the two materializations did not overlap"
    assert reads > 0
    _assert_consistent(root)
    assert not _unfinished(root)
    print(f"race: overlap {min(a1, b1) - max(a0, b0):.1f}s, {reads} Parquet reads while writing")
