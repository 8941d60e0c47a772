"""Model-side assets: tokenized shards, the fine-tuned checkpoint and the evaluation report.
torch and transformers are imported inside the asset bodies so the code location loads fast."""

import json
import math
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.storage import new_folder, replace_folder
from instr_assets.core.versioning import files_version, frame_version, json_digest, stage_code_version

from .assets import POOL, _accounting, _spec, stratified_splits
from .gx_bridge import Expect, check_result
from instr_assets.core.text import markdown_table

from .metadata import counts, image, table_metadata
from .resources import DataStoreResource

SPLITS = ("train", "validation", "test")


def _current_manifest(store) -> dict:
    pointer = store.root / "tokenized" / "current.json"
    if not pointer.exists():
        raise dg.Failure(description="tokenized_shards has not been materialized yet")
    return json.loads((store.root / "tokenized" / json.loads(pointer.read_text())["version"] / "manifest.json").read_text())


def _sequences(store, manifest: dict, split: str) -> list[dict]:
    from instr_assets.core.train.finetune import load_split_sequences

    return load_split_sequences(store.root / "tokenized" / manifest["version"], split)


# ---------------------------------------------------------------------------------------- tokenized_shards
class TokenizeConfig(dg.Config):
    seq_len: int = Field(default=1024, ge=16, le=8192, description="packed sequence length")
    overflow: Literal["drop", "truncate_response"] = "drop"
    sequences_per_shard: int = Field(default=512, ge=1)
    eval_on_originals_only: bool = Field(default=True, description="leave augmented children out of validation/test shards")


def _write_shards(tok, splits: pl.DataFrame, folder: Path, config: "TokenizeConfig"):
    """Tokenize and pack each split into Parquet shards in `folder`; (manifest entries, sequences, samples)."""
    from instr_assets.core.train.tokenize_pack import PackRules, tokenize_and_pack

    rules = PackRules(config.seq_len, config.overflow)
    all_seqs, all_samples, manifest_splits = [], [], {}
    for name in SPLITS:
        part = splits.filter(pl.col("split") == name)
        if name != "train" and config.eval_on_originals_only:
            part = part.filter(~pl.col("is_augmented"))
        seqs, samples = tokenize_and_pack(tok, part, name, rules)
        files = []
        for i in range(0, max(seqs.height, 1), config.sequences_per_shard):
            chunk = seqs.slice(i, config.sequences_per_shard)
            if chunk.is_empty():
                break
            fname = f"{name}-{i // config.sequences_per_shard:05d}.parquet"
            chunk.write_parquet(folder / fname)
            files.append(fname)
        real = int(seqs["n_tokens"].sum()) if seqs.height else 0
        manifest_splits[name] = {
            "files": files, "sequences": seqs.height, "samples_packed": int(samples["status"].is_in(["packed", "truncated"]).sum()),
            "tokens": real, "supervised_tokens": int(seqs["n_supervised"].sum()) if seqs.height else 0,
            "packing_efficiency": round(real / max(1, seqs.height * config.seq_len), 4),
        }
        all_seqs.append(seqs)
        all_samples.append(samples)
    return manifest_splits, all_seqs, all_samples


