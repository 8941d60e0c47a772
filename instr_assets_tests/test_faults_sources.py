"""Faults in the source list: a source that cannot be read fails alone, paths stay inside the allowed roots, and a
multi-turn conversation's flat fields say what its messages say.

Each source that cannot be read (missing, a folder, a FIFO, a symlink loop, a corrupt file, a reader error)
becomes one rejected source while the others are read; the raw_sources_readable check names it, unless the
source says `on_error: stop`. Paths resolve under the sources file's folder, the bundled data or declared data
roots; /proc, /sys and /dev are never read.
"""
import json
import os
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from instr_assets.core.ingest import raw_sources as rs
from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.source_cache import SourceCache, SourceReadError, snapshot, watched_files
from instr_assets.core.ingest.unify import unify
from instr_assets.defs.ingest_assets import RawSourcesConfig, raw_sources, unified_pairs
from instr_assets.defs.metadata import count_dict
from instr_assets.defs.resources import DataStoreResource

GOOD = [{"instruction": "Name a prime number above 10.", "input": "", "output": "11"},
        {"instruction": "把“你好”翻译成英文。", "input": "", "output": "Hello"}]


def write_sources(folder: Path, entries: list[str], head: str = "") -> Path:
    y = folder / "sources.yaml"
    y.write_text(head + "sources:\n" + "".join(f"  - {e}\n" for e in entries), encoding="utf-8")
    return y


def good_file(folder: Path, name: str = "good.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in GOOD), encoding="utf-8")
    return path


def read_and_unify(yaml_path: Path, cache: Path):
    entries, base = sc.load_sources(yaml_path)
    raw, _ = SourceCache(cache).read_sources(entries, base, "test")
    unified, rejected = unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries})
    return raw, unified, rejected


# ------------------------------------------------------------------------------------ each source fails alone
def test_each_unreadable_source_is_one_rejected_source_and_the_others_are_read(tmp_path):
    good_file(tmp_path)
    (tmp_path / "folder.json").mkdir()
    os.mkfifo(tmp_path / "pipe.json")  # reading it would block the step forever
    (tmp_path / "loop_a.json").symlink_to(tmp_path / "loop_b.json")
    (tmp_path / "loop_b.json").symlink_to(tmp_path / "loop_a.json")
    y = write_sources(tmp_path, [
        "{name: good, format: alpaca, path: good.jsonl}",
        "{name: folder, format: alpaca, path: folder.json}",
        "{name: pipe, format: alpaca, path: pipe.json}",
        "{name: loop, format: alpaca, path: loop_a.json}",
        "{name: gone, format: alpaca, path: gone.json}",
    ])
    raw, unified, rejected = read_and_unify(y, tmp_path / "cache")
    assert unified["source"].to_list() == ["good", "good"]
    bad = rejected.sort("source")
    assert bad["source"].to_list() == ["folder", "gone", "loop", "pipe"]
    assert set(bad["reason"]) == {"source_unreadable"}
    why = dict(zip(bad["source"], bad["detail"]))
    assert why["folder"] == f"source 'folder': field 'path': {tmp_path / 'folder.json'} is a folder, not a regular file"
    assert why["pipe"] == f"source 'pipe': field 'path': {tmp_path / 'pipe.json'} is a FIFO, not a regular file"
    assert why["loop"] == (f"source 'loop': field 'path': {tmp_path / 'loop_a.json'} cannot be resolved "
                           "(a symlink loop?)")
    assert why["gone"] == f"source 'gone': field 'path': file {tmp_path / 'gone.json'} does not exist"
    # Accounting holds: every raw row is a pair or a rejected row, one row per unreadable source.
    assert raw.height == 6 and set(unified["raw_id"]) | set(rejected["raw_id"]) == set(raw["raw_id"])
    assert raw.filter(pl.col("locator") == sc.UNREADABLE_SOURCE_LOCATOR)["file"].to_list() == [
        str(tmp_path / n) for n in ("folder.json", "pipe.json", "loop_a.json", "gone.json")]


def test_a_reader_error_stays_with_its_source_and_is_tried_again(tmp_path, monkeypatch):
    good_file(tmp_path)
    good_file(tmp_path, "other.jsonl")
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 "{name: other, format: alpaca, path: other.jsonl}"])
    real = rs._object_records

    def deep(entry, path, display):
        if entry.name == "other":  # what a RecursionError, a TypeError or a reader bug does to one source
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return real(entry, path, display)

    monkeypatch.setattr(rs, "_object_records", deep)
    raw, unified, rejected = read_and_unify(y, tmp_path / "cache")
    assert unified["source"].to_list() == ["good", "good"]
    assert rejected.select("source", "reason").rows() == [("other", "source_unreadable")]
    assert rejected["detail"][0] == (f"source 'other': file {tmp_path / 'other.jsonl'} could not be read: "
                                     "RecursionError: maximum recursion depth exceeded while decoding a JSON array")
    # The failure was not cached: with the reader fixed, the same file is read.
    monkeypatch.setattr(rs, "_object_records", real)
    _, unified, rejected = read_and_unify(y, tmp_path / "cache")
    assert unified["source"].to_list() == ["good"] * 2 + ["other"] * 2 and rejected.height == 0


