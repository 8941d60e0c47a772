"""Evaluation: loss and perplexity per split and stratum, exact match on verifiable tasks, chrF on open-ended
ones, sample generations and the training loss curve, rendered as a Markdown report and a self-contained HTML page."""
from __future__ import annotations

import base64
import html
import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..train.tokenize_pack import collate, encode_prompt
from ..text import markdown_table
from ..train.train import token_nll
from ..ingest.verifiable_tasks import exact_match

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
        prompts = [{"input_ids": encode_prompt(tokenizer, c)} for c in conversations[i:i + batch_size]]
        enc = tokenizer.pad(prompts, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        outs += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [o.strip() for o in outs]


def prompt_and_reference(messages: list[dict]) -> tuple[list[dict], str]:
    """The conversation before its last assistant turn (what the model answers) and that turn's text.

    The answer must not be in the prompt: with it there, a model scores by copying it back."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
    return messages[:last], messages[last]["content"] if last < len(messages) else ""


def prompts_and_references(conversations: list[list[dict]]) -> tuple[list[list[dict]], list[str]]:
    pairs = [prompt_and_reference(list(c)) for c in conversations]
    return [p for p, _ in pairs], [r for _, r in pairs]


def score_exact_match(predictions: list[str], references: list[str], task_kinds: list[str]) -> list[bool]:
    # Upper-casing is the one task whose answer is all about letter case, so it is scored case-sensitively.
    return [exact_match(p, r, case_sensitive=kind == "string_manipulation" and r.isupper())
            for p, r, kind in zip(predictions, references, task_kinds)]


@dataclass(frozen=True)
class GenerationEval:
    max_exact_match_items: int = 48
    exact_match_max_new_tokens: int = 24
    max_chrf_items: int = 24
    chrf_max_new_tokens: int = 48
    sample_generations: int = 3
    sample_max_new_tokens: int = 64
    batch_size: int = 24


def evaluate_generations(models: dict, tokenizer, eval_rows: pl.DataFrame, device, cfg: GenerationEval,
                         log=lambda _: None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Greedy generations of every model on held-out originals, as (exact_match, open_ended, samples).

    Verifiable tasks are scored by exact match against their computed answer, open-ended ones keep their
    generation and reference for chrF, and a few test prompts are shown side by side.
    """
    verifiable = eval_rows.filter(pl.col("reference_answer").is_not_null()).head(cfg.max_exact_match_items)
    open_ended = eval_rows.filter(pl.col("reference_answer").is_null())
    # Sorting by pair_id (a content hash) draws a fixed pseudo-random subset instead of the first source's rows;
    # ranking within each split and taking the lowest ranks shares the cap evenly between the splits.
    scored = (open_ended.sort("pair_id").with_columns(pl.int_range(pl.len()).over("split").alias("rank"))
              .sort("rank", "split").head(cfg.max_chrf_items))
    shown = open_ended.filter(pl.col("split") == "test").head(cfg.sample_generations)
    exact_prompts, _ = prompts_and_references(verifiable["messages"].to_list())
    chrf_prompts, chrf_refs = prompts_and_references(scored["messages"].to_list())
    sample_prompts, sample_refs = prompts_and_references(shown["messages"].to_list())
    exact_frames, chrf_frames = [], []
    samples = shown.select(pl.col("instruction").str.slice(0, 120).alias("prompt")).with_columns(
        pl.Series("reference", sample_refs, pl.Utf8))
    for name, model in models.items():
        t0 = time.perf_counter()
        preds = generate(model, tokenizer, exact_prompts, cfg.exact_match_max_new_tokens, device, cfg.batch_size)
        exact_frames.append(verifiable.select("pair_id", "split", pl.col("task_hint").alias("task_kind"), "reference_answer").with_columns(
            pl.lit(name).alias("model"), pl.Series("prediction", preds, pl.Utf8),
            pl.Series("correct", score_exact_match(preds, verifiable["reference_answer"].to_list(),
                                                   verifiable["task_hint"].to_list()), pl.Boolean)))
        outs = generate(model, tokenizer, chrf_prompts, cfg.chrf_max_new_tokens, device, cfg.batch_size)
        chrf_frames.append(scored.select("pair_id", "split").with_columns(
            pl.lit(name).alias("model"), pl.Series("prediction", outs, pl.Utf8), pl.Series("reference", chrf_refs, pl.Utf8)))
        outs = generate(model, tokenizer, sample_prompts, cfg.sample_max_new_tokens, device, cfg.batch_size)
        samples = samples.with_columns(pl.Series(name, outs, pl.Utf8))
        log(f"{name}: {verifiable.height} exact-match, {scored.height} open-ended and {shown.height} sample "
            f"generations in {time.perf_counter() - t0:.1f}s")
    return pl.concat(exact_frames), pl.concat(chrf_frames), samples


# ---------------------------------------------------------------------------------------------------- chrF
def chrf_statistics(hypothesis: str, reference: str, char_order: int = 6) -> list[tuple[int, int, int]]:
    """(matching, hypothesis, reference) character n-gram counts for n = 1..char_order.

    Whitespace is removed first, as in chrF, so the score does not depend on how a language separates words:
    English and unsegmented Chinese are scored alike."""
    hyp, ref = "".join(hypothesis.split()), "".join(reference.split())
    stats = []
    for n in range(1, char_order + 1):
        h = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
        stats.append((sum((h & r).values()), sum(h.values()), sum(r.values())))
    return stats


def _chrf_from_statistics(stats: list[tuple[int, int, int]], beta: float) -> float:
    # An order where one side has no n-gram (a text shorter than n) is left out of the average, so a two-character
    # answer is not marked down for 6-grams it cannot have. Two empty texts are identical: 100.
    b2 = beta * beta
    scores = []
    for match, n_hyp, n_ref in stats:
        if n_hyp and n_ref:
            p, r = match / n_hyp, match / n_ref
            scores.append((1 + b2) * p * r / (b2 * p + r) if match else 0.0)
    if not scores:
        return 100.0 if stats[0][1] == stats[0][2] == 0 else 0.0
    return 100.0 * sum(scores) / len(scores)


def chrf(hypothesis: str, reference: str, char_order: int = 6, beta: float = 2) -> float:
    """Character n-gram F-score (Popović 2015), 0..100; beta = 2 weighs recall twice as much as precision."""
    return _chrf_from_statistics(chrf_statistics(hypothesis, reference, char_order), beta)


def corpus_chrf(hyps: list[str], refs: list[str], char_order: int = 6, beta: float = 2) -> float:
    """chrF of a corpus from n-gram counts summed over all pairs, then F per order averaged over orders.

    Pooling the counts (as sacreBLEU's corpus chrF does) weighs each pair by its length; a mean of per-pair
    scores would let a two-character answer count as much as a paragraph."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        raise ValueError("corpus_chrf of an empty corpus")
    per_pair = [chrf_statistics(h, r, char_order) for h, r in zip(hyps, refs)]
    pooled = [tuple(map(sum, zip(*orders))) for orders in zip(*per_pair)]
    return _chrf_from_statistics(pooled, beta)


def chrf_table(generations: pl.DataFrame) -> pl.DataFrame:
    """generations: model, split, prediction, reference -> corpus chrF per model and split, and over both ("all")."""
    rows = []
    for split in [*sorted(set(generations["split"])), "all"]:
        part = generations if split == "all" else generations.filter(pl.col("split") == split)
        for model in sorted(set(part["model"])):
            g = part.filter(pl.col("model") == model)
            rows.append({"model": model, "split": split, "n": g.height,
                         "chrf": corpus_chrf(g["prediction"].to_list(), g["reference"].to_list())})
    return pl.DataFrame(rows, schema={"model": pl.Utf8, "split": pl.Utf8, "n": pl.Int64, "chrf": pl.Float64})


# ------------------------------------------------------------------------------------- checkpoint and data tie
# What a checkpoint's lineage records about its data, and the name each piece goes by in a message.
_LINEAGE_FIELDS = {"shards_version": "tokenized shard version", "stratified_splits": "stratified_splits data version",
                   "tokenized_shards": "tokenized_shards data version"}


def trained_on(lineage: dict) -> dict:
    """The data versions a checkpoint was trained on, from its lineage.json, keyed as in _LINEAGE_FIELDS."""
    upstream = lineage.get("upstream_data_versions", {})
    return {"shards_version": lineage.get("shards_version"), "stratified_splits": upstream.get("stratified_splits"),
            "tokenized_shards": upstream.get("tokenized_shards")}


def checkpoint_mismatches(trained: dict, published: dict) -> list[str]:
    """One line per data version that differs between what the checkpoint was trained on and what is published
    now (both keyed as in _LINEAGE_FIELDS); empty when the checkpoint belongs to the published data."""
    return [f"{label}: trained on {trained.get(key)}, published {published[key]}"
            for key, label in _LINEAGE_FIELDS.items() if trained.get(key) != published[key]]


def eval_items_seen_in_training(eval_pair_ids: pl.Series, training_pair_ids: pl.Series) -> int:
    """How many evaluation items the checkpoint was trained on (pair ids hash the content, so they survive a re-split)."""
    return int(eval_pair_ids.unique().is_in(training_pair_ids.implode()).sum())


def stale_checkpoint_message(mismatches: list[str], seen: int | None, n_eval: int) -> str:
    """Why a checkpoint does not belong to the published data, and what that does to the evaluation."""
    leaked = ("how many evaluation items it trained on is unknown (its training_pairs.parquet is missing)"
              if seen is None else f"{seen} of the {n_eval} evaluation items were in its training split")
    return f"the checkpoint was not trained on the published data ({'; '.join(mismatches)}); {leaked}"


# ------------------------------------------------------------------------------------------------ loss curve
def plot_loss_curve(history: pl.DataFrame, path) -> Path:
    """Training loss per step and validation loss where it was measured, as a small PNG."""
    # The object API with an explicit Agg canvas: no pyplot state, no display needed, safe in worker processes.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 3.5), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    train = history.filter(pl.col("train_loss").is_not_null())
    val = history.filter(pl.col("val_loss").is_not_null())
    ax.plot(train["step"].to_list(), train["train_loss"].to_list(), label="train loss", linewidth=1.2)
    ax.plot(val["step"].to_list(), val["val_loss"].to_list(), "o--", label="validation loss", markersize=5)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss (nats per response token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


# ------------------------------------------------------------------------------------------------ rendering
def headline(metrics: pl.DataFrame) -> dict:
    """Overall loss/perplexity per model and split, as a flat dict."""
    out = {}
    for r in metrics.filter(pl.col("facet") == "overall").iter_rows(named=True):
        out[f"{r['split']}_loss_{r['model']}"] = r["loss"]
        out[f"{r['split']}_ppl_{r['model']}"] = r["perplexity"]
    return out


def render_report(metrics: pl.DataFrame, exact: pl.DataFrame, chrf_scores: pl.DataFrame, samples: pl.DataFrame,
                  training: dict, base_model: str, loss_curve: str | None = None, warning: str | None = None,
                  base_model_note: str | None = None) -> str:
    """The report as Markdown; loss_curve is the image reference to show (resolved by inline_images); a warning
    (a stale checkpoint evaluated on purpose) heads the report; base_model_note says what the base model is
    (quantization, family, chat template)."""
    overall = metrics.filter(pl.col("facet") == "overall").pivot(on="model", index="split", values=["loss", "perplexity"])
    lines = ["# Evaluation report", ""]
    if warning:
        lines += ["## WARNING: stale checkpoint", "", f"**{warning}**", ""]
    lines += [
        f"Base model: **{base_model}**" + (f": {base_model_note}" if base_model_note else "") + ".", "",
        f"Fine-tuned for {training['max_steps']} steps, best validation loss at step "
        f"{training['best_step']} ({training['best_val_loss']:.4f} on the training-time validation subset).", "",
        "## Loss and perplexity (response tokens only)", "", markdown_table(overall, 160, 4), "",
    ]
    if not exact.is_empty():
        acc = exact.group_by("model", "split").agg(pl.col("correct").mean().alias("exact_match"), pl.len().alias("n")).sort("split", "model")
        by_kind = exact.group_by("model", "task_kind").agg(pl.col("correct").mean().alias("exact_match"), pl.len().alias("n")).sort("task_kind", "model")
        lines += ["## Exact match on verifiable generated tasks", "", markdown_table(acc, 160, 3), "", markdown_table(by_kind, 160, 3), ""]
    if not chrf_scores.is_empty():
        t = chrf_scores.pivot(on="model", index=["split", "n"], values="chrf")
        lines += ["## chrF on open-ended tasks", "",
                  "Character 6-gram F-score (beta 2, whitespace removed), 0..100, from n-gram counts pooled over each "
                  "split's generations against the reference answers.", "", markdown_table(t, 160, 2), ""]
    if loss_curve:
        lines += ["## Training loss curve", "", f"![loss curve]({loss_curve})", ""]
    for facet in ("domain", "task_type", "difficulty"):
        t = (metrics.filter(pl.col("facet") == facet).pivot(on="model", index=["split", "value", "n_samples"], values="loss")
             .sort("split", "value"))
        lines += [f"## Loss per {facet}", "", markdown_table(t, 160, 4), ""]
    if not samples.is_empty():
        lines += ["## Sample generations (test split)", "", markdown_table(samples, 160, 2), ""]
    return "\n".join(lines)


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CELL_BOUNDARY = re.compile(r"(?<!\\)\|")
_SEPARATOR_CELL = re.compile(r":?-+:?")
_CSS = ("body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}"
        "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
        "th{background:#f2f2f2}td{font-variant-numeric:tabular-nums}img{max-width:100%}")


def png_data_uri(path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def inline_images(markdown_text: str, images: dict[str, str]) -> str:
    """Markdown with each image reference found in images (reference -> PNG path) replaced by a data URI,
    so the page needs no file beside it (the Dagster UI renders such images in Markdown metadata)."""
    uris = {ref: png_data_uri(p) for ref, p in images.items()}
    return _IMAGE.sub(lambda m: f"![{m[1]}]({uris.get(m[2], m[2])})", markdown_text)


def _inline(text: str) -> str:
    # Entities in the Markdown (markdown_table escapes the data's markup) stand for their characters, escaped once.
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(html.unescape(text)))


def _html_table(rows: list[str]) -> str:
    # Cells are split on unescaped pipes; _md_table writes a pipe inside a cell as "\|".
    cells = [[c.strip().replace("\\|", "|") for c in _CELL_BOUNDARY.split(r.removeprefix("|"))] for r in rows]
    cells = [c[:-1] if c and not c[-1] else c for c in cells]  # the empty text after the closing pipe
    header = len(cells) > 1 and all(_SEPARATOR_CELL.fullmatch(c) for c in cells[1])
    out = ["<table>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells[0]) + "</tr></thead>")
        cells = cells[2:]
    out += ["<tbody>", *("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in cells), "</tbody></table>"]
    return "\n".join(out)


def _line_kind(line: str) -> str:
    if not line:
        return "blank"
    if line.startswith("|"):
        return "table"
    if _HEADING.fullmatch(line):
        return "heading"
    return "image" if _IMAGE.fullmatch(line) else "text"


def render_html(markdown_text: str, title: str, images: dict[str, str]) -> str:
    """A self-contained HTML page from the Markdown this module writes: headings, paragraphs, **bold**, pipe
    tables and images on their own line; all text is escaped and images in `images` are embedded."""
    body = []
    lines = (line.strip() for line in inline_images(markdown_text, images).splitlines())
    for kind, group in itertools.groupby(lines, key=_line_kind):
        group = list(group)
        if kind == "table":
            body.append(_html_table(group))
        elif kind == "text":
            body.append(f"<p>{_inline(' '.join(group))}</p>")
        elif kind == "heading":
            for line in group:
                hashes, text = _HEADING.fullmatch(line).groups()
                body.append(f"<h{len(hashes)}>{_inline(text)}</h{len(hashes)}>")
        elif kind == "image":
            for line in group:
                alt, src = _IMAGE.fullmatch(line).groups()
                body.append(f'<figure><img alt="{html.escape(alt)}" src="{html.escape(src)}"></figure>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