@dg.asset(
    deps=[stratified_splits], group_name="model", kinds={"pytorch", "parquet"}, pool=POOL,
    code_version=stage_code_version("tokenized_shards"),
    description="Chat-template tokenization (prompt tokens labelled -100), packing (best-fit decreasing, then a "
                "subset-sum pass when that misses the lower bound) into "
                "seq_len sequences with per-sample position ids; shards and a manifest keyed by data version, "
                "tokenizer, chat template and seq_len.",
    check_specs=[
        _spec("tokenized_shards", "every_sequence_supervised", "each packed sequence and sample has supervised tokens and fits seq_len"),
        _spec("tokenized_shards", "tokenized_accounting", "packed + dropped samples = split rows"),
    ],
)
def tokenized_shards(context: dg.AssetExecutionContext, config: TokenizeConfig, data_store: DataStoreResource):
    from instr_assets.core.models import modeling

    store = data_store.store()
    splits = store.read_table("stratified_splits")
    tok = modeling.load_tokenizer()
    fingerprint = modeling.tokenizer_fingerprint(tok)
    data_version = frame_version(splits)  # the DataVersion stratified_splits reported, so lineage matches the UI
    identity = {"data_version": data_version, **fingerprint, "seq_len": config.seq_len, "overflow": config.overflow,
                "eval_on_originals_only": config.eval_on_originals_only}
    version = json_digest(identity)
    folder = store.root / "tokenized" / version
    with new_folder(folder) as tmp:
        manifest_splits, all_seqs, all_samples = _write_shards(tok, splits, tmp, config)
        seqs = pl.concat(all_seqs)
        manifest = {"version": version, "identity": identity, "splits": manifest_splits, "created_at": time.time(),
                    "data_version": frame_version(seqs)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    store.write_json("tokenized/current.json", {"version": version})
    samples = pl.concat(all_samples)
    store.write_glob_view("tokenized_shards", folder / "*.parquet")
    store.write_table("tokenized_samples", samples)
    expected = splits.height if not config.eval_on_originals_only else splits.filter(
        (pl.col("split") == "train") | ~pl.col("is_augmented")).height
    acc_df, acc_exp = _accounting(samples["pair_id"] + "/" + samples["split"], expected)
    packed_samples = samples.filter(pl.col("status").is_in(["packed", "truncated"]))
    checks = [
        check_result("every_sequence_supervised", seqs.select("n_supervised", "n_tokens"), [
            Expect("between", "n_supervised", {"min": 1}), Expect("between", "n_tokens", {"min": 1, "max": config.seq_len})]),
        check_result("tokenized_accounting", acc_df, acc_exp),
    ]
    ratio = packed_samples.select((pl.col("n_supervised") / pl.col("n_tokens")).alias("r"))["r"]
    if packed_samples.height:
        checks[0].metadata["supervised_ratio_p10_p50_p90"] = dg.MetadataValue.json(
            [round(float(ratio.quantile(q)), 3) for q in (0.1, 0.5, 0.9)])
    return dg.MaterializeResult(
        metadata=table_metadata(seqs, folder, ["split", "seq_index", "n_tokens", "n_supervised"]) | {
            "version": version, "identity": dg.MetadataValue.json(identity),
            "per_split": dg.MetadataValue.json(manifest_splits),
            "sample_status": counts(samples, "status"),
            "packing_efficiency_train": manifest_splits["train"]["packing_efficiency"],
        },
        # From the packed sequences, not the identity: a code change that packs the same way keeps training fresh.
        data_version=dg.DataVersion(manifest["data_version"]),
        check_results=checks,
    )


def _request_id(**inputs) -> str:
    """What a model stage's output depends on, hashed: when it equals the id saved with the last output, that
    output is still current and the (minutes-long) work is skipped, e.g. by a nightly rebuild with nothing new."""
    return json_digest(inputs, 32)


def _saved_request_id(path: Path) -> str | None:
    return json.loads(path.read_text()).get("request_id") if path.exists() else None


# ------------------------------------------------------------------------------------ finetuned_checkpoint
class TrainConfig(dg.Config):
    base_model: Literal["smollm2", "tiny"] = Field(default="smollm2", description="SmolLM2-135M-Instruct, or a tiny random model of the same family")
    max_steps: int = Field(default=30, ge=1)
    batch_size: int = Field(default=1, ge=1, description="packed sequences per process per micro-step")
    grad_accum: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-4, gt=0)
    warmup_steps: int = Field(default=3, ge=0)
    weight_decay: float = Field(default=0.01, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    eval_every: int = Field(default=10, ge=1)
    eval_max_sequences: int = Field(default=4, ge=1, description="validation sequences used during training")
    early_stopping_patience: int = Field(default=0, ge=0, description="evaluations without improvement before stopping; 0 = off")
    checkpoint_every: int = Field(default=10, ge=1, description="steps between resumable checkpoints")
    seed: int = 0
    device: str = Field(default="auto", description="auto, cpu or cuda")
    nproc_per_node: int = Field(default=1, ge=1, description="processes for DDP via torchrun (gloo on CPU, NCCL on GPU)")
    lora_r: int = Field(default=0, ge=0, description="LoRA rank (peft); 0 = full fine-tuning")
    lora_alpha: int = Field(default=16, ge=1)
    force: bool = Field(default=False, description="train even when the shards, this config and the training code "
                                                   "are those of the saved checkpoint")


def _torchrun(context, shards_dir: Path, work: Path, config: "TrainConfig", settings) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={config.nproc_per_node}",
           "-m", "instr_assets.core.train.finetune", "--shards-dir", str(shards_dir), "--work-dir", str(work),
           "--base-model", config.base_model, "--base-seed", str(config.seed), "--settings-json", json.dumps(asdict(settings)),
           "--lora-r", str(config.lora_r), "--lora-alpha", str(config.lora_alpha)]
    context.log.info("launching " + " ".join(cmd))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            context.log.info(line.rstrip())
    if proc.returncode != 0:
        raise dg.Failure(description=f"torchrun exited with code {proc.returncode}")


