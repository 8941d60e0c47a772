"""Model-side assets before evaluation: tokenized shards and the fine-tuned checkpoint. torch and transformers are
imported inside the asset bodies so the code location loads fast."""

import json
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.models.base_models import BaseModelError, resolve_base_model, weights_identity
from instr_assets.core.models.model_card import ADAPTER_DIR, MODEL_CARD
from instr_assets.core.versioning import files_version, frame_version, json_digest, stage_code_version

from .split_assets import stratified_splits
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, image, table_metadata
from .publication import accounting_check, check_spec, published_metadata, stop_unless_checks_pass, upstream_version
from .resources import DataStoreResource


SPLITS = ("train", "validation", "test")
LOSS_CURVE = "loss_curve.png"  # drawn by finetuned_checkpoint, copied beside the report by eval_report


def live_shards(context, store):
    """The tokenized shards to read (this run's, else the live ones; see upstream_version) and their manifest."""
    version = upstream_version(context, store, "tokenized_shards")
    return version, json.loads((version.folder / "manifest.json").read_text())


def reused_metadata(context, store, live, *upstream) -> dict:
    """published_metadata's metadata for a stage that kept its live version; the DuckDB file is rebuilt if it was
    deleted, model stages included."""
    live.catalog_warning = store.ensure_catalog()
    return published_metadata(context, live, *upstream)


# ---------------------------------------------------------------------------------------- tokenized_shards
BASE_MODEL_HELP = ("smollm2 (SmolLM2-135M-Instruct, dequantized from the bundled Q4_1 GGUF), tiny (a tiny random model "
                   "with SmolLM2's tokenizer), a Hugging Face model id in the local cache, or a local model folder "
                   "(config.json, *.safetensors and tokenizer files)")


@contextmanager
def base_model_errors(step: str):
    """A base_model that cannot be used fails the step with the reason, not a traceback."""
    try:
        yield
    except BaseModelError as err:
        raise dg.Failure(description=f"{step}: {err}") from None


class TokenizeConfig(dg.Config):
    base_model: str = Field(default="smollm2", description="whose tokenizer and chat template encode the data: the "
                                                           "same value as finetuned_checkpoint's base_model. " + BASE_MODEL_HELP)
    seq_len: int = Field(default=1024, ge=16, le=8192, description="packed sequence length")
    overflow: Literal["drop", "truncate_response"] = "drop"
    sequences_per_shard: int = Field(default=512, ge=1)
    eval_on_originals_only: bool = Field(default=True, description="leave augmented children out of validation/test shards")


def _tokenize_splits(tok, splits: pl.DataFrame, config: "TokenizeConfig") -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """split -> (packed sequences, per-sample accounting)."""
    from instr_assets.core.train.tokenize_pack import PackRules, tokenize_and_pack

    rules = PackRules(config.seq_len, config.overflow)
    packed = {}
    for name in SPLITS:
        part = splits.filter(pl.col("split") == name)
        if name != "train" and config.eval_on_originals_only:
            part = part.filter(~pl.col("is_augmented"))
        packed[name] = tokenize_and_pack(tok, part, name, rules)
    return packed


def _write_shards(packed: dict[str, tuple[pl.DataFrame, pl.DataFrame]], folder: Path, config: "TokenizeConfig") -> dict:
    """Each split's sequences as Parquet shards in `folder`/shards; the manifest's per-split entries."""
    manifest_splits = {}
    for name, (seqs, samples) in packed.items():
        files = []
        for i in range(0, seqs.height, config.sequences_per_shard):
            fname = f"shards/{name}-{i // config.sequences_per_shard:05d}.parquet"
            seqs.slice(i, config.sequences_per_shard).write_parquet(folder / fname)
            files.append(fname)
        real = int(seqs["n_tokens"].sum())
        manifest_splits[name] = {
            "files": files, "sequences": seqs.height, "samples_packed": int(samples["status"].is_in(["packed", "truncated"]).sum()),
            "tokens": real, "supervised_tokens": int(seqs["n_supervised"].sum()),
            "packing_efficiency": round(real / max(1, seqs.height * config.seq_len), 4),
        }
    return manifest_splits


