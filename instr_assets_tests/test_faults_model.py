"""Faults in the model stages (issue 10): shards go live only whole and checked, the report belongs to the
checkpoint it evaluates, empty metric tables fail their checks, and reused stages bring back a deleted catalog."""
import json
import shutil
import subprocess
import sys
import time

import dagster as dg
import polars as pl
import pytest

from instr_assets.core.evaluate.evaluation import (
    METRIC_SCHEMA, checkpoint_mismatches, eval_items_seen_in_training, stale_checkpoint_message, trained_on,
)
from instr_assets.core.storage import DataStore
from instr_assets.core.train.tokenize_pack import splits_without_sequences
from instr_assets.definitions import ALL_ASSETS
from instr_assets.defs.split_assets import SplitConfig
from instr_assets.defs.gx_bridge import GxRecord
from instr_assets.defs.evaluate_assets import EvalConfig, _eval_checks
from instr_assets.defs.train_assets import TokenizeConfig, TrainConfig, _loss_check
from instr_assets.defs.resources import DataStoreResource

# As in conftest's tiny_graph_run, so that a rerun on its copy reuses the checkpoint and the report.
TRAIN = dict(base_model="tiny", max_steps=8, eval_every=4, lr=2e-3)
EVAL = dict(max_exact_match_items=4, max_chrf_items=6, chrf_max_new_tokens=8, sample_generations=2, sample_max_new_tokens=8)


# ------------------------------------------------------------------------------------------ pure functions
def test_a_split_without_packed_samples_is_named_with_what_became_of_them():
    samples = pl.DataFrame({"split": ["train", "train", "train", "test"],
                            "status": ["dropped_too_long", "dropped_no_supervised_tokens", "dropped_too_long", "packed"]})
    assert splits_without_sequences(samples, ("train", "validation", "test")) == [
        "train: no sample packed (dropped_no_supervised_tokens 1, dropped_too_long 2)", "validation: no samples"]
    assert splits_without_sequences(samples, ("test",)) == []


def test_a_checkpoint_from_other_data_is_named_with_its_leaked_items():
    trained = trained_on({"shards_version": "s1", "upstream_data_versions": {"stratified_splits": "d1", "tokenized_shards": "t1"}})
    assert checkpoint_mismatches(trained, {"shards_version": "s1", "stratified_splits": "d1", "tokenized_shards": "t1"}) == []
    mismatches = checkpoint_mismatches(trained, {"shards_version": "s2", "stratified_splits": "d2", "tokenized_shards": "t1"})
    assert mismatches == ["tokenized shard version: trained on s1, published s2",
                          "stratified_splits data version: trained on d1, published d2"]
    assert eval_items_seen_in_training(pl.Series(["a", "b", "c", "c"]), pl.Series(["c", "a", "z"])) == 2
    message = stale_checkpoint_message(mismatches, 2, 3)
    assert message.endswith("published s2; stratified_splits data version: trained on d1, published d2); 2 of the 3 "
                            "evaluation items were in its training split")
    assert "unknown" in stale_checkpoint_message(mismatches, None, 3)


def _metrics(pairs) -> pl.DataFrame:
    return pl.DataFrame([{"model": m, "split": s, "facet": "overall", "value": "all", "n_samples": 3, "n_tokens": 30,
                          "loss": 1.5, "perplexity": 4.48} for m, s in pairs], schema=METRIC_SCHEMA)


def test_metrics_finite_fails_on_an_empty_or_partial_metric_table(tmp_path):
    every = [(m, s) for m in ("base", "finetuned") for s in ("validation", "test")]
    with GxRecord(tmp_path, "eval_report") as record:
        assert _eval_checks(record, _metrics(every), {})[0].passed
        assert not _eval_checks(record, _metrics([]), {})[0].passed  # zero rows passed before: a green run with no losses
        assert not _eval_checks(record, _metrics(every[:3]), {})[0].passed  # the fine-tuned model has no test loss


def test_loss_finite_fails_on_an_empty_or_one_sided_training_log(tmp_path):
    schema = {"step": pl.Int64, "train_loss": pl.Float64, "val_loss": pl.Float64}
    log = pl.DataFrame({"step": [0, 1, 2], "train_loss": [None, 2.0, 1.8], "val_loss": [2.5, None, 2.1]}, schema=schema)
    with GxRecord(tmp_path, "finetuned_checkpoint") as record:
        assert _loss_check(record, log).passed
        assert not _loss_check(record, log.clear()).passed
        assert not _loss_check(record, log.with_columns(pl.lit(None, pl.Float64).alias("val_loss"))).passed
        nan_loss = _loss_check(record, log.with_columns(pl.Series("train_loss", [None, float("nan"), 1.8])))
    assert not nan_loss.passed
    assert [r.data["logged"] for r in nan_loss.metadata["failing_rows"].value.records] == ["train step 1"]


# ------------------------------------------------------------------------------------- on the tiny graph
@pytest.fixture
def trained_root(tiny_graph_run, tmp_path):
    """A copy of the whole tiny graph's output, for a test to change (published links copied as links)."""
    result, root = tiny_graph_run
    assert result.success
    copy = tmp_path / "out"
    shutil.copytree(root, copy, symlinks=True)
    return copy


def _run(root, selection: list[str], **ops) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL_ASSETS, selection=selection, resources={"data_store": DataStoreResource(root=str(root))},
                          run_config=dg.RunConfig(ops=ops), raise_on_error=False)