@dg.asset(
    deps=[tokenized_shards], group_name="model", kinds={"pytorch", "safetensors"}, pool=POOL,
    code_version=stage_code_version("finetuned_checkpoint"),
    description="Causal LM fine-tuned with AdamW on the NLL of response tokens; validation every N steps, the "
                "best checkpoint kept, resumable after a crash, DDP under torchrun, optional LoRA; saved in "
                "Hugging Face format (safetensors) with its lineage.",
    check_specs=[_spec("finetuned_checkpoint", "loss_finite", "every logged training and validation loss is finite")],
)
def finetuned_checkpoint(context: dg.AssetExecutionContext, config: TrainConfig, data_store: DataStoreResource):
    from instr_assets.core.train.finetune import run_finetune
    from instr_assets.core.train.train import TrainSettings

    store = data_store.store()
    manifest = _current_manifest(store)
    shards_dir = store.root / "tokenized" / manifest["version"]
    fields = set(TrainSettings.__dataclass_fields__)
    settings = TrainSettings(**{k: v for k, v in config.model_dump().items() if k in fields}, seq_len=manifest["identity"]["seq_len"])
    # A killed run leaves its work folder; materializing again resumes from its last checkpoint.
    work = store.root / "checkpoints" / "finetuned.work"
    final = store.root / "checkpoints" / "finetuned"
    request_id = _request_id(shards=manifest.get("data_version"), config=config.model_dump(exclude={"force"}),
                             code=stage_code_version("finetuned_checkpoint"))
    reused = (not config.force and not work.exists() and store.table_path("finetuned_checkpoint").exists()
              and _saved_request_id(final / "lineage.json") == request_id)
    if reused:
        context.log.info(f"shards, config and training code unchanged since the checkpoint in {final}: reusing it "
                         "(config force=true retrains)")
        result = json.loads((final / "training_result.json").read_text())
        history = store.read_table("finetuned_checkpoint")
    else:
        if config.nproc_per_node > 1:
            _torchrun(context, shards_dir, work, config, settings)
            result = json.loads((work / "training_result.json").read_text())
        else:
            result = run_finetune(shards_dir, work, config.base_model, settings, config.seed, config.lora_r,
                                  config.lora_alpha, log=context.log.info)
        best = work / "best"
        lineage = {
            "base_model": config.base_model, "base_seed": config.seed, "shards_version": manifest["version"],
            "shards_identity": manifest["identity"], "dagster_run_id": context.run.run_id,
            "upstream_data_versions": {"stratified_splits": manifest["identity"]["data_version"],
                                       "tokenized_shards": manifest.get("data_version")},
            "request_id": request_id,
        }
        (best / "training_config.json").write_text(json.dumps({**config.model_dump(), "seq_len": settings.seq_len}, indent=2))
        (best / "lineage.json").write_text(json.dumps(lineage, indent=2))
        (best / "training_result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "settings"}, indent=2))
        replace_folder(best, final)
        shutil.rmtree(work)
        history = pl.DataFrame(result["history"], schema={"step": pl.Int64, "train_loss": pl.Float64,
                                                          "val_loss": pl.Float64, "lr": pl.Float64,
                                                          "tokens_per_s": pl.Float64})
        store.write_table("finetuned_checkpoint", history)
    losses = pl.concat([history["train_loss"].drop_nulls(), history["val_loss"].drop_nulls()]).to_frame("loss")
    checks = [check_result("loss_finite", losses.with_columns(pl.col("loss").fill_nan(None)), [
        Expect("not_null", "loss"), Expect("between", "loss", {"min": 0.0, "max": 1e4})])]
    vals = history.filter(pl.col("val_loss").is_not_null())
    # The same plot eval_report puts in the report, shown here as soon as training ends; temp file + rename.
    from instr_assets.core.evaluate.evaluation import plot_loss_curve
    from instr_assets.core.storage import new_file

    with new_file(store.path("reports", "loss_curve.png")) as tmp:
        plot_loss_curve(history, tmp)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(files_version(list(final.glob("*.safetensors")))),  # the saved weights
        metadata={
            "path": dg.MetadataValue.path(str(final)), "base_model": config.base_model,
            "best_step": result["best_step"], "best_val_loss": result["best_val_loss"],
            "initial_val_loss": float(vals["val_loss"][0]), "train_seconds": round(result["train_seconds"], 1),
            "tokens_per_s": round(result["tokens_seen"] / max(result["train_seconds"], 1e-9), 1),
            "device": result["device"], "world_size": result["world_size"], "lora": dg.MetadataValue.json(result["lora"] or {}),
            "resumed_from_step": result["resumed_from_step"] if result["resumed_from_step"] is not None else -1,
            "stopped_early": result["stopped_early"], "shards_version": manifest["version"],
            "reused_unchanged": reused,
            "loss_curve": dg.MetadataValue.md(markdown_table(history.with_columns(pl.col(pl.Float64).round(4)))),
            "loss_curve_plot": image(store.path("reports", "loss_curve.png").read_bytes(), "training and validation loss per step"),
            **table_metadata(history, None, n=0),
        },
        check_results=checks,
    )