@dg.asset(
    deps=[stratified_splits], group_name="model", kinds={"pytorch", "parquet"},
    code_version=stage_code_version("tokenized_shards"),
    description="Chat-template tokenization (prompt tokens labelled -100), packing (best-fit decreasing, then a "
                "subset-sum pass when that misses the lower bound) into "
                "seq_len sequences with per-sample position ids; shards and a manifest keyed by data version, "
                "tokenizer, chat template and seq_len.",
    check_specs=[
        check_spec("tokenized_shards", "every_sequence_supervised", "each packed sequence and sample has supervised tokens "
                                                               "and fits seq_len, and every split has sequences"),
        check_spec("tokenized_shards", "tokenized_accounting", "packed + dropped samples = split rows"),
    ],
)
def tokenized_shards(context: dg.AssetExecutionContext, config: TokenizeConfig, data_store: DataStoreResource):
    from instr_assets.core.models import modeling
    from instr_assets.core.train.tokenize_pack import splits_without_sequences

    store = data_store.store()
    splits_version = upstream_version(context, store, "stratified_splits")
    splits = splits_version.read_table("stratified_splits")
    with base_model_errors("tokenized_shards"):
        base = resolve_base_model(config.base_model)
        tok = modeling.load_tokenizer(config.base_model)
    template = modeling.chat_template_note(tok)
    context.log.info(f"tokenizing for base model {base.name}; chat template: {template}")
    fingerprint = modeling.tokenizer_fingerprint(tok)
    data_version = frame_version(splits)  # the DataVersion stratified_splits reported, so lineage matches the UI
    identity = {"data_version": data_version, "base_model": base.name, **fingerprint, "seq_len": config.seq_len,
                "overflow": config.overflow, "eval_on_originals_only": config.eval_on_originals_only}
    version = json_digest(identity)
    packed = _tokenize_splits(tok, splits, config)
    seqs = pl.concat([p[0] for p in packed.values()])
    samples = pl.concat([p[1] for p in packed.values()])
    if empty := splits_without_sequences(samples, SPLITS):
        raise dg.Failure(description=f"tokenized_shards: seq_len {config.seq_len} (overflow {config.overflow}) leaves "
                                     f"no sequence in {'; '.join(empty)}; nothing was published and the previous "
                                     "shard version stays current")
    expected = splits.height if not config.eval_on_originals_only else splits.filter(
        (pl.col("split") == "train") | ~pl.col("is_augmented")).height
    acc_df, acc_exp = accounting_check(samples["pair_id"] + "/" + samples["split"], expected)
    packed_samples = samples.filter(pl.col("status").is_in(["packed", "truncated"]))
    sequences = seqs.select(pl.format("{}/{}", "split", "seq_index").alias("sequence"), "split", "n_supervised", "n_tokens")
    with GxRecord(store.root, "tokenized_shards") as record:
        checks = [
            record.check("every_sequence_supervised", sequences, [
                Expect("between", "n_supervised", {"min": 1}), Expect("between", "n_tokens", {"min": 1, "max": config.seq_len}),
                Expect("distinct_equal", "split", {"values": list(SPLITS)})], ids="sequence"),
            record.check("tokenized_accounting", acc_df, acc_exp, ids="id"),
        ]
    ratio = packed_samples.select((pl.col("n_supervised") / pl.col("n_tokens")).alias("r"))["r"]
    checks[0].metadata["supervised_ratio_p10_p50_p90"] = dg.MetadataValue.json(
        [round(float(ratio.quantile(q)), 3) for q in (0.1, 0.5, 0.9)])
    # Shards, manifest and the samples table go live together, in one switch, once all of them are written.
    with store.publishing("tokenized_shards") as stage:
        yield from stop_unless_checks_pass(stage, checks)
        (stage.folder / "shards").mkdir()
        manifest_splits = _write_shards(packed, stage.folder, config)
        manifest = {"version": version, "identity": identity, "splits": manifest_splits, "created_at": time.time(),
                    "data_version": frame_version(seqs)}
        (stage.folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        stage.write_table("tokenized_samples", samples)
        stage.add_view("tokenized_shards", "shards/*.parquet")
    yield dg.MaterializeResult(
        metadata=published_metadata(context, stage, splits_version) | table_metadata(
            seqs, stage.folder, ["split", "seq_index", "n_tokens", "n_supervised"]) | {
            "shards_version": version, "identity": dg.MetadataValue.json(identity), "chat_template": template,
            "per_split": frame_table(pl.DataFrame([{"split": name, **{k: v for k, v in entry.items() if k != "files"},
                                                     "shard_files": len(entry["files"])}
                                                    for name, entry in manifest_splits.items()])),
            "sample_status": counts(samples, "status"),
            "packing_efficiency_train": manifest_splits["train"]["packing_efficiency"],
        },
        # From the packed sequences, not the identity: a code change that packs the same way keeps training fresh.
        data_version=dg.DataVersion(manifest["data_version"]),
        check_results=checks,
    )


def request_id_of(**inputs) -> str:
    """What a model stage's output depends on, hashed: when it equals the id saved with the last output, that
    output is still current and the (minutes-long) work is skipped, e.g. by a nightly rebuild with nothing new."""
    return json_digest(inputs, 32)


def saved_request_id(path: Path) -> str | None:
    return json.loads(path.read_text()).get("request_id") if path.exists() else None


# ------------------------------------------------------------------------------------ finetuned_checkpoint
class TrainConfig(dg.Config):
    base_model: str = Field(default="smollm2", description="the model to fine-tune; tokenized_shards must have been made "
                                                           "with its tokenizer. " + BASE_MODEL_HELP)
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
    deps=[tokenized_shards], group_name="model", kinds={"pytorch", "safetensors"},
    code_version=stage_code_version("finetuned_checkpoint"),
    description="Causal LM fine-tuned with AdamW on the NLL of response tokens; validation every N steps, the "
                "best checkpoint kept, resumable after a crash, DDP under torchrun, optional LoRA; saved in "
                "Hugging Face format (safetensors) with its lineage.",
    check_specs=[check_spec("finetuned_checkpoint", "loss_finite", "training and validation losses were logged and every "
                                                              "one is finite")],
)
def finetuned_checkpoint(context: dg.AssetExecutionContext, config: TrainConfig, data_store: DataStoreResource):
    from instr_assets.core.evaluate.evaluation import plot_loss_curve
    from instr_assets.core.train.finetune import checked_base_model, run_finetune
    from instr_assets.core.train.train import TrainSettings

    store = data_store.store()
    shards, manifest = live_shards(context, store)
    shards_dir = shards.folder
    with base_model_errors("finetuned_checkpoint"):
        base = checked_base_model(config.base_model, manifest["identity"])
    fields = set(TrainSettings.__dataclass_fields__)
    settings = TrainSettings(**{k: v for k, v in config.model_dump().items() if k in fields}, seq_len=manifest["identity"]["seq_len"])
    # A killed run leaves its work folder; materializing again resumes from its last checkpoint.
    work = store.root / "checkpoints" / "finetuned.work"
    live = store.published("finetuned_checkpoint")
    request_id = request_id_of(shards=manifest.get("data_version"), config=config.model_dump(exclude={"force"}),
                             base=weights_identity(base), code=stage_code_version("finetuned_checkpoint"))
    reused = (not config.force and not work.exists() and live is not None
              and saved_request_id(live.folder / "model" / "lineage.json") == request_id)
    if reused:
        context.log.info(f"shards, config and training code unchanged since the checkpoint in {live.folder}: reusing "
                         "it (config force=true retrains)")
        result = json.loads((live.folder / "model" / "training_result.json").read_text())
        history = live.read_table("finetuned_checkpoint")
    else:
        if config.nproc_per_node > 1:
            _torchrun(context, shards_dir, work, config, settings)
            result = json.loads((work / "training_result.json").read_text())
        else:
            result = run_finetune(shards_dir, work, config.base_model, settings, config.seed, config.lora_r,
                                  config.lora_alpha, log=context.log.info)
        history = pl.DataFrame(result["history"], schema={"step": pl.Int64, "train_loss": pl.Float64,
                                                          "val_loss": pl.Float64, "lr": pl.Float64,
                                                          "tokens_per_s": pl.Float64})
    with GxRecord(store.root, "finetuned_checkpoint") as record:
        checks = [_loss_check(record, history)]
    if reused:
        yield from stop_unless_checks_pass(live, checks)
        published = reused_metadata(context, store, live, shards)
    else:
        _describe_checkpoint(work / "best", context, config, base.name, settings, manifest, shards_dir, request_id, result)
        with store.publishing("finetuned_checkpoint") as live:
            # Checked before the model moves in: a failed check drops the stage, and the work folder keeps the run.
            yield from stop_unless_checks_pass(live, checks)
            (work / "best").rename(live.folder / "model")
            live.write_table("finetuned_checkpoint", history)
            plot_loss_curve(history, live.folder / LOSS_CURVE)  # the plot eval_report shows, here when training ends
        published = published_metadata(context, live, shards)
        shutil.rmtree(work)
    final = live.folder / "model"
    vals = history.filter(pl.col("val_loss").is_not_null())
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(files_version(list(final.glob("*.safetensors")))),  # the saved weights
        metadata=published | {
            "path": dg.MetadataValue.path(str(final)), "base_model": base.name, "base_model_description": base.description,
            "model_card": dg.MetadataValue.path(str(final / MODEL_CARD)),
            **({"lora_adapter": dg.MetadataValue.path(str(final / ADAPTER_DIR))} if config.lora_r else {}),
            "best_step": result["best_step"], "best_val_loss": result["best_val_loss"],
            "initial_val_loss": float(vals["val_loss"][0]), "train_seconds": round(result["train_seconds"], 1),
            "tokens_per_s": round(result["tokens_seen"] / max(result["train_seconds"], 1e-9), 1),
            "device": result["device"], "world_size": result["world_size"], "lora": dg.MetadataValue.json(result["lora"] or {}),
            "resumed_from_step": result["resumed_from_step"] if result["resumed_from_step"] is not None else -1,
            "stopped_early": result["stopped_early"], "shards_version": manifest["version"],
            "reused_unchanged": reused,
            "loss_curve": frame_table(history.with_columns(pl.col(pl.Float64).round(4))),
            "loss_curve_plot": image((live.folder / LOSS_CURVE).read_bytes(), "training and validation loss per step"),
            **table_metadata(history, None, n=0),
        },
        check_results=checks,
    )


