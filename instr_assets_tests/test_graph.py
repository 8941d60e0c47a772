"""The whole asset graph with dg.materialize on the tiny model, and blocking checks stopping downstream."""
import json

import dagster as dg
import duckdb
import polars as pl

from instr_assets.definitions import ALL_ASSETS, defs
from instr_assets.defs.ingest_assets import RawSourcesConfig
from instr_assets.defs.split_assets import SplitConfig
from instr_assets.defs.train_assets import TrainConfig
from instr_assets.defs.resources import DataStoreResource
from instr_assets_tests.webserver_harness import PLAIN_CHECKS

STAGES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits", "dataset_exports",
          "tokenized_shards", "finetuned_checkpoint", "eval_report"]


def test_definitions_load():
    assert {a.key.to_user_string() for a in ALL_ASSETS} == set(STAGES)
    repo = defs.get_repository_def()
    assert repo.has_job("instruction_pipeline") and repo.has_job("instruction_pipeline_tiny")
    sched = repo.get_schedule_def("nightly_rebuild")
    assert sched.cron_schedule == "0 2 * * *" and sched.execution_timezone == "UTC"


def test_every_asset_materializes_and_every_check_passes(tiny_graph_run):
    result, _ = tiny_graph_run
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
                    for e in [e.event_specific_data.materialization]}
    assert materialized == set(STAGES)
    evals = result.get_asset_check_evaluations()
    assert len(evals) >= 20
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evals if not e.passed]
    assert failed == []
    for e in evals:
        assert "evaluated" in e.metadata or e.check_name in PLAIN_CHECKS, e.check_name


def _count(con, table):
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]


def test_outputs_are_queryable_and_consistent(tiny_graph_run):
    _, root = tiny_graph_run
    con = duckdb.connect(str(root / "instr_assets.duckdb"), read_only=True)
    con.execute(f"SET file_search_path = '{root}'")  # the views read paths relative to the output folder
    raw = _count(con, "raw_sources")
    assert raw == _count(con, "unified_pairs") + _count(con, "unified_pairs_rejected")
    assert _count(con, "unified_pairs") == _count(con, "cleaned_pairs") + _count(con, "cleaned_pairs_rejected")
    # The bundled malformed JSONL line is accounted for as a rejected record, not lost.
    assert con.execute("SELECT reason FROM unified_pairs_rejected WHERE source='example_messages'").fetchall() == [("parse_error",)]
    # No pair and no parent group in two splits; children share the parent's split.
    assert con.execute("SELECT count(*) FROM (SELECT group_id FROM stratified_splits GROUP BY group_id HAVING count(DISTINCT split) > 1)").fetchall()[0][0] == 0
    assert {r[0] for r in con.execute("SELECT DISTINCT split FROM stratified_splits").fetchall()} == {"train", "validation", "test"}
    aug = con.execute("SELECT count(*) FILTER (WHERE is_augmented), count(*) FROM augmented_pairs").fetchall()[0]
    assert 0 < aug[0] <= 0.25 * aug[1] + 1e-9
    # Every packed sequence has supervised tokens and fits seq_len.
    assert con.execute("SELECT min(n_supervised) > 0, max(n_tokens) <= 1024 FROM tokenized_shards").fetchall()[0] == (True, True)
    steps = con.execute("SELECT max(step) FROM finetuned_checkpoint").fetchall()[0][0]
    assert steps == 8
    metrics = pl.from_arrow(con.sql("SELECT * FROM eval_report WHERE facet='overall'").to_arrow_table())
    assert set(metrics["model"]) == {"base", "finetuned"} and set(metrics["split"]) == {"validation", "test"}
    con.close()


def test_checkpoint_and_report_on_disk(tiny_graph_run):
    _, root = tiny_graph_run
    ckpt = root / "published" / "finetuned_checkpoint" / "model"  # the live checkpoint version
    assert (ckpt / "model.safetensors").exists() and (ckpt / "config.json").exists()
    lineage = json.loads((ckpt / "lineage.json").read_text())
    assert lineage["base_model"] == "tiny" and lineage["shards_version"]
    from instr_assets.core.models.modeling import load_saved_model

    model, tok = load_saved_model(ckpt)
    assert model.config.vocab_size == len(tok)
    report = (root / "published" / "eval_report" / "eval_report.md").read_text()
    assert "# Evaluation report" in report and "Exact match" in report and "Loss per domain" in report


