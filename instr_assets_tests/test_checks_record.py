"""Checks that name the failing rows, leave a Great Expectations record (suites, results, Data Docs) under the
output folder, and watch the content: leftover PII, reject share per source, mix drift, the declared raw schema;
asset metadata as Dagster tables with column descriptions."""
import multiprocessing
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
import polars as pl

from instr_assets.core.clean.pii import DEFAULT_PII_RULES
from instr_assets.core.storage import DataStore
from instr_assets.defs.clean_config import CleanConfig
from instr_assets.defs.ingest_assets import RawSourcesConfig, raw_sources, unified_pairs
from instr_assets.defs.clean_assets import cleaned_pairs
from instr_assets.defs.checks_content import (RAW_DECLARED_SCHEMA, declared_schema_frame, leftover_pii_check,
                                              leftover_pii_frame, mix_drift, mix_drift_check, raw_schema_check,
                                              reject_share_check)
from instr_assets.defs.gx_bridge import Expect, GxRecord
from instr_assets.defs.metadata import count_dict, counts, table_metadata
from instr_assets.defs.resources import DataStoreResource

ROWS = [("Name three primary colours.", "Red, blue and yellow are the three primary colours."),
        ("What is the capital of France?", "The capital of France is Paris, on the Seine."),
        ("Give a synonym for happy.", "A common synonym for happy is cheerful, as in a cheerful greeting."),
        ("How many legs does a spider have?", "A spider has eight legs, unlike insects, which have six."),
        ("Translate 'good morning' into French.", "Good morning in French is bonjour, said until the afternoon."),
        ("Name a mammal that can fly.", "The bat is the only mammal capable of true sustained flight.")]


def _failing(check) -> list[dict]:
    return [r.data for r in check.metadata["failing_rows"].value.records]


def _small_sources(tmp_path: Path) -> Path:
    csv = tmp_path / "pairs.csv"
    pl.DataFrame({"q": [q for q, _ in ROWS], "a": [a for _, a in ROWS]}).write_csv(csv)
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: small\n    format: tabular\n    path: {csv}\n"
                       f"    columns: {{instruction: q, response: a}}\n", encoding="utf-8")
    return sources


def test_planted_duplicate_pair_is_named_and_linked_to_data_docs(tmp_path):
    root = tmp_path / "out"
    resources = {"data_store": DataStoreResource(root=str(root))}
    first = dg.materialize([raw_sources, unified_pairs], resources=resources,
                           run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(_small_sources(tmp_path)))}))
    assert first.success
    # Plant a bad row: a second pair carrying the first pair's id, published as a new unified_pairs version.
    store = DataStore(root)
    live = store.published("unified_pairs")
    unified = live.read_table("unified_pairs")
    planted = unified["pair_id"][0]
    with store.publishing("unified_pairs") as stage:
        stage.write_table("unified_pairs", unified.with_columns(
            pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(planted)).otherwise(pl.col("pair_id")).alias("pair_id")))
        stage.write_table("unified_pairs_rejected", live.read_table("unified_pairs_rejected"))
    result = dg.materialize([cleaned_pairs], resources=resources, raise_on_error=False,
                            run_config=dg.RunConfig(ops={"cleaned_pairs": CleanConfig(workers=1)}))
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    unique = checks["cleaned_pair_id_unique"]
    assert not unique.passed and not result.success
    rows = _failing(unique)
    assert {r["pair_id"] for r in rows} == {planted} and len(rows) == 2
    assert rows[0]["expectation"] == "expect_column_values_to_be_unique" and rows[0]["column"] == "pair_id"
    assert unique.metadata["failing_rows_total"].value == 2
    # The record: suites, results and the Data Docs site under <output>/gx, and the check links to its page.
    index = root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.exists() and "cleaned_pair_id_unique" in index.read_text(encoding="utf-8")
    page = Path(unquote(urlparse(unique.metadata["data_docs"].value).path))
    assert page.exists() and page.is_relative_to(root / "gx") and planted in page.read_text(encoding="utf-8")
    assert (root / "gx" / "expectations" / "cleaned_pair_id_unique.json").exists()
    assert any((root / "gx" / "uncommitted" / "validations" / "raw_schema").rglob("*.json"))
    # The checks that passed link to their page too.
    assert all("data_docs" in c.metadata for c in checks.values() if "evaluated" in c.metadata)


def test_leftover_pii_fails_naming_the_pair_not_the_value():
    pairs = pl.DataFrame({"pair_id": ["clean", "leaky"], "instruction": ["Say hi.", "Who do I write to?"],
                          "input": ["", ""], "response": ["Hi there.", "Write to jane.doe@example.org today."],
                          "messages": [[{"role": "user", "content": "Say hi."}],
                                       [{"role": "user", "content": "call +1 415 555 2671"}]]})
    found = dict(leftover_pii_frame(pairs, DEFAULT_PII_RULES).iter_rows())
    assert found["clean"] == "" and set(found["leaky"].split(",")) == {"EMAIL", "PHONE"}


def test_leftover_pii_check_fails_and_off_passes_with_note(tmp_path):
    pairs = pl.DataFrame({"pair_id": ["a", "b"], "instruction": ["Mail me.", "Thanks."],
                          "response": ["Mail jane.doe@example.org please.", "You are welcome."]})
    with GxRecord(tmp_path, "cleaned_pairs") as record:
        failed = leftover_pii_check(record, pairs, "redact", DEFAULT_PII_RULES)
        clean = leftover_pii_check(record, pairs.filter(pl.col("pair_id") == "b"), "redact", DEFAULT_PII_RULES)
        off = leftover_pii_check(record, pairs, "off", DEFAULT_PII_RULES)
    assert not failed.passed and _failing(failed) == [
        {"expectation": "expect_column_values_to_be_in_set", "column": "pii_found", "pair_id": "a", "value": "EMAIL"}]
    assert "jane.doe" not in str(failed.metadata)
    assert clean.passed and off.passed and "pii_action is off" in off.metadata["note"].value


