"""The evaluation report: the fine-tuned checkpoint against its base model on the held-out splits. torch and
transformers are imported inside the asset body so the code location loads fast."""

import json
import math
import shutil
import time
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.models.base_models import weights_identity
from instr_assets.core.versioning import files_version, frame_version, stage_code_version

from .gx_bridge import Expect, GxRecord
from .metadata import table_metadata
from .publication import check_spec, published_metadata, stop_unless_checks_pass, upstream_version
from .resources import DataStoreResource
from .train_assets import (LOSS_CURVE, base_model_errors, finetuned_checkpoint, live_shards, request_id_of,
                           reused_metadata, saved_request_id)

REPORT_MD, REPORT_HTML = "eval_report.md", "eval_report.html"
REQUEST = "eval_report.request.json"  # what the published report answers: the hash of everything it depends on


class EvalConfig(dg.Config):
    max_exact_match_items: int = Field(default=48, ge=0)
    exact_match_max_new_tokens: int = Field(default=24, ge=1)
    sample_generations: int = Field(default=3, ge=0)
    sample_max_new_tokens: int = Field(default=64, ge=1)
    max_chrf_items: int = Field(default=24, ge=0, description="open-ended validation and test items scored with chrF, "
                                                               "shared evenly between the two splits")
    chrf_max_new_tokens: int = Field(default=48, ge=1)
    batch_size: int = Field(default=2, ge=1, description="packed sequences per forward pass when scoring losses (logits are B x seq_len x 49k floats)")
    generation_batch_size: int = Field(default=24, ge=1, description="prompts per generate call; on a CPU, decoding "
                                                                      "costs about as much per step for 24 prompts as for 8")
    force: bool = Field(default=False, description="evaluate even when the checkpoint, data, this config and the "
                                                   "evaluation code are those of the saved report")
    allow_stale_checkpoint: bool = Field(default=False, description="evaluate a checkpoint that was not trained on the "
                                                                    "published shards and splits, with a warning heading "
                                                                    "the report, instead of refusing")


def _eval_rows(splits: pl.DataFrame) -> pl.DataFrame:
    """The held-out originals the report's generations are scored on."""
    return splits.filter(pl.col("split").is_in(["validation", "test"]) & ~pl.col("is_augmented"))


def _stale_checkpoint(ckpt: Path, lineage: dict, manifest: dict, splits: pl.DataFrame) -> str | None:
    """Why the checkpoint does not belong to the published shards and splits, or None when it does."""
    from instr_assets.core.evaluate import evaluation

    published = {"shards_version": manifest["version"], "stratified_splits": frame_version(splits),
                 "tokenized_shards": manifest.get("data_version")}
    mismatches = evaluation.checkpoint_mismatches(evaluation.trained_on(lineage), published)
    if not mismatches:
        return None
    eval_ids = _eval_rows(splits)["pair_id"]
    trained = ckpt / "training_pairs.parquet"
    seen = evaluation.eval_items_seen_in_training(eval_ids, pl.read_parquet(trained)["pair_id"]) if trained.exists() else None
    return evaluation.stale_checkpoint_message(mismatches, seen, eval_ids.n_unique())


