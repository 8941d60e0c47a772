"""Shared pieces of the training benchmarks (bench/train_bench.py, bench/gpu_check.py).

The data is self-contained and deterministic: the bundled seed pairs plus generated verifiable tasks, turned
into single-turn chat messages. It does not depend on a pipeline run.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED_PAIRS = ROOT / "instr_assets" / "data" / "seed_pairs.jsonl"


def _pair_id(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _messages(instruction: str, input_text: str, output: str) -> list[dict]:
    user = f"{instruction}\n\n{input_text}" if input_text else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def build_pairs(n_verifiable: int = 20, seed: int = 7):
    """A polars frame (pair_id, messages): seed_pairs.jsonl + generate_verifiable_tasks(n_verifiable, seed)."""
    import polars as pl

    from instr_assets.core.ingest.verifiable_tasks import generate_verifiable_tasks

    records = []
    with SEED_PAIRS.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                records.append((obj["instruction"], obj.get("input") or "", obj["output"]))
    for row in generate_verifiable_tasks(n_verifiable, seed=seed).iter_rows(named=True):
        records.append((row["instruction"], row["input"] or "", row["output"]))
    rows, seen = [], set()
    for instruction, input_text, output in records:
        msgs = _messages(instruction, input_text, output)
        pid = _pair_id(msgs)
        if pid in seen:
            continue
        seen.add(pid)
        rows.append({"pair_id": pid, "messages": msgs})
    schema = {"pair_id": pl.Utf8, "messages": pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))}
    return pl.DataFrame(rows, schema=schema)


def prepare_rows(tokenizer, pairs, seq_len: int) -> tuple[list[dict], list[dict], dict]:
    """(packed rows, padded rows, stats). Padded rows hold exactly the samples of the packed rows, one a row."""
    from instr_assets.core.train.tokenize_pack import PackRules, tokenize_and_pack

    seqs, accounting = tokenize_and_pack(tokenizer, pairs, "train", PackRules(seq_len=seq_len))
    packed = [{k: r[k] for k in ("input_ids", "labels", "position_ids", "sample_lens", "pair_ids", "n_tokens", "n_supervised")}
              for r in seqs.iter_rows(named=True)]
    padded = []
    for r in packed:
        start = 0
        for length, pid in zip(r["sample_lens"], r["pair_ids"]):
            labels = r["labels"][start:start + length]
            padded.append({"input_ids": r["input_ids"][start:start + length], "labels": labels,
                           "position_ids": list(range(length)), "sample_lens": [length], "pair_ids": [pid],
                           "n_tokens": length, "n_supervised": sum(1 for x in labels if x != -100)})
            start += length
    padded.sort(key=lambda r: r["pair_ids"][0])  # a stable order independent of the packer's bins
    n_tok = sum(r["n_tokens"] for r in packed)
    stats = {
        "pairs": pairs.height, "samples_kept": len(padded),
        "samples_dropped": int((accounting["status"] != "packed").sum()),
        "real_tokens": n_tok, "supervised_tokens": sum(r["n_supervised"] for r in packed),
        "packed_rows": len(packed), "padded_rows": len(padded),
        "packed_fill": round(n_tok / (len(packed) * seq_len), 4),
        "padded_fill": round(n_tok / (len(padded) * seq_len), 4),
    }
    return packed, padded, stats


class RecordingList(list):
    """A list of rows that remembers, in order, each row train() fetches by index (one batch = batch_size fetches)."""

    def __init__(self, rows):
        super().__init__(rows)
        self.fetched: list[dict] = []

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if isinstance(index, int):
            self.fetched.append(item)
        return item


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def run_our_loop(model, rows: list[dict], settings, pad_id: int, warmup_steps: int = 1, split_batches: int = 0) -> dict:
    """Run instr_assets.core.train.train and time only steps warmup_steps+1 .. max_steps; then, if split_batches,
    split the cost of that many of the timed batches with cost_split.

    train() evaluates at step 0 and at its last step, and returns train_seconds measured after that last eval. To keep
    evaluation out of the figures we use the per-step history instead: history[k]["tokens_per_s"] is
    tokens_seen_k / elapsed_k measured right after the optimizer step of step k (before any eval), and tokens_seen_k
    is known from the rows train() fetched, so elapsed_k = tokens_seen_k / tokens_per_s_k exactly.
    """
    from instr_assets.core.train.train import train

    if settings.grad_accum != 1:
        raise ValueError("the benchmark assumes grad_accum == 1")
    recorded = RecordingList(rows)
    val = rows[: max(1, settings.eval_max_sequences)]
    t0 = time.perf_counter()
    result = train(model, recorded, val, settings, pad_id, save_best=lambda m: None, log=lambda msg: None)
    call_seconds = time.perf_counter() - t0
    b, n = settings.batch_size, settings.max_steps
    batches = [recorded.fetched[i * b:(i + 1) * b] for i in range(n)]
    steps = [h for h in result["history"] if h["step"] >= 1]
    out = {"call_seconds": round(call_seconds, 3), "train_seconds_reported": round(result["train_seconds"], 3),
           "tokens_seen_reported": result["tokens_seen"],
           "final_train_loss": steps[-1]["train_loss"] if steps else None}
    exact = (len(recorded.fetched) == b * n and len(steps) == n and all(h.get("tokens_per_s") for h in steps)
             and sum(r["n_tokens"] for r in recorded.fetched) == result["tokens_seen"])
    if exact:
        cum, elapsed = 0, []
        for batch, h in zip(batches, steps):
            cum += sum(r["n_tokens"] for r in batch)
            elapsed.append(cum / h["tokens_per_s"])
        timed = batches[warmup_steps:]
        seconds = elapsed[-1] - (elapsed[warmup_steps - 1] if warmup_steps else 0.0)
        out["timing"] = "per-step history, warm-up and all evaluation excluded"
    else:  # train() changed shape: fall back to its own totals (includes the final evaluation, no warm-up exclusion)
        timed = batches
        seconds = result["train_seconds"]
        out["timing"] = "FALLBACK result['train_seconds'] (includes final eval and warm-up)"
    out.update(summarize(timed, seconds, settings.seq_len))
    if split_batches:
        out["cost_split"] = cost_split(model, timed[:split_batches], settings.seq_len, pad_id)
    return out


def cost_split(model, batches: list[list[dict]], seq_len: int, pad_id: int, repeats: int = 3) -> dict:
    """Where a step's forward+backward goes: the transformer body over every position vs the LM head and loss.

    Each batch runs as trained and with its labels cut to a single supervised token, alternately, `repeats` times;
    the fastest of each is kept, which is the least disturbed by other load on a shared machine. token_nll sends
    only supervised positions through the LM head, so the cut run is the body over all B x seq_len positions,
    padding included, with a nearly idle head; the difference is the head and cross-entropy on the supervised
    positions. Wall seconds on the CPU, means over the batches.
    """
    import torch

    from instr_assets.core.train.tokenize_pack import IGNORE, collate
    from instr_assets.core.train.train import token_nll

    def fwd_bwd(batch) -> float:
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        nll, mask = token_nll(model, batch, torch.device("cpu"))
        (nll.sum() / mask.sum().clamp(min=1)).backward()
        return time.perf_counter() - t0

    full, body, supervised = [], [], []
    for rows in batches:
        batch = collate(rows, seq_len, pad_id)
        labels = batch["labels"]
        scored = labels != IGNORE
        scored[:, 0] = False  # position 0 is never a target (token_nll scores token i+1 at position i)
        i, j = scored.nonzero()[0].tolist()
        one = torch.full_like(labels, IGNORE)
        one[i, j] = labels[i, j]
        times = [(fwd_bwd(batch), fwd_bwd({**batch, "labels": one})) for _ in range(repeats)]
        full.append(min(t[0] for t in times))
        body.append(min(t[1] for t in times))
        supervised.append(int(scored.sum()))
    n = len(batches)
    return {
        "batches": n, "repeats": repeats, "supervised_per_batch": round(sum(supervised) / n, 1),
        "fwd_bwd_s": round(sum(full) / n, 4), "body_fwd_bwd_s": round(sum(body) / n, 4),
        "body_share": round(sum(body) / sum(full), 3),
        "body_ms_per_position": round(1e3 * sum(body) / (n * len(batches[0]) * seq_len), 4),
        # the cut run still scores one token, so the difference covers all but one supervised token per batch
        "head_ms_per_supervised_token": round(1e3 * (sum(full) - sum(body)) / max(1, sum(supervised) - n), 4),
    }


def summarize(batches: list[list[dict]], seconds: float, seq_len: int) -> dict:
    rows = [r for batch in batches for r in batch]
    total = len(rows) * seq_len
    real = sum(r["n_tokens"] for r in rows)
    sup = sum(r["n_supervised"] for r in rows)
    return {
        "timed_steps": len(batches), "seconds": round(seconds, 3),
        "tokens": total, "useful_tokens": real, "supervised_tokens": sup, "pad_share": round(1 - real / total, 4),
        "tokens_per_s": round(total / seconds, 1), "useful_tokens_per_s": round(real / seconds, 1),
        "supervised_tokens_per_s": round(sup / seconds, 1), "s_per_step": round(seconds / max(1, len(batches)), 4),
    }
