"""Faults in publishing stage outputs: a step publishes all its tables together and only after its blocking
checks pass; a reader holding the DuckDB file cannot stop a publication; the catalog reads the folder it lies
in and can be rebuilt; two runs at once each build on their own upstream versions; an empty stage fails.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from instr_assets.core.storage import DataStore
from instr_assets.definitions import ALL_ASSETS
from instr_assets.defs.clean_config import CleanConfig
from instr_assets.defs.ingest_assets import RawSourcesConfig
from instr_assets.defs.resources import DataStoreResource

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW, UNIFIED, CLEANED, AUGMENTED = ALL_ASSETS[:4]
CHEAP = [RAW, UNIFIED, CLEANED]
VIEWS = ["raw_sources", "raw_source_options", "unified_pairs", "unified_pairs_rejected", "cleaned_pairs",
         "cleaned_pairs_rejected"]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))


def _materialize(root: Path, assets, **ops) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"data_store": DataStoreResource(root=str(root))},
                          run_config=dg.RunConfig(ops=ops), raise_on_error=False)


def _published_files(root: Path) -> dict[str, str]:
    """Every live table file, by name, with its content hash."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "published").glob("*/*.parquet"))}


def _view_rows(root: Path, views=VIEWS) -> dict[str, int]:
    store = DataStore(root)
    return {v: store.query(f'SELECT count(*) AS n FROM "{v}"')["n"][0] for v in views}


def _events(result, event_type: str, step: str) -> list:
    return [e for e in result.all_events if e.event_type_value == event_type and e.step_key == step]


@pytest.fixture(scope="module")
def cheap_root(tmp_path_factory) -> Path:
    """raw_sources, unified_pairs and cleaned_pairs materialized once on the bundled sources; tests copy it."""
    root = tmp_path_factory.mktemp("published") / "out"
    assert _materialize(root, CHEAP).success
    return root


def _copy(cheap_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "out"
    shutil.copytree(cheap_root, root, symlinks=True)
    return root


# --- publish only what passed ---------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_failing_check_publishes_nothing_and_reports_its_checks(cheap_root, tmp_path):
    """A cleaning config that rejects every pair: the step's checks are reported (one failed, named in the
    step's error), no materialization is claimed, downstream does not run, and both cleaned tables stay the
    previous version, so kept + rejected still equals the unified input."""
    root = _copy(cheap_root, tmp_path)
    files, rows = _published_files(root), _view_rows(root)
    result = _materialize(root, [CLEANED, AUGMENTED], cleaned_pairs=CleanConfig(languages=["xx"]))
    assert not result.success
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed
              for e in _events(result, "ASSET_CHECK_EVALUATION", "cleaned_pairs")}
    assert checks["cleaned_not_empty"] is False and checks["cleaned_accounting"] is True
    assert not _events(result, "ASSET_MATERIALIZATION", "cleaned_pairs")
    assert not _events(result, "STEP_START", "augmented_pairs")
    failure = _events(result, "STEP_FAILURE", "cleaned_pairs")[0].event_specific_data.error.message
    assert "not published" in failure and "cleaned_not_empty" in failure
    assert _published_files(root) == files and _view_rows(root) == rows
    assert rows["cleaned_pairs"] + rows["cleaned_pairs_rejected"] == rows["unified_pairs"]
    # The dropped staging version is gone; the live one is the one before.
    assert len(list((root / "steps" / "cleaned_pairs").iterdir())) == 1


@pytest.mark.timeout(300)
def test_empty_stages_fail_their_own_check_saying_what_emptied_them(cheap_root, tmp_path):
    root = _copy(cheap_root, tmp_path)
    unified_rows = _view_rows(root, ["unified_pairs"])["unified_pairs"]
    result = _materialize(root, [CLEANED], cleaned_pairs=CleanConfig(languages=["xx"]))
    check = next(e.event_specific_data for e in _events(result, "ASSET_CHECK_EVALUATION", "cleaned_pairs")
                 if e.event_specific_data.check_name == "cleaned_not_empty")
    summary = check.metadata["summary"].value
    assert summary.startswith(f"cleaned_pairs: 0 of {unified_rows} pairs kept; rejected by reason: ")
    reasons = dict(part.rsplit(" ", 1) for part in summary.split("rejected by reason: ")[1].split(", "))
    assert sum(map(int, reasons.values())) == unified_rows and "language_not_allowed" in reasons

    # unified_pairs: every record of the only source lacks a response.
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": "Name a colour."}, {"instruction": "Say hi."}]))
    (tmp_path / "sources.yaml").write_text("sources:\n  - {name: only, format: alpaca, path: a.json}\n")
    result = _materialize(root, [RAW, UNIFIED], raw_sources=RawSourcesConfig(sources_file=str(tmp_path / "sources.yaml")))
    assert not result.success and not _events(result, "ASSET_MATERIALIZATION", "unified_pairs")
    check = next(e.event_specific_data for e in _events(result, "ASSET_CHECK_EVALUATION", "unified_pairs")
                 if e.event_specific_data.check_name == "unified_not_empty")
    assert not check.passed
    assert check.metadata["summary"].value.startswith("unified_pairs: 0 of 2 raw records kept; rejected by reason: ")
    assert check.metadata["summary"].value.endswith(" 2")
    assert _view_rows(root, ["unified_pairs"])["unified_pairs"] == unified_rows  # the previous version is live


# --- the DuckDB file -------------------------------------------------------------------------------------

HOLD = textwrap.dedent('''
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
    print("held", flush=True)
    time.sleep(600)
''')


def _hold(db: Path, mode: str, tmp_path: Path) -> subprocess.Popen:
    """Another program holding the DuckDB file open, as the README's query snippet in a notebook does."""
    script = tmp_path / "hold.py"
    script.write_text(HOLD, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(db), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.timeout(300)
def test_a_reader_holding_the_catalog_does_not_block_publishing(cheap_root, tmp_path):
    root = _copy(cheap_root, tmp_path)
    before = _view_rows(root)
    reader = _hold(root / "instr_assets.duckdb", "ro", tmp_path)
    try:
        t0 = time.monotonic()
        result = _materialize(root, [CLEANED], cleaned_pairs=CleanConfig(max_words=40))
        took = time.monotonic() - t0
        assert result.success, took
        after = _view_rows(root)  # a second reader, while the first still holds the file
    finally:
        reader.kill()
        reader.wait()
    assert after["cleaned_pairs"] < before["cleaned_pairs"]  # max_words=40 drops pairs: the new version is live
    assert after["cleaned_pairs"] + after["cleaned_pairs_rejected"] == after["unified_pairs"]
    assert took < 60, took  # the old store waited 60 s for the file, then failed the step


@pytest.mark.timeout(120)
def test_a_view_that_cannot_be_written_warns_and_the_rebuild_mends_it(tmp_path):
    store = DataStore(tmp_path / "out", catalog_wait_s=0.5)
    store.write_table("first", pl.DataFrame({"x": [1]}))
    writer = _hold(store.duckdb_path, "rw", tmp_path)
    try:
        with store.publishing("second") as stage:
            stage.write_table("second", pl.DataFrame({"x": [1, 2]}))
            stage.write_table("second_extra", pl.DataFrame({"y": [3]}))
    finally:
        writer.kill()
        writer.wait()
    assert stage.published and "could not be written" in stage.catalog_warning
    assert "python -m instr_assets.catalog rebuild" in stage.catalog_warning
    assert store.read_table("second").height == 2  # the data is live, though its views are missing
    with pytest.raises(duckdb.CatalogException):
        store.query("SELECT * FROM second")
    assert store.rebuild_catalog() == []
    assert store.query("SELECT count(*) AS n FROM second")["n"][0] == 2
    assert store.query("SELECT y FROM second_extra")["y"].to_list() == [3]


@pytest.mark.timeout(300)
def test_a_moved_folder_reads_its_own_files_and_the_catalog_rebuilds_from_any_folder(cheap_root, tmp_path):
    original = _copy(cheap_root, tmp_path)
    rows = _view_rows(original)
    moved = tmp_path / "moved" / "out"
    shutil.copytree(original, moved, symlinks=True)
    shutil.rmtree(original)  # the copy must not read the original's files
    assert _view_rows(moved) == rows
    (moved / "instr_assets.duckdb").unlink()
    done = subprocess.run([sys.executable, "-m", "instr_assets.catalog", "rebuild", "--root", str(moved)],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "views" in done.stdout
    assert _view_rows(moved) == rows


@pytest.mark.timeout(300)
def test_a_deleted_catalog_is_rebuilt_whole_on_the_next_write(cheap_root, tmp_path):
    root = _copy(cheap_root, tmp_path)
    rows = _view_rows(root)
    (root / "instr_assets.duckdb").unlink()
    assert _materialize(root, [CLEANED]).success
    assert _view_rows(root) == rows  # the views of steps that did not run are back too


# --- runs do not mix ------------------------------------------------------------------------------------

# Runs in a child process: materialize cleaned_pairs (with the given max_words) and augmented_pairs on a shared
# output folder. augmented_pairs starts only once BOTH runs have published cleaned_pairs, so the later of the
# two is live when each run's augmented_pairs reads its input. Prints what each step reported.
TWO_RUNS = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path
    import dagster as dg
    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.clean_config import CleanConfig
    from instr_assets.defs.resources import DataStoreResource

    root, max_words, mine, other = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    real_store, calls = DataStoreResource.store, []

    def store_after_both_cleaned(self):
        calls.append(1)
        if len(calls) == 2:  # the second step, augmented_pairs: this run's cleaned_pairs is published
            mine.write_text("cleaned")
            deadline = time.time() + 240
            while not other.exists():
                assert time.time() < deadline, "the other run never published cleaned_pairs"
                time.sleep(0.05)
        return real_store(self)

    DataStoreResource.store = store_after_both_cleaned
    result = dg.materialize(ALL_ASSETS[2:4], resources={"data_store": DataStoreResource(root=root)},
                            run_config=dg.RunConfig(ops={"cleaned_pairs": CleanConfig(max_words=max_words)}))
    out = {}
    for mat in result.asset_materializations_for_node("cleaned_pairs") + result.asset_materializations_for_node("augmented_pairs"):
        md = mat.metadata
        out[mat.asset_key.path[-1]] = {"rows": md["dagster/row_count"].value,
                                       "augmented": md["augmented"].value if "augmented" in md else 0,
                                       "version_id": md["version_id"].value if "version_id" in md else None,
                                       "upstream": md["upstream_versions"].value if "upstream_versions" in md else None}
    print("RESULT " + json.dumps(out))
''')


@pytest.mark.timeout(400)
def test_two_runs_at_once_each_build_on_their_own_upstream_version(cheap_root, tmp_path):
    root = _copy(cheap_root, tmp_path)
    script = tmp_path / "run.py"
    script.write_text(TWO_RUNS, encoding="utf-8")
    marks = [tmp_path / "a.cleaned", tmp_path / "b.cleaned"]
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(words), str(marks[i]), str(marks[1 - i])],
                              cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
             for i, words in enumerate((40, 400))]
    try:
        logs = [p.communicate(timeout=360)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [log[-3000:] for log in logs]
    runs = [json.loads(next(line for line in log.splitlines() if line.startswith("RESULT "))[7:]) for log in logs]
    assert runs[0]["cleaned_pairs"]["rows"] != runs[1]["cleaned_pairs"]["rows"]  # the two configs differ
    # augmented_pairs = this run's cleaned pairs + their children, not the other run's
    assert [r["augmented_pairs"]["rows"] - r["augmented_pairs"]["augmented"] for r in runs] == \
           [r["cleaned_pairs"]["rows"] for r in runs]
    assert [r["augmented_pairs"]["upstream"] for r in runs] == \
           [{"cleaned_pairs": r["cleaned_pairs"]["version_id"]} for r in runs]


# --- the store itself -----------------------------------------------------------------------------------

def test_a_step_publishes_its_tables_together_or_not_at_all(tmp_path):
    store = DataStore(tmp_path / "out")
    with store.publishing("step") as stage:
        stage.write_table("kept", pl.DataFrame({"x": [1, 2]}))
        stage.write_table("rejected", pl.DataFrame({"x": [3]}))
    first = store.published("step")
    with pytest.raises(RuntimeError):
        with store.publishing("step") as stage:
            stage.write_table("kept", pl.DataFrame({"x": [9]}))
            raise RuntimeError("a check failed")
    with store.publishing("step") as stage:
        stage.write_table("kept", pl.DataFrame({"x": [8]}))
        stage.abandon("nothing new")
    assert not stage.published and not stage.folder.exists()
    assert store.published("step").version_id == first.version_id
    assert store.read_table("kept")["x"].to_list() == [1, 2] and store.read_table("rejected")["x"].to_list() == [3]
    assert os.readlink(store.published_dir / "step") == f"../steps/step/{first.version_id}"  # relative: can move
    for i in range(5):
        with store.publishing("step") as stage:
            stage.write_table("kept", pl.DataFrame({"x": [i]}))
    versions = sorted(p.name for p in (store.steps_dir / "step").iterdir())
    assert len(versions) == store.keep_versions and versions[-1] == stage.version_id  # old versions pruned
    assert store.query("SELECT x FROM kept")["x"].to_list() == [4]
    with pytest.raises(FileNotFoundError, match="rejected"):  # the new version has no such table: not the old one
        store.read_table("rejected")
    with pytest.raises(ValueError, match="plain file name"):
        with store.publishing("../escape"):
            pass