# ---------------------------------------------------------------------------------------------- eval_report
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


def _run_evaluation(context, config: EvalConfig, store, manifest: dict, ckpt: Path, lineage: dict, training: dict) -> bool:
    """Score base and fine-tuned models, write the tables and the report files; True when exact-match items exist."""
    from instr_assets.core.evaluate import evaluation
    from instr_assets.core.models import modeling
    from instr_assets.core.train.train import pick_device

    seq_len = manifest["identity"]["seq_len"]
    splits = store.read_table("stratified_splits")
    labels = splits.select("pair_id", "domain", "task_type", "difficulty")
    device = pick_device("auto")
    base, tok = modeling.load_base_model(lineage["base_model"], seed=lineage["base_seed"])
    tuned, _ = modeling.load_saved_model(ckpt)
    models = {"base": base.to(device), "finetuned": tuned.to(device)}

    per_sample = []
    for split in ("validation", "test"):
        seqs = _sequences(store, manifest, split)
        for name, m in models.items():
            t0 = time.perf_counter()
            df = evaluation.per_sample_nll(m, seqs, seq_len, tok.pad_token_id, device, config.batch_size)
            per_sample.append(df.with_columns(pl.lit(name).alias("model"), pl.lit(split).alias("split")))
            context.log.info(f"{name} on {split}: {df.height} samples in {time.perf_counter() - t0:.1f}s")
    metrics = evaluation.summarize_losses(pl.concat(per_sample), labels)

    eval_rows = splits.filter(pl.col("split").is_in(["validation", "test"]) & ~pl.col("is_augmented"))
    gen_cfg = evaluation.GenerationEval(
        config.max_exact_match_items, config.exact_match_max_new_tokens, config.max_chrf_items, config.chrf_max_new_tokens,
        config.sample_generations, config.sample_max_new_tokens, config.generation_batch_size)
    exact, open_generations, samples = evaluation.evaluate_generations(models, tok, eval_rows, device, gen_cfg, context.log.info)
    chrf_scores = evaluation.chrf_table(open_generations)

    curve_path = store.path("reports", "loss_curve.png")  # drawn by finetuned_checkpoint from the same history
    report = evaluation.render_report(metrics, exact, chrf_scores, samples, training, lineage["base_model"], loss_curve=curve_path.name)
    store.path("reports", "eval_report.md").write_text(report, encoding="utf-8")
    store.path("reports", "eval_report.html").write_text(
        evaluation.render_html(report, f"Evaluation report: {lineage['base_model']}", {curve_path.name: str(curve_path)}),
        encoding="utf-8")
    store.write_table("eval_report", metrics)
    if not exact.is_empty():
        store.write_table("eval_exact_match", exact)
    store.write_table("eval_open_ended", open_generations)
    return not exact.is_empty()