def _failure_text(result) -> str:
    return "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def _versions(root, step: str) -> list[str]:
    return sorted(p.name for p in (root / "steps" / step).iterdir())


def test_seq_len_16_fails_clearly_and_keeps_the_published_shards(trained_root):
    store = DataStore(trained_root)
    live, versions = store.published("tokenized_shards").version_id, _versions(trained_root, "tokenized_shards")
    sequences = store.query("SELECT count(*) AS n FROM tokenized_shards")["n"][0]
    result = _run(trained_root, ["tokenized_shards"], tokenized_shards=TokenizeConfig(seq_len=16))
    assert not result.success
    text = _failure_text(result)
    assert "seq_len 16" in text and "train: no sample packed (dropped_too_long" in text and "nothing was published" in text
    assert store.published("tokenized_shards").version_id == live
    assert _versions(trained_root, "tokenized_shards") == versions  # no empty version left behind either
    assert store.query("SELECT count(*) AS n FROM tokenized_shards")["n"][0] == sequences


HOLD_CATALOG = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # a writer in another process locks the file, as a notebook does
print("holding", flush=True)
time.sleep(600)
"""


def test_a_held_catalog_does_not_half_publish_the_shards(trained_root):
    # Before: the view write failed after 60 s with current.json already on the new shards, beside the old
    # samples table. Now shards, manifest and samples switch together, and the view follows the switch.
    store = DataStore(trained_root)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_CATALOG, str(store.duckdb_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        t0 = time.monotonic()
        result = _run(trained_root, ["tokenized_shards"], tokenized_shards=TokenizeConfig(seq_len=512))
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert result.success, _failure_text(result)
    mat = result.asset_materializations_for_node("tokenized_shards")[0]
    assert "could not be written" in mat.metadata["catalog_warning"].value
    live = store.published("tokenized_shards")
    assert json.loads((live.folder / "manifest.json").read_text())["identity"]["seq_len"] == 512
    shards = pl.read_parquet(live.folder / "shards" / "*.parquet")
    samples = live.read_table("tokenized_samples").filter(pl.col("status") == "packed")
    assert shards["n_tokens"].max() <= 512
    for split in ("train", "validation", "test"):
        assert set(samples.filter(pl.col("split") == split)["seq_index"]) == set(shards.filter(pl.col("split") == split)["seq_index"])
    # The view names the published link, not a version: once the file is free it reads the new shards.
    assert store.query("SELECT max(n_tokens) AS m FROM tokenized_shards")["m"][0] == shards["n_tokens"].max()
    print(f"tokenized_shards published in {waited:.0f}s with the catalog held")


def test_eval_report_refuses_a_checkpoint_trained_before_a_resplit(trained_root):
    store = DataStore(trained_root)
    trained_ids = set(store.read_table("tokenized_samples").filter(
        (pl.col("split") == "train") & pl.col("status").is_in(["packed", "truncated"]))["pair_id"])
    report = store.published("eval_report").version_id
    assert _run(trained_root, ["stratified_splits"], stratified_splits=SplitConfig(seed=7)).success
    splits = store.read_table("stratified_splits")
    eval_ids = set(splits.filter(pl.col("split").is_in(["validation", "test"]) & ~pl.col("is_augmented"))["pair_id"])
    leaked = len(eval_ids & trained_ids)
    assert leaked > 0  # the re-split moved training pairs into evaluation

    refused = _run(trained_root, ["eval_report"], eval_report=EvalConfig(**EVAL))
    assert not refused.success
    text = _failure_text(refused)
    assert "stratified_splits data version: trained on" in text
    assert f"{leaked} of the {len(eval_ids)} evaluation items were in its training split" in text
    assert "allow_stale_checkpoint: true" in text
    assert store.published("eval_report").version_id == report  # the last good report stays

    warned = _run(trained_root, ["eval_report"], eval_report=EvalConfig(**EVAL, allow_stale_checkpoint=True))
    assert warned.success, _failure_text(warned)
    stale = warned.asset_materializations_for_node("eval_report")[0].metadata["stale_checkpoint"].value
    assert f"{leaked} of the {len(eval_ids)} evaluation items" in stale
    text = (store.published("eval_report").folder / "eval_report.md").read_text(encoding="utf-8")
    assert text.startswith("# Evaluation report\n\n## WARNING: stale checkpoint") and stale in text


def test_reused_model_stages_rebuild_a_deleted_catalog(trained_root):
    store = DataStore(trained_root)
    store.duckdb_path.unlink()
    result = _run(trained_root, ["finetuned_checkpoint", "eval_report"],
                  finetuned_checkpoint=TrainConfig(**TRAIN), eval_report=EvalConfig(**EVAL))
    assert result.success, _failure_text(result)
    for step in ("finetuned_checkpoint", "eval_report"):
        assert result.asset_materializations_for_node(step)[0].metadata["reused_unchanged"].value is True
    counts = {t: store.query(f'SELECT count(*) AS n FROM "{t}"')["n"][0]
              for t in ("tokenized_shards", "tokenized_samples", "finetuned_checkpoint", "eval_report", "eval_open_ended",
                        "stratified_splits")}
    assert counts["finetuned_checkpoint"] == 9 and min(counts.values()) > 0, counts