def _published_splits(store: DataStore, langs: list[str], domains: list[str]) -> None:
    with store.publishing("stratified_splits") as stage:
        stage.write_table("stratified_splits", pl.DataFrame({"lang": langs, "domain": domains}))


def test_mix_drift_fails_past_the_bound_and_passes_within(tmp_path):
    store = DataStore(tmp_path)
    now = pl.DataFrame({"lang": ["en"] * 9 + ["zh"], "domain": ["science"] * 10})
    with GxRecord(tmp_path, "stratified_splits") as record:
        first = mix_drift_check(record, store, "stratified_splits", "stratified_splits", now, 0.2, False)
        _published_splits(store, ["en"] * 5 + ["zh"] * 5, ["science"] * 10)
        drifted = mix_drift_check(record, store, "stratified_splits", "stratified_splits", now, 0.2, False)
        blocking = mix_drift_check(record, store, "stratified_splits", "stratified_splits", now, 0.2, True)
        steady = mix_drift_check(record, store, "stratified_splits", "stratified_splits", now, 0.45, False)
    assert first.passed and "first build" in first.metadata["note"].value
    assert not drifted.passed and drifted.severity == dg.AssetCheckSeverity.WARN
    assert {r["mix"] for r in _failing(drifted)} == {"lang=en", "lang=zh"}
    assert blocking.severity == dg.AssetCheckSeverity.ERROR and not blocking.passed
    assert steady.passed
    drift = {m: round(d, 3) for m, d in mix_drift(now, pl.DataFrame({"lang": ["en", "fr"], "domain": ["math", "math"]}))
             .select("mix", "drift").iter_rows()}
    assert drift == {"lang=en": 0.4, "lang=zh": 0.1, "lang=fr": 0.5, "domain=science": 1.0, "domain=math": 1.0}


def test_raw_schema_fails_on_declared_type_mismatch(tmp_path):
    good = pl.DataFrame(schema=RAW_DECLARED_SCHEMA)
    bad = good.with_columns(pl.col("line").cast(pl.Utf8)).drop("domain_hint").with_columns(pl.lit(1).alias("extra"))
    frame = declared_schema_frame(bad, RAW_DECLARED_SCHEMA)
    assert frame.filter(~pl.col("matches")).select("column", "declared", "found").rows() == [
        ("line", "Int64", "String"), ("domain_hint", "String", "missing"), ("extra", "undeclared", "Int32")]
    with GxRecord(tmp_path, "raw_sources") as record:
        passed, failed = raw_schema_check(record, good), raw_schema_check(record, bad)
    assert passed.passed and not failed.passed
    assert {r["column (id)"] for r in _failing(failed)} == {"line", "domain_hint", "extra"}


def test_reject_share_warns_unless_configured_to_block(tmp_path):
    accounting = pl.DataFrame({"source": ["kept_most", "lost_most"], "input": [10, 10], "kept": [9, 3], "rejected": [1, 7]})
    with GxRecord(tmp_path, "cleaned_pairs") as record:
        warned = reject_share_check(record, accounting, 0.5, blocks=False)
        blocked = reject_share_check(record, accounting, 0.5, blocks=True)
        loose = reject_share_check(record, accounting, 0.8, blocks=False)
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert [(r["source"], r["value"]) for r in _failing(warned)] == [("lost_most", "0.7")]
    assert blocked.severity == dg.AssetCheckSeverity.ERROR and loose.passed


def _validate_in_child(root: str, step: str) -> bool:
    with GxRecord(root, step) as record:
        return record.check(f"{step}_ids", pl.DataFrame({"pair_id": ["a", "b"]}), [Expect("unique", "pair_id")],
                            ids="pair_id").passed


def test_two_steps_validating_at_once_both_leave_their_record(tmp_path):
    # Spawned, not forked: a fork of this many-threaded process (polars, GX) can copy a held lock and hang.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_validate_in_child, [(str(tmp_path), "step_one"), (str(tmp_path), "step_two")] * 2)
    assert results == [True] * 4
    gx_dir = tmp_path / "gx"
    for step in ("step_one", "step_two"):
        assert len(list((gx_dir / "uncommitted" / "validations" / f"{step}_ids").rglob("*.json"))) == 2
    config = (gx_dir / "great_expectations.yml").read_text()
    index = (gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    assert "step_one_ids" in index and "step_two_ids" in index and "step_one" in config and "step_two" in config


def test_table_metadata_is_tables_with_column_descriptions():
    df = pl.DataFrame({"pair_id": ["p1", "p2", "p3"], "lang": ["en", "zh", "en"], "response": ["x" * 500, "b", "c"],
                       "messages": [[{"role": "user", "content": "hi"}]] * 3})
    md = table_metadata(df, None, ["pair_id", "lang", "response"], n=2)
    columns = {c.name: c for c in md["dagster/column_schema"].columns}
    assert columns["pair_id"].description and columns["lang"].description and columns["lang"].type == "string"
    preview = md["preview"]
    assert isinstance(preview, dg.TableMetadataValue) and [r.data["pair_id"] for r in preview.value.records] == ["p1", "p2"]
    assert len(preview.value.records[0].data["response"]) == 200  # cut, not the whole text
    per_lang = counts(df, "lang")
    assert isinstance(per_lang, dg.TableMetadataValue) and count_dict(per_lang) == {"en": 2, "zh": 1}
    assert [r.data["lang"] for r in per_lang.value.records] == ["en", "zh"]  # most frequent first
    assert count_dict(counts(df.head(0), "lang")) == {}
