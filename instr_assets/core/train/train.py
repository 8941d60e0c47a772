"""The fine-tuning loop: AdamW on the NLL of response tokens, warmup + cosine, clipping, gradient
accumulation, validation every N steps, the best model by validation loss kept, early stopping, resumable
checkpoints, and DDP when started under torchrun. Plain PyTorch so it reads in one sitting."""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..storage import new_folder
from .tokenize_pack import IGNORE, collate


@dataclass(frozen=True)
class TrainSettings:
    max_steps: int = 30
    batch_size: int = 1  # packed sequences per process per micro-step
    grad_accum: int = 1
    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 10
    eval_max_sequences: int = 4
    early_stopping_patience: int = 0  # evaluations without improvement before stopping; 0 = never
    checkpoint_every: int = 10  # steps between resumable checkpoints
    seed: int = 0
    seq_len: int = 1024
    device: str = "auto"


def pick_device(requested: str):
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def lr_at(step: int, s: TrainSettings) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.max_steps - s.warmup_steps)
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def token_nll(model, batch, device):
    """Per-token negative log-likelihood [B, L-1] (zero where unsupervised) and the supervised-position mask.

    Position i scores token i+1. Only supervised positions go through the LM head: on response-only loss
    most positions are prompt, and the vocabulary projection is a large share of a small model's compute.
    """
    import torch
    import torch.nn.functional as F

    use_bf16 = device.type == "cuda"
    labels = batch["labels"].to(device)
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE)], dim=1)
    keep = targets != IGNORE
    mask = batch["attention_mask"].to(device, dtype=torch.bfloat16 if use_bf16 else torch.float32)
    config = getattr(model, "module", model).config  # DDP wraps the model
    if config._attn_implementation.startswith("flash"):
        # Flash attention takes no dense mask; it separates packed samples by the restarting position ids.
        mask = None
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
        logits = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=mask,
            position_ids=batch["position_ids"].to(device),
            use_cache=False,
            logits_to_keep=keep,
        ).logits
    nll = torch.zeros(targets.shape, dtype=torch.float32, device=device)
    nll[keep] = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets[keep], reduction="none")
    return nll[:, :-1], keep[:, :-1]


def evaluate_loss(model, sequences: list[dict], s: TrainSettings, pad_id: int, device) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(sequences), s.batch_size):
            nll, mask = token_nll(model, collate(sequences[i:i + s.batch_size], s.seq_len, pad_id), device)
            total += nll.sum().item()
            count += mask.sum().item()
    model.train()
    return total / max(count, 1)


def distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) unless a process group is running (torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    import torch.distributed as dist

    if distributed()[1] > 1:
        dist.barrier()


# ----------------------------------------------------------------------------------- resumable checkpoints
# Everything is stored as safetensors (tensors) and JSON (the rest): resuming never unpickles a file.

def save_resume_state(folder: Path, model, opt, state: dict) -> None:
    import torch
    from safetensors.torch import save_file, save_model

    opt_state = opt.state_dict()
    tensors = {"torch_rng": torch.get_rng_state()}
    scalars = {}
    for idx, st in opt_state["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    with new_folder(folder) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({**state, "optimizer_scalars": scalars,
                                                    "param_groups": opt_state["param_groups"]}))


def load_resume_state(folder: Path, model, opt, fingerprint: dict) -> dict | None:
    """Restore model, optimizer and RNG from `folder` if it was written for the same run settings."""
    import torch
    from safetensors.torch import load_file, load_model

    if not (folder / "state.json").exists():
        return None
    state = json.loads((folder / "state.json").read_text())
    if state.get("fingerprint") != fingerprint:
        return None
    load_model(model, str(folder / "model.safetensors"))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    opt_state: dict = {"state": {}, "param_groups": state.pop("param_groups")}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        opt_state["state"].setdefault(int(idx), {})[name] = value
    for key, value in state.pop("optimizer_scalars").items():
        idx, name = key.split(".", 1)
        opt_state["state"].setdefault(int(idx), {})[name] = value
    opt.load_state_dict(opt_state)
    return state


# ------------------------------------------------------------------------------------------------ the loop

