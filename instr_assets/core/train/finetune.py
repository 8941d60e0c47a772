"""One fine-tuning run from tokenized shards to a best checkpoint in a work folder.

The same function runs in the Dagster process (one process) or under torchrun (`python -m
instr_assets.core.finetune ...`, DDP with gloo on CPU or NCCL on GPU); only rank 0 writes files.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
from dataclasses import asdict
from pathlib import Path

import polars as pl

from ..models import modeling
from ..models.base_models import BaseModel, BaseModelError, resolve_base_model
from ..models.model_card import ADAPTER_DIR, MODEL_CARD, render_model_card
from ..storage import new_folder
from .train import TrainSettings, distributed, train


def load_split_sequences(shards_dir: Path, split: str) -> list[dict]:
    manifest = json.loads((shards_dir / "manifest.json").read_text())
    files = [shards_dir / f for f in manifest["splits"][split]["files"]]
    return pl.concat([pl.read_parquet(f) for f in files]).to_dicts() if files else []


def add_lora(model, r: int, alpha: int, base_name: str | None = None):
    """Wrap the model with LoRA adapters on every linear layer but the output head (peft's "all-linear"): the
    attention and MLP projections of any architecture, whatever its layer names. base_name goes into the adapter's
    config, so peft can find the base model again."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules="all-linear",
                     base_model_name_or_path=base_name)
    return get_peft_model(model, cfg)


def _plain(model):
    """The model to save: LoRA adapters merged into a copy, so the checkpoint loads without peft."""
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model


def save_atomically(model, tokenizer, folder: Path) -> None:
    """The plain model, and with LoRA the adapters on their own in ADAPTER_DIR, replacing `folder` as a whole."""
    with new_folder(folder) as tmp:
        modeling.save_model(_plain(model), tokenizer, tmp)
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp / ADAPTER_DIR, safe_serialization=True)  # a PeftModel saves its adapters only


def data_counts(shards_dir: Path, manifest: dict) -> dict:
    """split -> conversations, packed sequences and tokens in the shards, for the model card."""
    counts = {}
    for split in manifest["splits"]:
        seqs = load_split_sequences(shards_dir, split)
        counts[split] = {"samples": sum(len(r["pair_ids"]) for r in seqs), "sequences": len(seqs),
                         "tokens": sum(r["n_tokens"] for r in seqs)}
    return counts


def checked_base_model(base_model: str, shards_identity: dict) -> BaseModel:
    """base_model resolved, once its tokenizer is known to be the one the shards were made with: shards from
    another tokenizer would train on the wrong token ids. Checked before any weights load."""
    base = resolve_base_model(base_model)
    if mismatch := modeling.tokenizer_mismatch(shards_identity, modeling.load_tokenizer(base_model), base.name):
        raise BaseModelError(mismatch)
    return base


def run_finetune(shards_dir: Path, work_dir: Path, base_model: str, settings: TrainSettings, base_seed: int = 0,
                 lora_r: int = 0, lora_alpha: int = 16, log=print) -> dict:
    """Train from the shards; the best model lands in work_dir/best, resumable state in work_dir/resume."""
    rank, _ = distributed()
    manifest = json.loads((shards_dir / "manifest.json").read_text())
    base = checked_base_model(base_model, manifest["identity"])
    model, tok = modeling.load_base_model(base_model, seed=base_seed)
    if rank == 0:
        log(f"base model: {base.description}; chat template: {modeling.chat_template_note(tok)}")
    if lora_r:
        model = add_lora(model, lora_r, lora_alpha, base.card_id)
    work_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = {"base_model": base.name, "base_seed": base_seed, "shards_version": manifest["version"],
                   "lora_r": lora_r, "lora_alpha": lora_alpha}
    result = train(model, load_split_sequences(shards_dir, "train"), load_split_sequences(shards_dir, "validation"),
                   settings, tok.pad_token_id, save_best=lambda m: save_atomically(m, tok, work_dir / "best"),
                   log=log, resume_dir=work_dir / "resume", fingerprint=fingerprint)
    result["lora"] = {"r": lora_r, "alpha": lora_alpha} if lora_r else None
    if rank == 0:
        card = render_model_card(base, modeling.chat_template_note(tok), asdict(settings), result,
                                 data_counts(shards_dir, manifest), result["lora"], manifest.get("version"))
        (work_dir / "best" / MODEL_CARD).write_text(card, encoding="utf-8")
        (work_dir / "training_result.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    import torch
    import torch.distributed as dist

    p = argparse.ArgumentParser(description="Fine-tune from tokenized shards (run under torchrun for DDP).")
    p.add_argument("--shards-dir", type=Path, required=True)
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--base-model", default="smollm2", help="smollm2, tiny, a Hugging Face model id or a model folder")
    p.add_argument("--base-seed", type=int, default=0)
    p.add_argument("--settings-json", default="{}", help="TrainSettings fields as JSON")
    p.add_argument("--lora-r", type=int, default=0)
    p.add_argument("--lora-alpha", type=int, default=16)
    args = p.parse_args()
    settings = TrainSettings(**json.loads(args.settings_json))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank, world = distributed()
    try:
        run_finetune(args.shards_dir, args.work_dir, args.base_model, settings, args.base_seed, args.lora_r,
                     args.lora_alpha, log=lambda m: print(f"[rank {rank}/{world}] {m}", flush=True) if rank == 0 else None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