@pytest.mark.parametrize("bad_file, content, fmt", [
    ("corrupt.parquet", b"PAR1 not really a parquet file", "tabular"),
    ("null_data.json", b'{"version": "1", "data": null}\n', "squad"),
])
def test_real_broken_files_stop_only_their_source(tmp_path, bad_file, content, fmt):
    good_file(tmp_path)
    (tmp_path / bad_file).write_bytes(content)
    columns = ", columns: {instruction: q, response: a}" if fmt == "tabular" else ""
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 f"{{name: broken, format: {fmt}, path: {bad_file}{columns}}}"])
    raw, unified, rejected = read_and_unify(y, tmp_path / "cache")
    assert unified["source"].to_list() == ["good", "good"]
    assert rejected.height >= 1 and set(rejected["source"]) == {"broken"}
    assert raw.height == unified.height + rejected.height


def test_on_error_stop_raises_naming_source_and_file(tmp_path):
    good_file(tmp_path)
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 "{name: gone, format: alpaca, path: gone.json, on_error: stop}"])
    entries, base = sc.load_sources(y)
    with pytest.raises(SourceReadError, match=f"'gone'.*'path'.*{tmp_path / 'gone.json'} does not exist"):
        SourceCache(tmp_path / "cache").read_sources(entries, base, "test")


def test_snapshot_of_special_files_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "loop_a.json").symlink_to(tmp_path / "loop_b.json")
    (tmp_path / "loop_b.json").symlink_to(tmp_path / "loop_a.json")
    y = write_sources(tmp_path, ["{name: pipe, format: alpaca, path: pipe.json}",
                                 "{name: folder, format: alpaca, path: folder.json}",
                                 "{name: loop, format: alpaca, path: loop_a.json}"])
    snap = snapshot(watched_files(y))
    assert snap[str(tmp_path / "pipe.json")]["sha"] is None and snap[str(tmp_path / "folder.json")]["sha"] is None
    assert "unreadable" in snap[str(tmp_path / "loop_a.json")]


def _materialize(y: Path, out: Path):
    return dg.materialize([raw_sources, unified_pairs], resources={"data_store": DataStoreResource(root=str(out))},
                          run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(y))}),
                          raise_on_error=False)


def test_raw_sources_readable_check_names_the_failed_source_and_blocks(tmp_path):
    good_file(tmp_path)
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 "{name: gone, format: alpaca, path: gone.json}"])
    result = _materialize(y, tmp_path / "out")
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    readable = checks["raw_sources_readable"]
    assert not readable.passed and readable.severity == dg.AssetCheckSeverity.ERROR
    assert readable.description == "sources that could not be read: gone"
    assert readable.metadata["unreadable_sources"].value == ["gone"]
    assert readable.metadata["reasons"].value == {
        "gone": f"source 'gone': field 'path': file {tmp_path / 'gone.json'} does not exist"}
    assert all(c.passed for name, c in checks.items() if name != "raw_sources_readable")
    # The good source was read (the check ran over both), but nothing downstream started.
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"raw_sources"}


def test_on_error_warn_goes_on_with_the_other_sources(tmp_path):
    good_file(tmp_path)
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 "{name: gone, format: alpaca, path: gone.json, on_error: warn}"])
    result = _materialize(y, tmp_path / "out")
    assert result.success
    readable = next(e for e in result.get_asset_check_evaluations() if e.check_name == "raw_sources_readable")
    assert not readable.passed and readable.severity == dg.AssetCheckSeverity.WARN
    assert readable.description == "sources that could not be read: gone"
    mats = {e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}
    assert count_dict(mats["raw_sources"].metadata["records_per_source"]) == {"good": 2, "gone": 1}
    assert count_dict(mats["unified_pairs"].metadata["pairs_per_source"]) == {"good": 2}
    assert count_dict(mats["unified_pairs"].metadata["rejected_by_reason"]) == {"source_unreadable": 1}


def test_on_error_stop_fails_the_step_naming_source_and_file(tmp_path):
    good_file(tmp_path)
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl}",
                                 "{name: gone, format: alpaca, path: gone.json, on_error: stop}"])
    result = _materialize(y, tmp_path / "out")
    assert not result.success and not result.get_asset_materialization_events()
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"source 'gone': field 'path': file {tmp_path / 'gone.json'} does not exist" in \
        failure.event_specific_data.error.to_string()