def train(model, train_seqs: list[dict], val_seqs: list[dict], s: TrainSettings, pad_id: int,
          save_best: Callable[[object], None], log: Callable[[str], None] = print,
          resume_dir: Path | None = None, fingerprint: dict | None = None) -> dict:
    """Train and call save_best(model) whenever validation loss improves (step 0 included).

    With resume_dir, a checkpoint is written every `checkpoint_every` steps and a later call with the same
    fingerprint continues from it. Under torchrun each process takes its own slice of every global batch.
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel

    if not train_seqs:
        raise ValueError("no training sequences")
    if not val_seqs:
        raise ValueError("no validation sequences")
    rank, world = distributed()
    torch.manual_seed(s.seed)
    rng = random.Random(s.seed)
    device = pick_device(s.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    model.to(device).train()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": [p for _, p in trainable if p.ndim >= 2], "weight_decay": s.weight_decay},
         {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0}],
        lr=s.lr, betas=(0.9, 0.95), fused=device.type in ("cpu", "cuda"))
    fingerprint = {"settings": asdict(s), "world": world, **(fingerprint or {})}
    val_subset = val_seqs[: s.eval_max_sequences]

    resumed = load_resume_state(resume_dir, model, opt, fingerprint) if resume_dir else None
    if resumed:
        start_step, order, history, best = resumed["step"] + 1, resumed["order"], resumed["history"], resumed["best"]
        tokens_seen, evals_since_best = resumed["tokens_seen"], resumed["evals_since_best"]
        rng.setstate((resumed["rng"][0], tuple(resumed["rng"][1]), resumed["rng"][2]))
        log(f"resumed from step {resumed['step']} ({resume_dir})")
    else:
        start_step, order, tokens_seen, evals_since_best = 1, [], 0, 0
        best = {"step": 0, "val_loss": evaluate_loss(model, val_subset, s, pad_id, device)}
        history = [{"step": 0, "train_loss": None, "val_loss": best["val_loss"], "lr": 0.0, "tokens_per_s": None}]
        if rank == 0:
            save_best(model)
        _barrier()
        log(f"step 0: validation loss {best['val_loss']:.4f}")
    ddp = DistributedDataParallel(model) if world > 1 else model
    per_step = s.batch_size * world
    start = time.perf_counter()
    seen_at_start = tokens_seen
    for step in range(start_step, s.max_steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, s)
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(s.grad_accum):
            while len(order) < per_step:
                fresh = list(range(len(train_seqs)))
                rng.shuffle(fresh)
                order += fresh
            global_rows = [train_seqs[i] for i in order[:per_step]]
            del order[:per_step]
            rows = global_rows[rank * s.batch_size:(rank + 1) * s.batch_size]
            nll, mask = token_nll(ddp, collate(rows, s.seq_len, pad_id), device)
            loss = nll.sum() / mask.sum().clamp(min=1)
            (loss / s.grad_accum).backward()
            step_loss += loss.item() / s.grad_accum
            tokens_seen += sum(r["n_tokens"] for r in global_rows)
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        elapsed = time.perf_counter() - start
        tps = (tokens_seen - seen_at_start) / elapsed
        entry = {"step": step, "train_loss": step_loss, "val_loss": None, "lr": opt.param_groups[0]["lr"], "tokens_per_s": tps}
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"training loss became {step_loss} at step {step}")
        stop = False
        if step % s.eval_every == 0 or step == s.max_steps:
            entry["val_loss"] = evaluate_loss(model, val_subset, s, pad_id, device)
            if entry["val_loss"] < best["val_loss"]:
                best, evals_since_best = {"step": step, "val_loss": entry["val_loss"]}, 0
                if rank == 0:
                    save_best(model)
                _barrier()
            else:
                evals_since_best += 1
                stop = 0 < s.early_stopping_patience <= evals_since_best
        history.append(entry)
        eta = elapsed / (step - start_step + 1) * (s.max_steps - step)
        val = f", val {entry['val_loss']:.4f}" if entry["val_loss"] is not None else ""
        log(f"step {step}/{s.max_steps}: loss {step_loss:.4f}{val}, {tps:.0f} tok/s, ETA {eta:.0f}s")
        if resume_dir and rank == 0 and (step % s.checkpoint_every == 0 or stop) and step < s.max_steps:
            rstate = rng.getstate()
            save_resume_state(resume_dir, model, opt, {
                "fingerprint": fingerprint, "step": step, "order": order, "history": history, "best": best,
                "tokens_seen": tokens_seen, "evals_since_best": evals_since_best,
                "rng": [rstate[0], list(rstate[1]), rstate[2]]})
        if stop:
            log(f"early stopping at step {step}: no improvement in {evals_since_best} evaluations")
            break
    return {"history": history, "best_step": best["step"], "best_val_loss": best["val_loss"],
            "train_seconds": time.perf_counter() - start, "tokens_seen": tokens_seen - seen_at_start,
            "settings": asdict(s), "device": str(device), "world_size": world,
            "resumed_from_step": resumed["step"] if resumed else None, "stopped_early": history[-1]["step"] < s.max_steps}
