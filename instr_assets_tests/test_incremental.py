"""Rebuilds that do only what changed: the source sensor, the per-source cache, code and data versions.

Runs on a temp copy of small sources (the bundled example files plus a few generated tasks), with the real
raw_sources and unified_pairs assets under dg.materialize.
"""
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.raw_sources import read_all_sources
from instr_assets.core.ingest.unify import unify
from instr_assets.core.storage import DataStore
from instr_assets.core.versioning import STAGE_CODE, code_files, frame_version, stage_code_version
from instr_assets.definitions import ALL_ASSETS, defs
from instr_assets.defs.ingest_assets import RawSourcesConfig, raw_sources, unified_pairs
from instr_assets.defs.metadata import count_dict
from instr_assets.defs.resources import DataStoreResource
from instr_assets.defs.sensors import build_source_files_sensor, source_files_sensor

EXAMPLES = sc.PACKAGE_DATA / "examples"
BASE_YAML = """sources:
  - name: verifiable
    format: builtin_generated
    per_kind_per_lang: 2
  - name: example_alpaca
    format: alpaca
    path: examples/alpaca_sample.json
  - name: example_sharegpt
    format: sharegpt
    path: examples/sharegpt_sample.json
  - name: example_csv
    format: tabular
    path: examples/qa_sample.csv
    columns: {instruction: question, response: answer, domain: topic}
"""
EXTRA_SOURCE = """  - name: extra
    format: alpaca
    path: extra.jsonl
"""
EXTRA_ROWS = [{"instruction": "Name a prime number above 10.", "input": "", "output": "11"},
              {"instruction": "把“你好”翻译成英文。", "input": "", "output": "Hello"}]


