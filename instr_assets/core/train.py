"""The fine-tuning loop: AdamW on the NLL of response tokens, warmup + cosine, clipping, validation every N
steps, the best model by validation loss kept. Plain PyTorch so it reads in one sitting."""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .tokenize_pack import IGNORE, collate


@dataclass(frozen=True)
class TrainSettings:
    max_steps: int = 30
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 10
    eval_max_sequences: int = 16
    seed: int = 0
    seq_len: int = 256
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
    """Per-token negative log-likelihood [B, L-1] and the mask of supervised positions."""
    import torch
    import torch.nn.functional as F

    use_bf16 = device.type == "cuda"
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
        logits = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device, dtype=torch.bfloat16 if use_bf16 else torch.float32),
            position_ids=batch["position_ids"].to(device),
        ).logits
    targets = batch["labels"].to(device)[:, 1:]
    logits = logits[:, :-1].float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1).clamp(min=0), reduction="none")
    mask = targets != IGNORE
    return nll.view(targets.shape) * mask, mask


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


def train(model, train_seqs: list[dict], val_seqs: list[dict], s: TrainSettings, pad_id: int,
          save_best: Callable[[object], None], log: Callable[[str], None] = print) -> dict:
    """Train and call save_best(model) whenever validation loss improves (step 0 included)."""
    import torch

    if not train_seqs:
        raise ValueError("no training sequences")
    if not val_seqs:
        raise ValueError("no validation sequences")
    torch.manual_seed(s.seed)
    rng = random.Random(s.seed)
    device = pick_device(s.device)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=s.lr, betas=(0.9, 0.95))
    val_subset = val_seqs[: s.eval_max_sequences]
    order: list[int] = []
    history = []
    best = {"step": 0, "val_loss": evaluate_loss(model, val_subset, s, pad_id, device)}
    history.append({"step": 0, "train_loss": None, "val_loss": best["val_loss"], "lr": 0.0, "tokens_per_s": None})
    save_best(model)
    log(f"step 0: validation loss {best['val_loss']:.4f}")
    start = time.perf_counter()
    tokens_seen = 0
    for step in range(1, s.max_steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, s)
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(s.grad_accum):
            if len(order) < s.batch_size:
                fresh = list(range(len(train_seqs)))
                rng.shuffle(fresh)
                order += fresh
            batch_rows = [train_seqs[order.pop(0)] for _ in range(s.batch_size)]
            nll, mask = token_nll(model, collate(batch_rows, s.seq_len, pad_id), device)
            loss = nll.sum() / mask.sum().clamp(min=1)
            (loss / s.grad_accum).backward()
            step_loss += loss.item() / s.grad_accum
            tokens_seen += sum(r["n_tokens"] for r in batch_rows)
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        elapsed = time.perf_counter() - start
        tps = tokens_seen / elapsed
        entry = {"step": step, "train_loss": step_loss, "val_loss": None, "lr": opt.param_groups[0]["lr"], "tokens_per_s": tps}
        if not math.isfinite(step_loss):
            history.append(entry)
            raise FloatingPointError(f"training loss became {step_loss} at step {step}")
        if step % s.eval_every == 0 or step == s.max_steps:
            entry["val_loss"] = evaluate_loss(model, val_subset, s, pad_id, device)
            if entry["val_loss"] < best["val_loss"]:
                best = {"step": step, "val_loss": entry["val_loss"]}
                save_best(model)
        history.append(entry)
        eta = elapsed / step * (s.max_steps - step)
        val = f", val {entry['val_loss']:.4f}" if entry["val_loss"] is not None else ""
        log(f"step {step}/{s.max_steps}: loss {step_loss:.4f}{val}, {tps:.0f} tok/s, ETA {eta:.0f}s")
    return {"history": history, "best_step": best["step"], "best_val_loss": best["val_loss"],
            "train_seconds": time.perf_counter() - start, "tokens_seen": tokens_seen, "settings": asdict(s),
            "device": str(device)}
