"""Evaluation: loss and perplexity per split and stratum, exact match on verifiable tasks, sample
generations, rendered as a Markdown report."""
from __future__ import annotations

import math

import polars as pl

from .tokenize_pack import collate
from .train import token_nll
from .verifiable_tasks import exact_match

METRIC_SCHEMA = {
    "model": pl.Utf8, "split": pl.Utf8, "facet": pl.Utf8, "value": pl.Utf8, "n_samples": pl.Int64,
    "n_tokens": pl.Int64, "loss": pl.Float64, "perplexity": pl.Float64,
}


def per_sample_nll(model, sequences: list[dict], seq_len: int, pad_id: int, device, batch_size: int = 4) -> pl.DataFrame:
    """Summed NLL and supervised token count of every packed sample, recovered from its segment."""
    import torch

    rows = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            chunk = sequences[i:i + batch_size]
            batch = collate(chunk, seq_len, pad_id)
            nll, mask = token_nll(model, batch, device)
            seg = batch["segment_ids"][:, 1:].to(nll.device)  # aligned with the shifted targets
            for b, r in enumerate(chunk):
                for k, pid in enumerate(r["pair_ids"], start=1):
                    sel = seg[b] == k
                    rows.append({"pair_id": pid, "nll_sum": nll[b][sel].sum().item(), "n_tokens": int(mask[b][sel].sum().item())})
    return pl.DataFrame(rows, schema={"pair_id": pl.Utf8, "nll_sum": pl.Float64, "n_tokens": pl.Int64})


def summarize_losses(per_sample: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """per_sample: model, split, pair_id, nll_sum, n_tokens; labels: pair_id, domain, task_type, difficulty."""
    joined = per_sample.join(labels, on="pair_id", how="left").with_columns(pl.lit("all").alias("overall"))
    frames = []
    for facet in ("overall", "domain", "task_type", "difficulty"):
        frames.append(
            joined.group_by("model", "split", facet).agg(
                pl.len().cast(pl.Int64).alias("n_samples"), pl.col("n_tokens").sum().alias("n_tokens"),
                (pl.col("nll_sum").sum() / pl.col("n_tokens").sum()).alias("loss"),
            ).select("model", "split", pl.lit(facet).alias("facet"), pl.col(facet).alias("value"),
                     "n_samples", "n_tokens", "loss")
        )
    out = pl.concat(frames).with_columns(pl.col("loss").exp().alias("perplexity"))
    return out.sort("facet", "value", "split", "model").cast(METRIC_SCHEMA)


def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int, device, batch_size: int = 16) -> list[str]:
    """Greedy continuations of each conversation's generation prompt (left-padded batches)."""
    import torch

    model.eval()
    tokenizer.padding_side = "left"
    outs = []
    for i in range(0, len(conversations), batch_size):
        prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                   for c in conversations[i:i + batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        outs += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [o.strip() for o in outs]


def score_exact_match(predictions: list[str], references: list[str], task_kinds: list[str]) -> list[bool]:
    # Upper-casing is the one task whose answer is all about letter case, so it is scored case-sensitively.
    return [
        (p.strip().splitlines() or [""])[0].strip().rstrip(".。") == r if kind == "string_manipulation" and r.isupper()
        else exact_match(p, r)
        for p, r, kind in zip(predictions, references, task_kinds)
    ]


def _md_table(df: pl.DataFrame, floats: int = 4) -> str:
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.iter_rows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f"{v:.{floats}f}" if math.isfinite(v) else str(v))
            else:
                cells.append(str(v).replace("|", "\\|").replace("\n", " ")[:160])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def headline(metrics: pl.DataFrame) -> dict:
    """Overall loss/perplexity per model and split, as a flat dict."""
    out = {}
    for r in metrics.filter(pl.col("facet") == "overall").iter_rows(named=True):
        out[f"{r['split']}_loss_{r['model']}"] = r["loss"]
        out[f"{r['split']}_ppl_{r['model']}"] = r["perplexity"]
    return out


def render_report(metrics: pl.DataFrame, exact: pl.DataFrame, samples: pl.DataFrame, training: dict, base_model: str) -> str:
    overall = metrics.filter(pl.col("facet") == "overall").pivot(on="model", index="split", values=["loss", "perplexity"])
    lines = [
        "# Evaluation report", "",
        f"Base model: **{base_model}**; fine-tuned for {training['max_steps']} steps, best validation loss at step "
        f"{training['best_step']} ({training['best_val_loss']:.4f} on the training-time validation subset).", "",
        "## Loss and perplexity (response tokens only)", "", _md_table(overall), "",
    ]
    if not exact.is_empty():
        acc = exact.group_by("model", "split").agg(pl.col("correct").mean().alias("exact_match"), pl.len().alias("n")).sort("split", "model")
        by_kind = exact.group_by("model", "task_kind").agg(pl.col("correct").mean().alias("exact_match"), pl.len().alias("n")).sort("task_kind", "model")
        lines += ["## Exact match on verifiable generated tasks", "", _md_table(acc, 3), "", _md_table(by_kind, 3), ""]
    for facet in ("domain", "task_type", "difficulty"):
        t = (metrics.filter(pl.col("facet") == facet).pivot(on="model", index=["split", "value", "n_samples"], values="loss")
             .sort("split", "value"))
        lines += [f"## Loss per {facet}", "", _md_table(t), ""]
    if not samples.is_empty():
        lines += ["## Sample generations (test split)", "", _md_table(samples, 2), ""]
    return "\n".join(lines)