@pytest.fixture
def sources(tmp_path) -> Path:
    """A sources YAML in a temp folder, with its own copy of the example files."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    y = tmp_path / "sources.yaml"
    y.write_text(BASE_YAML, encoding="utf-8")
    return y


def add_extra(yaml_path: Path) -> None:
    (yaml_path.parent / "extra.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in EXTRA_ROWS) + "\n", encoding="utf-8")
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8") + EXTRA_SOURCE, encoding="utf-8")


def build(yaml_path: Path, out: Path, instance=None, assets=(raw_sources, unified_pairs)) -> dict:
    """Materialize the assets; {asset: materialization} (metadata, tags with the data version)."""
    result = dg.materialize(
        list(assets), instance=instance, resources={"data_store": DataStoreResource(root=str(out))},
        run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(yaml_path))}))
    assert result.success
    return {e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}


def meta(mat, key):
    return mat.metadata[key].value


def data_version(mat) -> str:
    return mat.tags["dagster/data_version"]


def uncached(yaml_path: Path):
    entries, base = sc.load_sources(yaml_path)
    raw = read_all_sources(entries, base)
    return (raw, *unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries}))


def assert_same_as_uncached(yaml_path: Path, out: Path) -> None:
    raw, unified, rejected = uncached(yaml_path)
    store = DataStore(out)
    assert store.read_table("raw_sources").equals(raw)
    assert store.read_table("unified_pairs").equals(unified)
    assert store.read_table("unified_pairs_rejected").equals(rejected)


# ---------------------------------------------------------------------------------------- per-source cache
def test_rebuild_reads_only_new_or_changed_sources(sources, tmp_path):
    out = tmp_path / "out"
    names = ["verifiable", "example_alpaca", "example_sharegpt", "example_csv"]

    first = build(sources, out)
    assert meta(first["raw_sources"], "sources_reread") == names
    assert meta(first["raw_sources"], "sources_reused") == []
    assert sorted(meta(first["unified_pairs"], "sources_reconverted")) == sorted(names)
    assert_same_as_uncached(sources, out)

    # Nothing changed: nothing is read or converted, and both data versions stay.
    again = build(sources, out)
    assert meta(again["raw_sources"], "sources_reread") == []
    assert meta(again["unified_pairs"], "sources_reconverted") == []
    assert meta(again["raw_sources"], "sources_reused") == names
    for asset in ("raw_sources", "unified_pairs"):
        assert data_version(again[asset]) == data_version(first[asset])
    assert_same_as_uncached(sources, out)

    # One new source: only it is read and converted; the outputs change, and equal an uncached build.
    add_extra(sources)
    added = build(sources, out)
    assert meta(added["raw_sources"], "sources_reread") == ["extra"]
    assert meta(added["unified_pairs"], "sources_reconverted") == ["extra"]
    assert count_dict(added["unified_pairs"].metadata["pairs_per_source"])["extra"] == 2
    for asset in ("raw_sources", "unified_pairs"):
        assert data_version(added[asset]) != data_version(first[asset])
    assert_same_as_uncached(sources, out)

    # An option of one source (its column map) changes: that source alone is read again.
    sources.write_text(sources.read_text(encoding="utf-8").replace(
        "columns: {instruction: question, response: answer, domain: topic}",
        "columns: {instruction: question, response: answer}"), encoding="utf-8")
    changed = build(sources, out)
    assert meta(changed["raw_sources"], "sources_reread") == ["example_csv"]
    assert meta(changed["unified_pairs"], "sources_reconverted") == ["example_csv"]
    assert_same_as_uncached(sources, out)

    # A changed file: only that source. Then a removed source drops out of the output and the cache.
    alpaca = sources.parent / "examples" / "alpaca_sample.json"
    records = json.loads(alpaca.read_text(encoding="utf-8"))
    alpaca.write_text(json.dumps(records[:-1], ensure_ascii=False), encoding="utf-8")
    edited = build(sources, out)
    assert meta(edited["raw_sources"], "sources_reread") == ["example_alpaca"]
    assert_same_as_uncached(sources, out)

    sources.write_text(sources.read_text(encoding="utf-8").replace(EXTRA_SOURCE, ""), encoding="utf-8")
    removed = build(sources, out)
    assert meta(removed["raw_sources"], "sources_reread") == []
    assert "extra" not in count_dict(removed["unified_pairs"].metadata["pairs_per_source"])
    assert_same_as_uncached(sources, out)
    for stage in ("raw", "unify"):
        cached = sorted(p.name for p in (out / "cache" / "sources" / stage).iterdir())
        assert cached == sorted(names), stage
        assert all(len({f.name.split(".")[0] for f in (out / "cache" / "sources" / stage / n).iterdir()}) == 1
                   for n in names)


def test_an_unchanged_rebuild_keeps_downstream_fresh_and_a_change_makes_it_stale(sources, tmp_path):
    out = tmp_path / "out"
    with dg.instance_for_test() as instance:
        build(sources, out, instance)
        resolver = lambda: get_stale_status_resolver(instance, [raw_sources, unified_pairs])  # noqa: E731
        assert resolver().get_status(unified_pairs.key) == StaleStatus.FRESH

        build(sources, out, instance, assets=[raw_sources])  # same files, same data version
        assert resolver().get_status(unified_pairs.key) == StaleStatus.FRESH

        add_extra(sources)
        build(sources, out, instance, assets=[raw_sources])
        status = resolver()
        assert status.get_status(raw_sources.key) == StaleStatus.FRESH
        assert status.get_status(unified_pairs.key) == StaleStatus.STALE
        causes = status.get_stale_causes(unified_pairs.key)
        assert [(c.reason, c.dependency.asset_key) for c in causes] == [("has a new dependency data version", raw_sources.key)]


def test_every_asset_has_a_code_version_from_its_core_modules():
    for asset in ALL_ASSETS:
        stage = asset.key.to_user_string()
        assert asset.code_versions_by_key[asset.key] == stage_code_version(stage)
    assert set(STAGE_CODE) == {a.key.to_user_string() for a in ALL_ASSETS}
    # Modules imported by the entry module and the SQL they run are part of the version.
    names = {p.name for p in code_files(("clean.cleaning",))}
    assert {"cleaning.py", "pii.py", "quality.py", "text.py", "exact_dedup.sql"} <= names
    assert {p.name for p in code_files(("stratify.split",), ("split_stats",))} >= {"split.py", "split_stats.sql"}


def test_written_label_prototypes_are_part_of_the_split_version(tmp_path, monkeypatch):
    from instr_assets.core import versioning

    copy = tmp_path / "data"
    copy.mkdir()
    (copy / "label_prototypes.yaml").write_bytes((versioning.DATA_DIR / "label_prototypes.yaml").read_bytes())
    monkeypatch.setattr(versioning, "DATA_DIR", copy)
    # The version is computed once per process (the files do not change under a running code location).
    uncached = versioning.stage_code_version.__wrapped__
    before = uncached("stratified_splits")
    with (copy / "label_prototypes.yaml").open("a", encoding="utf-8") as f:
        f.write("\n# one more written example would go here\n")
    assert uncached("stratified_splits") != before


def test_frame_version_follows_content_not_layout():
    df = pl.DataFrame({"a": ["x", None, "z"], "n": [1, 2, 3]})
    chunked = pl.concat([df.slice(0, 1), df.slice(1, 2)], rechunk=False)
    assert frame_version(df) == frame_version(chunked)
    assert frame_version(df) != frame_version(df.with_columns(pl.col("a").fill_null("")))
    assert frame_version(df) != frame_version(df.head(2))


# ---------------------------------------------------------------------------------------------- the sensor
def tick(sensor, instance, cursor):
    data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
    return data.run_requests or [], data.cursor, data.skip_message


def test_sensor_requests_a_run_only_when_a_source_changes(sources):
    sensor = build_source_files_sensor(sources, name="test_sensor")
    with dg.instance_for_test() as instance:
        # Never built: the first tick asks for a run that builds from these files.
        runs, cursor, _ = tick(sensor, instance, None)
        assert len(runs) == 1
        assert runs[0].run_config["ops"]["raw_sources"]["config"]["sources_file"] == str(sources.resolve())
        assert runs[0].job_name is None  # the sensor's own target, instruction_pipeline

        runs, cursor2, skip = tick(sensor, instance, cursor)
        assert runs == [] and "no source file changed" in skip

        # Saving a file with the same content moves its mtime, not its content: no run.
        alpaca = sources.parent / "examples" / "alpaca_sample.json"
        alpaca.write_bytes(alpaca.read_bytes())
        os.utime(alpaca, ns=(alpaca.stat().st_atime_ns, alpaca.stat().st_mtime_ns + 5_000_000_000))
        runs, cursor3, _ = tick(sensor, instance, cursor2)
        assert runs == []

        # A changed file: one run, tagged with the file.
        records = json.loads(alpaca.read_text(encoding="utf-8"))
        alpaca.write_text(json.dumps(records + [{"instruction": "Say hi.", "output": "hi"}]), encoding="utf-8")
        runs, cursor4, _ = tick(sensor, instance, cursor3)
        assert len(runs) == 1 and runs[0].tags["instr_assets/changed_files"] == "alpaca_sample.json"
        runs_key_before = runs[0].run_key

        # A new source (the YAML and the new file change): one run; then quiet again.
        add_extra(sources)
        runs, cursor5, _ = tick(sensor, instance, cursor4)
        assert len(runs) == 1
        assert {"sources.yaml", "extra.jsonl"} <= set(runs[0].tags["instr_assets/changed_files"].split(", "))
        assert runs[0].run_key and runs[0].run_key != runs_key_before
        assert tick(sensor, instance, cursor5)[0] == []

        # A YAML being edited into an invalid state: no run and the cursor stays, so the fix is then seen.
        good = sources.read_text(encoding="utf-8")
        sources.write_text(good + "  - name: broken\n", encoding="utf-8")
        runs, cursor6, skip = tick(sensor, instance, cursor5)
        assert runs == [] and "not valid" in skip and cursor6 == cursor5
        (sources.parent / "extra.jsonl").write_text(json.dumps(EXTRA_ROWS[0]) + "\n", encoding="utf-8")
        sources.write_text(good, encoding="utf-8")
        runs, _, _ = tick(sensor, instance, cursor6)
        assert len(runs) == 1 and runs[0].tags["instr_assets/changed_files"] == "extra.jsonl"


def test_sensor_first_tick_records_files_already_built(sources, tmp_path):
    sensor = build_source_files_sensor(sources, name="test_sensor")
    with dg.instance_for_test() as instance:
        build(sources, tmp_path / "out", instance, assets=[raw_sources])
        runs, cursor, skip = tick(sensor, instance, None)
        assert runs == [] and "first tick" in skip and cursor
        # Files edited while the sensor was off are seen on its first tick.
        add_extra(sources)
        runs, _, _ = tick(sensor, instance, None)
        assert len(runs) == 1


def test_sensor_is_in_the_code_location_and_stopped_by_default(monkeypatch):
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("source_files_sensor")
    assert sensor is source_files_sensor and sensor.job_name == "instruction_pipeline"
    expected = (dg.DefaultSensorStatus.RUNNING if os.environ.get("INSTR_ASSETS_SOURCE_SENSOR") == "on"
                else dg.DefaultSensorStatus.STOPPED)
    assert sensor.default_status == expected
    monkeypatch.setenv("INSTR_ASSETS_SOURCE_SENSOR", "on")
    assert build_source_files_sensor(name="x").default_status == dg.DefaultSensorStatus.RUNNING
    monkeypatch.delenv("INSTR_ASSETS_SOURCE_SENSOR")
    assert build_source_files_sensor(name="x").default_status == dg.DefaultSensorStatus.STOPPED


def test_prune_spares_a_live_writers_temp_file(tmp_path):
    # Two builds sharing an output folder: one prunes superseded keys while the other is writing its cache file.
    import subprocess
    import sys

    from instr_assets.core.ingest.source_cache import SourceCache

    folder = tmp_path / "unify" / "src"
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live_tmp = folder / f".newkey.unified.parquet.{os.getpid()}.tmp"
    dead_tmp = folder / f".oldkey.unified.parquet.{int(dead.stdout)}.tmp"
    for f in (live_tmp, dead_tmp, folder / "oldkey.unified.parquet", folder / "curkey.unified.parquet"):
        f.write_bytes(b"x")
    SourceCache(tmp_path).prune("unify", {"src": "curkey"})
    assert sorted(p.name for p in folder.iterdir()) == sorted([live_tmp.name, "curkey.unified.parquet"])