def _describe_checkpoint(best: Path, context, config: TrainConfig, base_model: str, settings, manifest: dict,
                         shards_dir: Path, request_id: str, result: dict) -> None:
    """Lineage, config, result and the pairs trained on, saved beside the best model (and its model card).
    base_model: the resolved name (a folder as an absolute path), which evaluation loads again."""
    lineage = {
        "base_model": base_model, "base_seed": config.seed, "shards_version": manifest["version"],
        "shards_identity": manifest["identity"], "dagster_run_id": context.run.run_id,
        "upstream_data_versions": {"stratified_splits": manifest["identity"]["data_version"],
                                   "tokenized_shards": manifest.get("data_version")},
        "request_id": request_id,
    }
    (best / "training_config.json").write_text(json.dumps({**config.model_dump(), "seq_len": settings.seq_len}, indent=2))
    (best / "lineage.json").write_text(json.dumps(lineage, indent=2))
    (best / "training_result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "settings"}, indent=2))
    # Which pairs the weights have seen, so an evaluation on other splits can say how many items leaked.
    _training_pairs(shards_dir, manifest).write_parquet(best / "training_pairs.parquet")


def _training_pairs(shards_dir: Path, manifest: dict) -> pl.DataFrame:
    files = [shards_dir / f for f in manifest["splits"]["train"]["files"]]
    return pl.read_parquet(files, columns=["pair_ids"]).select(pl.col("pair_ids").explode().alias("pair_id"))


def _loss_check(record: GxRecord, history: pl.DataFrame) -> dg.AssetCheckResult:
    """Every logged loss finite, and both a training and a validation loss logged: an empty log fails."""
    losses = pl.concat([
        history.select(pl.lit("train").alias("kind"), "step", pl.col("train_loss").alias("loss")).drop_nulls("loss"),
        history.select(pl.lit("validation").alias("kind"), "step", pl.col("val_loss").alias("loss")).drop_nulls("loss"),
    ]).select(pl.format("{} step {}", "kind", "step").alias("logged"), "kind", "loss")
    return record.check("loss_finite", losses.with_columns(pl.col("loss").fill_nan(None)), [
        Expect("not_null", "loss"), Expect("between", "loss", {"min": 0.0, "max": 1e4}),
        Expect("distinct_equal", "kind", {"values": ["train", "validation"]})], ids="logged")


