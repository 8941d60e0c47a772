"""Cleaning: normalize text, fold 'no input' spellings, find PII (redact or drop), identify the language,
quality filters (language-aware length, repetition, special characters, echo, refusal, template slots,
truncation, blocklist), exact dedup on normalized text, and near-duplicate clustering by MinHash LSH.

Every removal becomes a row in the rejected table with a reason code; kept + rejected = input. The per-row
operators run over chunks, in worker processes when the input is large, and write their kept rows to part
files; dedup runs once over keys and MinHash signatures of all of them.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from . import language
from .near_dedup import NearDupRules, clusters_from_signatures, minhash_signatures
from .near_dedup import validate as validate_near_dup
from .pii import ANY_HINT_PATTERN, find_pii, redact
from .quality import DEFAULT_RULES, QualityRules, may_fire, quality_issue
from ..ingest.raw_sources import sha
from ..storage import run_sql
from ..text import compose_user, no_input_mask, normalize_series, render_plain
from ..ingest.unify import MESSAGE_DTYPE

REJECT_SCHEMA = {
    "pair_id": pl.Utf8, "raw_id": pl.Utf8, "source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
    "kept_pair_id": pl.Utf8,
}
PII_ACTIONS = ("redact", "drop", "off")
NEAR_DUP_ACTIONS = ("drop", "keep", "off")
OPERATORS = ("normalize", "pii", "language", "quality", "exact_dedup", "near_dedup")


@dataclass(frozen=True)
class CleanRules:
    max_prompt_chars: int = 8000
    quality: QualityRules = DEFAULT_RULES
    # What to do with a pair that holds personal data or secrets: 'redact' with typed placeholders, 'drop', or 'off'.
    pii_action: str = "redact"
    blocklist_terms: tuple[str, ...] = ()
    # Languages kept (fastText codes); empty keeps all. 'und' (no letters to judge by) is always kept.
    languages: tuple[str, ...] = ("en", "zh")
    min_lang_confidence: float = 0.5
    near_dup: NearDupRules = field(default_factory=NearDupRules)
    # 'drop' keeps the best pair of each near-duplicate cluster; 'keep' only tags clusters (cluster_id), which
    # later stages keep inside one split; 'off' skips the clustering.
    near_dup_action: str = "drop"
    # Worker processes for the per-row operators; 0 means one per CPU. Small inputs stay in-process.
    workers: int = 0
    chunk_rows: int = 20_000


def validate_rules(rules: CleanRules) -> None:
    if rules.pii_action not in PII_ACTIONS:
        raise ValueError(f"pii_action: {rules.pii_action!r} is not one of {PII_ACTIONS}")
    if rules.near_dup_action not in NEAR_DUP_ACTIONS:
        raise ValueError(f"near_dup_action: {rules.near_dup_action!r} is not one of {NEAR_DUP_ACTIONS}")
    if not 0.0 <= rules.min_lang_confidence <= 1.0:
        raise ValueError(f"min_lang_confidence: {rules.min_lang_confidence} is not within [0, 1]")
    if rules.chunk_rows < 1 or rules.workers < 0:
        raise ValueError("chunk_rows must be >= 1 and workers >= 0")
    validate_near_dup(rules.near_dup)


_TEXT_FIELDS = ("instruction", "input", "response", "system")


class _Timer:
    def __init__(self) -> None:
        self.seconds = dict.fromkeys(OPERATORS, 0.0)

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - t0


def _find_and_redact(texts: pl.Series, redact_them: bool) -> tuple[pl.Series, list[set[str]]]:
    """(texts, PII kinds found per text), with matches replaced by typed placeholders when `redact_them`.

    polars' regex engine flags the cells that hold any detector's hint; only those go through the validated
    Python detectors.
    """
    kinds: list[set[str]] = [set() for _ in range(texts.len())]
    flagged = texts.str.contains(ANY_HINT_PATTERN).arg_true().to_list()
    fixed_at, fixed = [], []
    for i, text in zip(flagged, texts.gather(flagged).to_list()):
        matches = find_pii(text)
        if matches:
            kinds[i] = {m.kind for m in matches}
            fixed_at.append(i)
            fixed.append(redact(text, matches))
    if redact_them and fixed_at:
        texts = texts.scatter(fixed_at, fixed)
    return texts, kinds


def _normalize_and_redact(chunk: pl.DataFrame, pii_action: str, timer: _Timer) -> tuple[pl.DataFrame, list[str | None]]:
    """Normalized parts and messages (single-turn messages rebuilt from their parts, so that a folded 'no
    input' or a redaction reaches the prompt too), plus the PII kinds found per row."""
    n = chunk.height
    with timer("normalize"):
        parts = {f: normalize_series(chunk[f]) for f in _TEXT_FIELDS}
        parts["input"] = parts["input"].zip_with(~no_input_mask(parts["input"]), pl.Series([""] * n))
        turns = (chunk.select(pl.int_range(n, dtype=pl.UInt32).alias("_row"), "n_turns", "messages")
                 .explode("messages").unnest("messages"))
        turns = turns.with_columns(content=normalize_series(turns["content"]))
    row_kinds: list[set[str]] = [set() for _ in range(n)]
    with timer("pii"):
        if pii_action != "off":
            for f in _TEXT_FIELDS:
                parts[f], kinds = _find_and_redact(parts[f], pii_action == "redact")
                for i, k in enumerate(kinds):
                    row_kinds[i] |= k
            # A single-turn pair's messages are rebuilt from its parts; only multi-turn messages need a scan.
            multi = turns["n_turns"] != 1
            contents, kinds = _find_and_redact(turns["content"].filter(multi), pii_action == "redact")
            turns = turns.with_columns(content=turns["content"].scatter(multi.arg_true(), contents))
            for row, k in zip(turns["_row"].filter(multi).to_list(), kinds):
                row_kinds[row] |= k
    with timer("normalize"):
        users = [compose_user(i, x) for i, x in zip(parts["instruction"].to_list(), parts["input"].to_list())]
        single = pl.DataFrame({"_row": pl.int_range(n, dtype=pl.UInt32, eager=True), "_system": parts["system"],
                               "_user": pl.Series(users, dtype=pl.Utf8), "_response": parts["response"]})
        is_single = pl.col("n_turns") == 1
        last = pl.int_range(pl.len()).over("_row") == pl.len().over("_row") - 1
        turns = turns.join(single, on="_row", how="left").with_columns(
            content=pl.when(is_single & (pl.col("role") == "system")).then("_system")
            .when(is_single & (pl.col("role") == "user")).then("_user")
            .when(is_single & last).then("_response")
            .otherwise("content"))
        messages = turns.group_by("_row", maintain_order=True).agg(
            pl.struct("role", "content").alias("messages"), prompt_chars=pl.col("content").filter(
                pl.col("role") != "assistant").str.len_chars().sum())
        texts = [render_plain(i, x, r) for i, x, r in zip(
            parts["instruction"].to_list(), parts["input"].to_list(), parts["response"].to_list())]
        out = chunk.with_columns(**parts, messages=messages["messages"].cast(MESSAGE_DTYPE),
                                 text=pl.Series(texts, dtype=pl.Utf8), _prompt_chars=messages["prompt_chars"])
    return out, [",".join(sorted(k)) or None for k in row_kinds]


def _clean_chunk(chunk: pl.DataFrame, rules: CleanRules) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """Per-row operators over one chunk: (kept rows, rejected rows, seconds per operator)."""
    timer = _Timer()
    df, pii_kinds = _normalize_and_redact(chunk, rules.pii_action, timer)
    bad: list[tuple[str, str] | None] = [None] * df.height
    if rules.pii_action == "drop":
        bad = [("pii", f"contains {k.replace(',', ', ')}") if k else None for k in pii_kinds]
    fields = list(zip(df["instruction"].to_list(), df["input"].to_list(), df["response"].to_list()))
    for i, ((instruction, _, response), prompt_chars) in enumerate(zip(fields, df["_prompt_chars"].to_list())):
        if bad[i]:
            continue
        if not response:
            bad[i] = ("empty_response", "response is empty after normalization")
        elif not instruction:
            bad[i] = ("empty_instruction", "instruction is empty after normalization")
        elif prompt_chars > rules.max_prompt_chars:
            bad[i] = ("prompt_too_long", f"{prompt_chars} > {rules.max_prompt_chars} characters")
    langs: list[str | None] = df["lang"].to_list()
    confidence: list[float | None] = [None] * df.height
    with timer("language"):
        todo = [i for i, b in enumerate(bad) if b is None]
        verdicts = language.identify([language.language_window(fields[i][0], fields[i][2]) for i in todo],
                                     rules.min_lang_confidence)
        allowed = set(rules.languages) | {"und"}
        for i, (lang, conf) in zip(todo, verdicts):
            langs[i], confidence[i] = lang, conf
            if rules.languages and lang not in allowed:
                bad[i] = ("language_not_allowed", f"{lang} (confidence {conf:.2f}) not in {sorted(rules.languages)}")
    with timer("quality"):
        masks = may_fire(df["instruction"], df["input"], df["response"], rules.quality)
        names, rows_may = list(masks), list(zip(*(m.to_list() for m in masks.values()))) or [()] * df.height
        for i, (instruction, input_text, response) in enumerate(fields):
            if bad[i] is None:
                cannot = [name for name, may in zip(names, rows_may[i]) if not may]
                bad[i] = quality_issue(instruction, input_text, response, langs[i], rules.quality,
                                       rules.blocklist_terms, cannot)
    df = df.drop("_prompt_chars").with_columns(
        lang=pl.Series(langs, dtype=pl.Utf8), lang_confidence=pl.Series(confidence, dtype=pl.Float64),
        pii_kinds=pl.Series(pii_kinds, dtype=pl.Utf8),
        _reason=pl.Series([b[0] if b else None for b in bad], dtype=pl.Utf8),
        _detail=pl.Series([b[1] if b else None for b in bad], dtype=pl.Utf8))
    rejected = df.filter(pl.col("_reason").is_not_null()).select(
        "pair_id", "raw_id", "source", pl.col("_reason").alias("reason"), pl.col("_detail").alias("detail"),
        pl.lit(None, pl.Utf8).alias("kept_pair_id"))
    kept = df.filter(pl.col("_reason").is_null()).drop("_reason", "_detail")
    conversation = kept.select(pl.col("messages").list.eval(
        pl.concat_str(pl.element().struct.field("role"), pl.lit(":"), pl.element().struct.field("content"))
    ).list.join("\x1f")).to_series().to_list()
    kept = kept.with_columns(norm_hash=pl.Series([sha(c, 32) for c in conversation], dtype=pl.Utf8))
    return kept, rejected.cast(REJECT_SCHEMA), timer.seconds


_SOURCE_ORDER = ["source", "file", "line", "locator"]


def _contents(role_filter: pl.Expr) -> pl.Expr:
    return pl.col("messages").list.eval(
        pl.element().filter(role_filter).struct.field("content")).list.join("\n")


@dataclass
class _Part:
    """What one chunk's worker hands back: its kept rows sit in a Parquet file, the rest comes here."""
    path: Path
    rejected: pl.DataFrame
    keys: pl.DataFrame  # dedup keys of the kept rows, in file order
    prompt_sig: np.ndarray | None
    response_sig: np.ndarray | None
    seconds: dict[str, float]


def _clean_row_group(src: Path, group: int, out_dir: Path, rules: CleanRules) -> list[_Part]:
    """Worker body: one Parquet row group of the input, in chunks of chunk_rows, each written to its own file."""
    file = pq.ParquetFile(src)
    # A file of no rows has no row group; its schema still shapes the (empty) output.
    frame = pl.from_arrow(file.read_row_group(group)) if file.num_row_groups else pl.read_parquet(src)
    parts = []
    for i, start in enumerate(range(0, max(frame.height, 1), rules.chunk_rows)):
        kept, rejected, seconds = _clean_chunk(frame.slice(start, rules.chunk_rows), rules)
        t = time.perf_counter()
        prompt_sig = response_sig = None
        if rules.near_dup_action != "off":
            # Signatures here, where the texts are at hand: the parent then clusters without holding any text.
            role = pl.element().struct.field("role")
            texts = kept.select(prompt=_contents(role != "assistant"), response=_contents(role == "assistant"))
            prompt_sig = minhash_signatures(texts["prompt"].to_list(), rules.near_dup)
            response_sig = minhash_signatures(texts["response"].to_list(), rules.near_dup)
        seconds["near_dedup"] += time.perf_counter() - t
        path = out_dir / f"part-{group:05d}-{i:04d}.parquet"
        kept.write_parquet(path)
        keys = kept.select("raw_id", "pair_id", "norm_hash", *_SOURCE_ORDER,
                           pl.col("response").str.len_chars().alias("resp_chars"))
        parts.append(_Part(path, rejected, keys, prompt_sig, response_sig, seconds))
    return parts


def _run_workers(src: Path, out_dir: Path, rules: CleanRules) -> list[_Part]:
    meta = pq.ParquetFile(src).metadata
    groups = list(range(meta.num_row_groups)) or [0]
    workers = min(rules.workers or os.cpu_count() or 1, len(groups))
    if workers > 1 and meta.num_rows > rules.chunk_rows:
        # spawn, not fork: polars' thread pool does not survive a fork.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            nested = list(pool.map(_clean_row_group, repeat(src), groups, repeat(out_dir), repeat(rules)))
    else:
        nested = [_clean_row_group(src, g, out_dir, rules) for g in groups]
    return [part for parts in nested for part in parts]


def _stack_in_order(parts: list[_Part], attr: str, order: np.ndarray, total: int) -> np.ndarray:
    """The parts' signatures stacked in `order` (indices into all kept rows), freeing each part's array once
    copied, so that at most one extra copy of the signatures exists at a time."""
    slot = np.full(total, -1, dtype=np.int64)
    slot[order] = np.arange(order.size)
    out = None
    offset = 0
    for part in parts:
        sig = getattr(part, attr)
        if out is None:
            out = np.empty((order.size, sig.shape[1]), dtype=sig.dtype)
        dest = slot[offset:offset + sig.shape[0]]
        take = dest >= 0
        out[dest[take]] = sig[take]
        offset += sig.shape[0]
        setattr(part, attr, None)
    return out


def _near_duplicates(keys: pl.DataFrame, parts: list[_Part], rules: CleanRules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(raw_id -> cluster_id of the rows kept, near-duplicate rejects), over the rows of `keys` (exact
    duplicates already out; `_i` indexes all kept rows of the parts).

    Two pairs are near-duplicates when their prompts are and their responses are too. Similar prompts alone
    are not enough: reading-comprehension sets ask many questions about one long passage, so their prompts
    differ by a short question while each answer is different and worth keeping. The best pair of a cluster
    has the longest response (the most complete answer), ties broken by source order; it names the cluster.
    """
    ordered = keys.sort(["resp_chars", *_SOURCE_ORDER], descending=[True, False, False, False, False],
                        nulls_last=True)
    order = ordered["_i"].to_numpy()
    total = sum(p.keys.height for p in parts)
    prompt_cluster, prompt_sim = clusters_from_signatures(
        _stack_in_order(parts, "prompt_sig", order, total), rules.near_dup)
    response_cluster, response_sim = clusters_from_signatures(
        _stack_in_order(parts, "response_sig", order, total), rules.near_dup)
    # Rows are in preference order, so the first row of each (prompt cluster, response cluster) is its best.
    ordered = ordered.with_columns(
        _pc=pl.Series(prompt_cluster), _rc=pl.Series(response_cluster),
        _ps=pl.Series(prompt_sim).round(2), _rs=pl.Series(response_sim).round(2))
    ordered = ordered.with_columns(cluster_id=pl.col("pair_id").first().over("_pc", "_rc"))
    is_dup = pl.col("cluster_id") != pl.col("pair_id")
    if rules.near_dup_action == "keep":
        return ordered.select("raw_id", "cluster_id"), pl.DataFrame(schema=REJECT_SCHEMA)
    rejected = ordered.filter(is_dup).select(
        "pair_id", "raw_id", "source", pl.lit("near_duplicate").alias("reason"),
        pl.format("near-duplicate of pair {}: prompt ~{} and response ~{} Jaccard (MinHash estimates, >= {})",
                  "cluster_id", "_ps", "_rs", pl.lit(rules.near_dup.threshold)).alias("detail"),
        pl.col("cluster_id").alias("kept_pair_id"))
    return ordered.filter(~is_dup).select("raw_id", "cluster_id"), rejected


def clean_parquet(src: str | os.PathLike, out: str | os.PathLike, rules: CleanRules = CleanRules(),
                  timings: dict[str, float] | None = None) -> pl.DataFrame:
    """Clean the unified pairs in Parquet file `src` into Parquet file `out`; returns the rejected rows.

    Streams: worker processes read row groups of `src` and write their kept rows to part files; only dedup
    keys and MinHash signatures come back to this process, so memory stays bounded by a chunk's rows plus
    the signatures. When `timings` is a dict it receives the seconds per operator (summed over worker
    processes for the per-row operators and signatures) and the wall-clock total under 'total'.
    """
    validate_rules(rules)
    src, out = Path(src), Path(out)
    t0 = time.perf_counter()
    seconds = dict.fromkeys(OPERATORS, 0.0)
    # The part files sit beside the output, named after it: a writer killed mid-way leaves them where the
    # store's sweep of dead writers' temp files finds them.
    parts_dir = out.with_name(out.name + ".parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    try:
        parts = _run_workers(src, parts_dir, rules)
        for part in parts:
            for name, value in part.seconds.items():
                seconds[name] += value
        t = time.perf_counter()
        keys = pl.concat([p.keys for p in parts]).with_row_index("_i")
        # Exact duplicates (same normalized conversation) are resolved in SQL on the key columns only: the
        # first by source order wins.
        ranked = run_sql("exact_dedup", pairs=keys)
        dups = ranked.filter(pl.col("dup_rank") > 1).select(
            "pair_id", "raw_id", "source",
            pl.lit("exact_duplicate").alias("reason"),
            pl.format("same normalized text as pair {} ({})", "kept_pair_id", "kept_source").alias("detail"),
            "kept_pair_id",
        )
        firsts = ranked.filter(pl.col("dup_rank") == 1).drop("dup_rank", "kept_pair_id", "kept_source")
        seconds["exact_dedup"] += time.perf_counter() - t
        t = time.perf_counter()
        if rules.near_dup_action == "off":
            clusters, near = firsts.select("raw_id", cluster_id=pl.col("pair_id")), pl.DataFrame(schema=REJECT_SCHEMA)
        else:
            clusters, near = _near_duplicates(firsts, parts, rules)
            # An exact duplicate points at the pair actually kept, also when its first copy lost to a
            # near-duplicate.
            moved = near.select(pl.col("pair_id").alias("kept_pair_id"), pl.col("kept_pair_id").alias("_final"))
            dups = dups.join(moved, on="kept_pair_id", how="left").with_columns(
                pl.coalesce("_final", "kept_pair_id").alias("kept_pair_id")).drop("_final")
        seconds["near_dedup"] += time.perf_counter() - t
        t = time.perf_counter()
        writer = None
        try:
            for part in parts:
                kept = pl.read_parquet(part.path).join(clusters, on="raw_id", how="inner", maintain_order="left")
                table = kept.to_arrow()
                writer = writer or pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        seconds["write"] = time.perf_counter() - t
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    rejected = pl.concat([*(p.rejected for p in parts), dups.cast(REJECT_SCHEMA), near.cast(REJECT_SCHEMA)])
    if timings is not None:
        timings.update(seconds, total=time.perf_counter() - t0)
    return rejected


def clean_pairs(unified: pl.DataFrame, rules: CleanRules = CleanRules(),
                timings: dict[str, float] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cleaned, rejected) for a frame in memory; see `clean_parquet`, which this runs through temp files."""
    with tempfile.TemporaryDirectory(prefix="clean-") as tmp:
        src, out = Path(tmp) / "unified.parquet", Path(tmp) / "cleaned.parquet"
        unified.write_parquet(src, row_group_size=rules.chunk_rows)
        rejected = clean_parquet(src, out, rules, timings)
        return pl.read_parquet(out), rejected