@dg.asset(
    deps=[finetuned_checkpoint], group_name="model", kinds={"pytorch", "markdown", "html"}, pool=POOL,
    code_version=stage_code_version("eval_report"),
    description="Base against fine-tuned: validation/test loss and perplexity overall and per stratum, exact match "
                "on verifiable tasks, chrF on open-ended ones, sample generations and the training loss curve; "
                "Markdown and HTML report.",
    check_specs=[
        _spec("eval_report", "metrics_finite", "every reported loss and perplexity is finite"),
        _spec("eval_report", "finetuned_beats_base", "fine-tuned validation loss below the base model's", blocking=False),
    ],
)
def eval_report(context: dg.AssetExecutionContext, config: EvalConfig, data_store: DataStoreResource):
    from instr_assets.core.evaluate import evaluation

    store = data_store.store()
    manifest = _current_manifest(store)
    ckpt = store.root / "checkpoints" / "finetuned"
    lineage = json.loads((ckpt / "lineage.json").read_text())
    training = json.loads((ckpt / "training_result.json").read_text()) | json.loads((ckpt / "training_config.json").read_text())
    request_id = _request_id(weights=files_version(list(ckpt.glob("*.safetensors"))), shards=manifest.get("data_version"),
                             splits=manifest["identity"]["data_version"], base=[lineage["base_model"], lineage["base_seed"]],
                             config=config.model_dump(exclude={"force"}), code=stage_code_version("eval_report"))
    marker = store.path("reports", "eval_report.request.json")
    report_path, html_path = store.path("reports", "eval_report.md"), store.path("reports", "eval_report.html")
    outputs = [store.table_path("eval_report"), store.table_path("eval_open_ended"), report_path, html_path]
    reused = not config.force and _saved_request_id(marker) == request_id and all(p.exists() for p in outputs)
    if reused:
        context.log.info("checkpoint, data, config and evaluation code unchanged since the saved report: reusing it "
                         "(config force=true evaluates again)")
        has_exact = json.loads(marker.read_text())["has_exact"]
    else:
        has_exact = _run_evaluation(context, config, store, manifest, ckpt, lineage, training)
        store.write_json("reports/eval_report.request.json", {"request_id": request_id, "has_exact": has_exact})
    metrics = store.read_table("eval_report")
    path = store.table_path("eval_report")
    exact = store.read_table("eval_exact_match") if has_exact else pl.DataFrame()
    open_generations = store.read_table("eval_open_ended")
    chrf_scores = evaluation.chrf_table(open_generations)
    curve_path = store.path("reports", "loss_curve.png")
    images = {curve_path.name: str(curve_path)}  # the Markdown file refers to the PNG beside it
    report = report_path.read_text(encoding="utf-8")
    head = evaluation.headline(metrics)
    em = {f"exact_match_{r[0]}": round(float(r[1]), 4) for r in exact.group_by("model").agg(pl.col("correct").mean()).iter_rows()} if not exact.is_empty() else {}
    chrf_md = {f"chrf_{r['model']}": round(r["chrf"], 2) for r in chrf_scores.filter(pl.col("split") == "all").iter_rows(named=True)}
    checks = [
        check_result("metrics_finite", metrics.select("loss", "perplexity").fill_nan(None), [
            Expect("not_null", "loss"), Expect("not_null", "perplexity"), Expect("between", "loss", {"min": 0.0, "max": 1e4})]),
        dg.AssetCheckResult(
            check_name="finetuned_beats_base", severity=dg.AssetCheckSeverity.WARN,
            passed=bool(head.get("validation_loss_finetuned", math.inf) < head.get("validation_loss_base", -math.inf)),
            metadata={k: v for k, v in head.items() if k.startswith("validation_loss")}),
    ]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(metrics, exact, open_generations)),
        metadata={"report": dg.MetadataValue.md(evaluation.inline_images(report, images)),
                  "report_path": dg.MetadataValue.path(str(report_path)),
                  "report_html_path": dg.MetadataValue.path(str(html_path)),
                  "loss_curve_path": dg.MetadataValue.path(str(curve_path)),
                  "duckdb": dg.MetadataValue.path(str(store.duckdb_path)),
                  "reused_unchanged": reused,
                  **{k: round(v, 4) for k, v in head.items()}, **em, **chrf_md, "chrf_items": open_generations["pair_id"].n_unique(),
                  **table_metadata(metrics, path, n=8)},
        check_results=checks,
    )