# ------------------------------------------------------------------------------------ sources stay inside roots
@pytest.fixture
def outside(tmp_path) -> Path:
    """A data file in a folder beside the sources file's, not under it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    good_file(folder)
    (tmp_path / "project").mkdir()
    return folder / "good.jsonl"


@pytest.mark.parametrize("path", ["../elsewhere/good.jsonl", "ABSOLUTE", "/proc/self/environ", "/etc/hostname",
                                  "link.jsonl"])
def test_paths_outside_the_allowed_roots_are_refused(tmp_path, outside, path):
    project = tmp_path / "project"
    (project / "link.jsonl").symlink_to(outside)  # a symlink inside the folder that points out of it
    path = str(outside) if path == "ABSOLUTE" else path
    y = write_sources(project, ["{name: ok, format: builtin_seed}", f"{{name: leak, format: alpaca, path: '{path}'}}"])
    with pytest.raises(sc.SourceConfigError, match=r"entry #1 \(leak\), field 'path'") as exc:
        sc.load_sources(y)
    assert "outside the allowed roots" in str(exc.value) or "kernel or device file" in str(exc.value)


def test_data_roots_in_the_file_or_the_environment_allow_a_folder(tmp_path, outside, monkeypatch):
    project = tmp_path / "project"
    entry = f"{{name: ext, format: alpaca, path: '{outside}'}}"
    entries, base = sc.load_sources(write_sources(project, [entry], head="data_roots: [../elsewhere]\n"))
    assert rs.read_source(entries[0], base).height == 2
    monkeypatch.setenv(sc.DATA_ROOTS_ENV, str(outside.parent))
    entries, base = sc.load_sources(write_sources(project, [entry]))
    assert rs.read_source(entries[0], base).height == 2


def test_a_data_root_never_opens_proc_and_must_exist(tmp_path):
    y = write_sources(tmp_path, ["{name: env, format: alpaca, path: /proc/self/environ}"], head="data_roots: ['/']\n")
    with pytest.raises(sc.SourceConfigError, match="kernel or device file"):
        sc.load_sources(y)
    y = write_sources(tmp_path, ["{name: seed, format: builtin_seed}"], head="data_roots: [no_such_folder]\n")
    with pytest.raises(sc.SourceConfigError, match=r"field 'data_roots\[0\]'.*not an existing folder"):
        sc.load_sources(y)


def test_a_file_swapped_for_an_outside_symlink_after_loading_is_refused_when_read(tmp_path, outside):
    project = tmp_path / "project"
    good_file(project)
    y = write_sources(project, ["{name: swapped, format: alpaca, path: good.jsonl}"])
    entries, base = sc.load_sources(y)
    (project / "good.jsonl").unlink()
    (project / "good.jsonl").symlink_to(outside)
    raw, _ = SourceCache(tmp_path / "cache").read_sources(entries, base, "test")
    assert raw["locator"].to_list() == [sc.UNREADABLE_SOURCE_LOCATOR]
    assert "outside the allowed roots" in raw["parse_error"][0]


@pytest.mark.parametrize("name", [".", "..", ".hidden", "x" * 121])
def test_source_names_are_safe_file_names(tmp_path, name):
    y = write_sources(tmp_path, [f"{{name: '{name}', format: builtin_seed}}"])
    with pytest.raises(sc.SourceConfigError, match="field 'name'"):
        sc.load_sources(y)


# ------------------------------------------------------------------------------------ multi-turn kept whole
def test_multi_turn_flat_fields_follow_the_last_exchange(tmp_path):
    conversation = [{"from": "human", "value": "What is the capital of France?"},
                    {"from": "gpt", "value": "Paris."},
                    {"from": "human", "value": "And how many people live there?"},
                    {"from": "gpt", "value": "About two million in the city itself."}]
    (tmp_path / "chat.json").write_text(json.dumps([{"conversations": conversation}]), encoding="utf-8")
    y = write_sources(tmp_path, ["{name: chat, format: sharegpt, path: chat.json}"])
    _, unified, _ = read_and_unify(y, tmp_path / "cache")
    row = unified.row(0, named=True)
    # The response answers the last question, and the earlier turns come with it as its context.
    assert row["instruction"] == "And how many people live there?"
    assert row["input"] == "User: What is the capital of France?\n\nAssistant: Paris."
    assert row["response"] == "About two million in the city itself."
    assert [m["content"] for m in row["messages"]] == [t["value"] for t in conversation]
    assert row["n_turns"] == 2
    assert row["text"] == ("Instruction: And how many people live there?\n"
                           "Input: User: What is the capital of France?\n\nAssistant: Paris.\n"
                           "Response: About two million in the city itself.")


def test_an_unknown_encoding_is_a_config_error_naming_the_field(tmp_path):
    good_file(tmp_path)
    y = write_sources(tmp_path, ["{name: good, format: alpaca, path: good.jsonl, encoding: klingon-8}"])
    with pytest.raises(sc.SourceConfigError, match=r"entry #0 \(good\), field 'encoding'.*unknown text encoding"):
        sc.load_sources(y)