def _run_evaluation(context, config: EvalConfig, shards_dir: Path, manifest: dict, splits: pl.DataFrame, ckpt: Path,
                    lineage: dict, base_spec, training: dict, warning: str | None) -> dict:
    """Score base and fine-tuned models; the tables and the report text, nothing written yet."""
    from instr_assets.core.evaluate import evaluation
    from instr_assets.core.models import modeling
    from instr_assets.core.train.finetune import load_split_sequences
    from instr_assets.core.train.train import pick_device

    seq_len = manifest["identity"]["seq_len"]
    labels = splits.select("pair_id", "domain", "task_type", "difficulty")
    device = pick_device("auto")
    base, tok = modeling.load_base_model(lineage["base_model"], seed=lineage["base_seed"])
    tuned, _ = modeling.load_saved_model(ckpt)
    models = {"base": base.to(device), "finetuned": tuned.to(device)}

    per_sample = []
    for split in ("validation", "test"):
        seqs = load_split_sequences(shards_dir, split)
        for name, m in models.items():
            t0 = time.perf_counter()
            df = evaluation.per_sample_nll(m, seqs, seq_len, tok.pad_token_id, device, config.batch_size)
            per_sample.append(df.with_columns(pl.lit(name).alias("model"), pl.lit(split).alias("split")))
            context.log.info(f"{name} on {split}: {df.height} samples in {time.perf_counter() - t0:.1f}s")
    metrics = evaluation.summarize_losses(pl.concat(per_sample), labels)

    gen_cfg = evaluation.GenerationEval(
        config.max_exact_match_items, config.exact_match_max_new_tokens, config.max_chrf_items, config.chrf_max_new_tokens,
        config.sample_generations, config.sample_max_new_tokens, config.generation_batch_size)
    exact, open_generations, samples = evaluation.evaluate_generations(models, tok, _eval_rows(splits), device, gen_cfg, context.log.info)
    chrf_scores = evaluation.chrf_table(open_generations)
    report = evaluation.render_report(metrics, exact, chrf_scores, samples, training, lineage["base_model"],
                                      loss_curve=LOSS_CURVE, warning=warning, base_model_note=(
                                          f"{base_spec.description}; chat template: {modeling.chat_template_note(tok)}"))
    return {"eval_report": metrics, "eval_exact_match": exact, "eval_open_ended": open_generations, "report": report}


def _write_evaluation(stage, outputs: dict, title: str, loss_curve: Path, request: dict) -> None:
    """The report files (with the loss curve beside them), its tables and the request it answers, into a stage."""
    from instr_assets.core.evaluate import evaluation

    shutil.copyfile(loss_curve, stage.folder / LOSS_CURVE)
    (stage.folder / REPORT_MD).write_text(outputs["report"], encoding="utf-8")
    (stage.folder / REPORT_HTML).write_text(
        evaluation.render_html(outputs["report"], title, {LOSS_CURVE: str(loss_curve)}), encoding="utf-8")
    for table in ("eval_report", "eval_exact_match", "eval_open_ended"):
        stage.write_table(table, outputs[table])
    (stage.folder / REQUEST).write_text(json.dumps(request, indent=2))


def _eval_checks(record: GxRecord, metrics: pl.DataFrame, head: dict) -> list[dg.AssetCheckResult]:
    """metrics_finite needs an overall loss for both models on both held-out splits: an empty table fails."""
    keyed = metrics.select(pl.concat_str("model", "split", separator="/").alias("model_split"), "loss", "perplexity")
    return [
        record.check("metrics_finite", keyed.with_columns(pl.col("loss", "perplexity").fill_nan(None)), [
            Expect("not_null", "loss"), Expect("not_null", "perplexity"), Expect("between", "loss", {"min": 0.0, "max": 1e4}),
            Expect("distinct_equal", "model_split", {"values": [f"{m}/{s}" for m in ("base", "finetuned")
                                                                for s in ("validation", "test")]})], ids="model_split"),
        dg.AssetCheckResult(
            check_name="finetuned_beats_base", severity=dg.AssetCheckSeverity.WARN,
            passed=bool(head.get("validation_loss_finetuned", math.inf) < head.get("validation_loss_base", -math.inf)),
            metadata={k: v for k, v in head.items() if k.startswith("validation_loss")}),
    ]