def _model_run(root, train: TrainConfig):
    from instr_assets.defs.evaluate_assets import EvalConfig

    result = dg.materialize(
        ALL_ASSETS, selection=["tokenized_shards", "finetuned_checkpoint", "eval_report"],
        resources={"data_store": DataStoreResource(root=str(root))},
        run_config=dg.RunConfig(ops={
            "finetuned_checkpoint": train,
            "eval_report": EvalConfig(max_exact_match_items=4, max_chrf_items=6, chrf_max_new_tokens=8,
                                      sample_generations=2, sample_max_new_tokens=8),
        }))
    assert result.success
    out = {}
    for name in ("tokenized_shards", "finetuned_checkpoint", "eval_report"):
        m = result.asset_materializations_for_node(name)[0]
        out[name] = (m.tags["dagster/data_version"], m.metadata.get("reused_unchanged"))
    return out


def test_model_stages_reuse_unchanged_work_and_redo_changed(tiny_graph_run, tmp_path):
    # A nightly rebuild with nothing new must not retrain for minutes; a changed input or config must.
    import shutil

    first, root = tiny_graph_run
    copy = tmp_path / "out"
    shutil.copytree(root, copy, symlinks=True)  # the published links stay links
    before = {name: first.asset_materializations_for_node(name)[0].tags["dagster/data_version"]
              for name in ("tokenized_shards", "finetuned_checkpoint", "eval_report")}
    train = dict(base_model="tiny", max_steps=8, eval_every=4, lr=2e-3)
    same = _model_run(copy, TrainConfig(**train))
    assert {k: v[0] for k, v in same.items()} == before
    assert same["finetuned_checkpoint"][1].value is True and same["eval_report"][1].value is True
    forced = _model_run(copy, TrainConfig(**train, force=True))
    assert forced["finetuned_checkpoint"][1].value is False
    # Seeded training on the same shards gives the same weights, so the report is still current.
    assert forced["finetuned_checkpoint"][0] == before["finetuned_checkpoint"]
    assert forced["eval_report"][1].value is True
    longer = _model_run(copy, TrainConfig(**{**train, "max_steps": 9}))
    assert longer["finetuned_checkpoint"][1].value is False and longer["eval_report"][1].value is False
    assert longer["finetuned_checkpoint"][0] != before["finetuned_checkpoint"]


def test_failing_blocking_check_stops_downstream(tmp_path):
    # Three pairs cannot fill train, validation and test: splits_non_empty fails and blocks tokenization.
    csv = tmp_path / "three.csv"
    csv.write_text("q,a\nWhat is 1+1?,2\nName a colour.,Red\nCapital of France?,Paris\n", encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: tiny_csv\n    format: tabular\n    path: {csv}\n"
                       f"    columns: {{instruction: q, response: a}}\n", encoding="utf-8")
    result = dg.materialize(
        ALL_ASSETS, resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
        run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(sources)),
                                     "stratified_splits": SplitConfig(min_pairs_per_split=1),
                                     "finetuned_checkpoint": TrainConfig(base_model="tiny", max_steps=1)}),
        raise_on_error=False,
    )
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key.to_user_string(), e.check_name) for e in failed] == [("stratified_splits", "splits_non_empty")]
    assert failed[0].metadata["failed"].value == 1
    materialized = {e.event_specific_data.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    # The failing step publishes nothing and claims no materialization; nothing after it runs.
    assert materialized == set(STAGES[:4])
    assert not (tmp_path / "out" / "published" / "stratified_splits").exists()
    assert not (tmp_path / "out" / "published" / "tokenized_shards").exists()
    # The run fails, not just warns: an ERROR-severity blocking check fails its step, and nothing downstream starts.
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    assert result.dagster_run.status == dg.DagsterRunStatus.FAILURE
    step_errors = {e.step_key: e.event_specific_data.error for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert list(step_errors) == ["stratified_splits"]
    message = step_errors["stratified_splits"].message
    assert "stratified_splits was not published" in message and "splits_non_empty" in message
    assert {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"} == set(STAGES[:5])
    # The check's metadata shows the failing rows: exactly the splits left short (three pairs fill at most
    # two of the three splits), with their sizes.
    short = [r.data for r in failed[0].metadata["failing_rows"].value.records]
    assert short and {(r["split"], r["value"]) for r in short} <= {(s, "0") for s in ("train", "validation", "test")}
    assert failed[0].metadata["failing_rows_total"].value == len(short)


def test_bad_source_config_names_entry_and_field(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: broken\n    format: alpaca\n", encoding="utf-8")
    result = dg.materialize(
        [ALL_ASSETS[0]], resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
        run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(sources))}), raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.to_string()
    assert "broken" in text and "'path'" in text