@dg.asset(
    deps=[finetuned_checkpoint], group_name="model", kinds={"pytorch", "markdown", "html"},
    code_version=stage_code_version("eval_report"),
    description="Base against fine-tuned: validation/test loss and perplexity overall and per stratum, exact match "
                "on verifiable tasks, chrF on open-ended ones, sample generations and the training loss curve; "
                "Markdown and HTML report. Refuses a checkpoint not trained on the published shards and splits.",
    check_specs=[
        check_spec("eval_report", "metrics_finite", "both models have a finite loss and perplexity on validation and test"),
        check_spec("eval_report", "finetuned_beats_base", "fine-tuned validation loss below the base model's", blocking=False),
    ],
)
def eval_report(context: dg.AssetExecutionContext, config: EvalConfig, data_store: DataStoreResource):
    from instr_assets.core.evaluate import evaluation
    from instr_assets.core.train.finetune import checked_base_model

    store = data_store.store()
    shards, manifest = live_shards(context, store)
    splits_version = upstream_version(context, store, "stratified_splits")
    splits = splits_version.read_table("stratified_splits")
    checkpoint = upstream_version(context, store, "finetuned_checkpoint")
    ckpt = checkpoint.folder / "model"
    lineage = json.loads((ckpt / "lineage.json").read_text())
    stale = _stale_checkpoint(ckpt, lineage, manifest, splits)
    if stale and not config.allow_stale_checkpoint:
        raise dg.Failure(description=f"eval_report: {stale}. Materialize tokenized_shards and finetuned_checkpoint "
                                     "again, or set allow_stale_checkpoint: true to evaluate it with this warning "
                                     "heading the report")
    if stale:
        context.log.warning(f"evaluating a stale checkpoint (allow_stale_checkpoint): {stale}")
    with base_model_errors("eval_report"):
        # Losses are scored on the shards' token ids, which must be the base model's, stale checkpoint or not.
        base_spec = checked_base_model(lineage["base_model"], manifest["identity"])
    training = json.loads((ckpt / "training_result.json").read_text()) | json.loads((ckpt / "training_config.json").read_text())
    request_id = request_id_of(weights=files_version(list(ckpt.glob("*.safetensors"))), shards=manifest.get("data_version"),
                             splits=frame_version(splits), base=[weights_identity(base_spec), lineage["base_seed"]],
                             config=config.model_dump(exclude={"force"}), code=stage_code_version("eval_report"),
                             warning=stale)
    live = store.published("eval_report")
    reused = not config.force and live is not None and saved_request_id(live.folder / REQUEST) == request_id
    if reused:
        context.log.info("checkpoint, data, config and evaluation code unchanged since the saved report: reusing it "
                         "(config force=true evaluates again)")
        evaluated = {t: live.read_table(t) for t in ("eval_report", "eval_exact_match", "eval_open_ended")}
        evaluated["report"] = (live.folder / REPORT_MD).read_text(encoding="utf-8")
    else:
        evaluated = _run_evaluation(context, config, shards.folder, manifest, splits, ckpt, lineage, base_spec, training, stale)
    metrics, exact, open_generations = evaluated["eval_report"], evaluated["eval_exact_match"], evaluated["eval_open_ended"]
    head = evaluation.headline(metrics)
    with GxRecord(store.root, "eval_report") as record:
        checks = _eval_checks(record, metrics, head)
    upstream = (checkpoint, shards, splits_version)
    if reused:
        yield from stop_unless_checks_pass(live, checks)
        published = reused_metadata(context, store, live, *upstream)
    else:
        with store.publishing("eval_report") as live:
            # Checked before anything is written: a failed evaluation never replaces the last good report.
            yield from stop_unless_checks_pass(live, checks)
            _write_evaluation(live, evaluated, f"Evaluation report: {lineage['base_model']}",
                              checkpoint.folder / LOSS_CURVE, {"request_id": request_id})
        published = published_metadata(context, live, *upstream)
    chrf_scores = evaluation.chrf_table(open_generations)
    images = {LOSS_CURVE: str(live.folder / LOSS_CURVE)}  # the Markdown file refers to the PNG beside it
    em = {f"exact_match_{r[0]}": round(float(r[1]), 4) for r in exact.group_by("model").agg(pl.col("correct").mean()).iter_rows()}
    chrf_md = {f"chrf_{r['model']}": round(r["chrf"], 2) for r in chrf_scores.filter(pl.col("split") == "all").iter_rows(named=True)}
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(metrics, exact, open_generations)),
        metadata=published | {"report": dg.MetadataValue.md(evaluation.inline_images(evaluated["report"], images)),
                  "report_path": dg.MetadataValue.path(str(live.folder / REPORT_MD)),
                  "report_html_path": dg.MetadataValue.path(str(live.folder / REPORT_HTML)),
                  "loss_curve_path": dg.MetadataValue.path(str(live.folder / LOSS_CURVE)),
                  "duckdb": dg.MetadataValue.path(str(store.duckdb_path)),
                  "reused_unchanged": reused, "stale_checkpoint": stale or "",
                  **{k: round(v, 4) for k, v in head.items()}, **em, **chrf_md, "chrf_items": open_generations["pair_id"].n_unique(),
                  **table_metadata(metrics, live.table_path("eval_report"), n=8)},
        check_results=checks,
    )
