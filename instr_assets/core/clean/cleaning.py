"""Cleaning, the stage: repair encodings, normalize text, fold 'no input' spellings, find PII (redact or drop),
identify the language, quality filters, content safety, decontamination against evaluation sets, exact dedup
on folded text, and near-duplicates (MinHash LSH candidates confirmed on the texts). docs/cleaning.md lists
each step with its reason codes and config.

Every removal becomes a row in the rejected table with a reason code; kept + rejected = input. The per-row
operators run over chunks, in worker processes when the input is large, and write their kept rows to part
files; dedup (dedup.py) runs once over the keys and MinHash signatures of all of them.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from . import decontaminate, ending_model, language, safety
from .dedup import SOURCE_ORDER, dup_keys, kept_because, near_dup_features, near_duplicates, preference_keys
from .dup_verify import VerifyRules
from .dup_verify import validate as validate_dup_verify
from .near_dedup import NearDupRules
from .near_dedup import validate as validate_near_dup
from .encoding import repair_and_normalize, repair_series
from .pii import DEFAULT_PII_RULES, PiiRules, find_pii_series, redact, redact_values, validate_pii_rules
from .quality import DEFAULT_RULES, FILTERS, QualityRules, may_fire, quality_issue
from .quality import validate as validate_quality
from ..progress import Progress
from ..storage import run_sql
from ..text import no_input_mask, normalize_series, plain_columns
from ..ingest.unify import MESSAGE_DTYPE

_log = logging.getLogger(__name__)
REJECT_SCHEMA = {
    "pair_id": pl.Utf8, "raw_id": pl.Utf8, "source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
    "kept_pair_id": pl.Utf8,
}
PII_ACTIONS = ("redact", "drop", "off")
NEAR_DUP_ACTIONS = ("drop", "keep", "off")
OPERATORS = ("normalize", "pii", "language", "quality", "safety", "decontaminate", "truncation_model", "exact_dedup",
             "near_dedup")


@dataclass(frozen=True)
class CleanRules:
    max_prompt_chars: int = 8000
    quality: QualityRules = DEFAULT_RULES
    # What to do with a pair that holds personal data or secrets: 'redact' with typed placeholders, 'drop', or 'off'.
    pii_action: str = "redact"
    # Which PII kinds are looked for, which IP classes count as personal, which phone numbering plans.
    pii: PiiRules = DEFAULT_PII_RULES
    blocklist_terms: tuple[str, ...] = ()
    # Languages kept (fastText codes); empty keeps all. 'und' (no letters to judge by) is always kept.
    languages: tuple[str, ...] = ("en", "zh")
    min_lang_confidence: float = 0.5
    # MinHash LSH settings that propose near-duplicate candidates (see near_dup_verify below).
    near_dup: NearDupRules = field(default_factory=NearDupRules)
    # 'drop' keeps the best pair of each near-duplicate cluster; 'keep' only tags clusters (cluster_id), which
    # later stages keep inside one split; 'off' skips the clustering.
    near_dup_action: str = "drop"
    # Worker processes for the per-row operators; 0 means one per CPU. Small inputs stay in-process.
    workers: int = 0
    chunk_rows: int = 20_000
    # The precise check each near-duplicate candidate must pass (dup_verify.py).
    near_dup_verify: VerifyRules = field(default_factory=VerifyRules)
    # Exact-duplicate keys fold case and whitespace (line breaks included); False compares the normalized text.
    exact_dup_fold: bool = True
    # Content safety (safety.py): 'drop' rejects what a rule flags as unsafe_<category>; 'off' skips it.
    safety_action: str = "drop"
    safety_categories: tuple[str, ...] = safety.CATEGORIES
    # Evaluation sets kept out of training (decontaminate.py).
    decontamination: decontaminate.DecontaminationRules = field(default_factory=decontaminate.DecontaminationRules)
    # A language model's reading of answers the truncation rules leave open (ending_model.py).
    ending: ending_model.EndingRules = field(default_factory=ending_model.EndingRules)
    # Built by clean_parquet from `decontamination` and its input, not set by hand.
    eval_index: decontaminate.EvalIndex | None = field(default=None, compare=False, repr=False)


def validate_rules(rules: CleanRules) -> None:
    if rules.pii_action not in PII_ACTIONS:
        raise ValueError(f"pii_action: {rules.pii_action!r} is not one of {PII_ACTIONS}")
    if rules.near_dup_action not in NEAR_DUP_ACTIONS:
        raise ValueError(f"near_dup_action: {rules.near_dup_action!r} is not one of {NEAR_DUP_ACTIONS}")
    if not 0.0 <= rules.min_lang_confidence <= 1.0:
        raise ValueError(f"min_lang_confidence: {rules.min_lang_confidence} is not within [0, 1]")
    if rules.chunk_rows < 1 or rules.workers < 0:
        raise ValueError("chunk_rows must be >= 1 and workers >= 0")
    validate_pii_rules(rules.pii)
    validate_near_dup(rules.near_dup)
    validate_dup_verify(rules.near_dup_verify)
    safety.validate(rules.safety_categories, rules.safety_action)
    decontaminate.validate(rules.decontamination)
    rules.ending.validate()


_TEXT_FIELDS = ("instruction", "input", "response", "system")


class _Timer:
    def __init__(self) -> None:
        self.seconds = dict.fromkeys(OPERATORS, 0.0)

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - t0


def _find_and_redact(texts: pl.Series, redact_them: bool,
                     pii_rules: PiiRules) -> tuple[pl.Series, dict[int, dict[str, str]]]:
    """(texts, PII found as {index: {value: kind}} for the texts that hold any), with matches replaced by
    typed placeholders when `redact_them`. polars' regex engine flags the cells that hold a detector's hint;
    only those go through the validated Python detectors."""
    hits = find_pii_series(texts, pii_rules)
    found = {i: {m.text: m.kind for m in matches} for i, matches in hits.items()}
    if redact_them and hits:
        at = list(hits)
        texts = texts.scatter(at, [redact(t, hits[i]) for i, t in zip(at, texts.gather(at).to_list())])
    return texts, found


def _redact_found(texts: pl.Series, found: dict[int, dict[str, str]]) -> pl.Series:
    """`texts` with the values found[i] (those found anywhere in text i's pair) redacted wherever they recur."""
    at = sorted(found)
    if not at:
        return texts
    return texts.scatter(at, [t if t is None else redact_values(t, found[i])
                              for i, t in zip(at, texts.gather(at).to_list())])


def _normalize_and_redact(chunk: pl.DataFrame, pii_action: str, timer: _Timer,
                          pii_rules: PiiRules = DEFAULT_PII_RULES) -> tuple[pl.DataFrame, list[str | None]]:
    """Normalized parts and messages (single-turn messages rebuilt from their parts, so that a folded 'no
    input' or a redaction reaches the prompt too), plus the PII kinds found per row."""
    n = chunk.height
    with timer("normalize"):
        # Encoding repair comes first: normalizing would fold mojibake's no-break spaces and lose its bytes.
        # The fields go through as one column: each call costs a few polars queries whatever its length.
        repaired, details = repair_and_normalize(pl.concat([chunk[f].cast(pl.Utf8) for f in _TEXT_FIELDS]))
        parts = {f: repaired.slice(k * n, n).alias(f) for k, f in enumerate(_TEXT_FIELDS)}
        damage: dict[int, str] = {}
        for i, detail in sorted(details.items()):  # a row's first damaged field, as listed, is reported
            damage.setdefault(i % n, f"{_TEXT_FIELDS[i // n]}: {detail}")
        parts["input"] = parts["input"].zip_with(~no_input_mask(parts["input"]), pl.Series([""] * n))
        turns = (chunk.select(pl.int_range(n, dtype=pl.UInt32).alias("_row"), "n_turns", "messages")
                 .explode("messages").unnest("messages"))
        repaired, details = repair_series(turns["content"])
        for i, detail in details.items():
            damage.setdefault(turns["_row"][i], f"{turns['role'][i]} turn: {detail}")
        # A single-turn pair's system, user and last turns are rebuilt from its parts below: only the other
        # turns are normalized here.
        is_single = pl.col("n_turns") == 1
        # Exploding keeps a row's turns together: its last turn is where the next turn's row differs.
        last = (pl.col("_row") != pl.col("_row").shift(-1)).fill_null(True)
        rebuilt = turns.select(system=is_single & (pl.col("role") == "system"),
                               user=is_single & (pl.col("role") == "user"), response=is_single & last)
        own = (~(rebuilt["system"] | rebuilt["user"] | rebuilt["response"]).fill_null(False)).arg_true()
        turns = turns.with_columns(content=repaired.scatter(own, normalize_series(repaired.gather(own))))
    row_found: dict[int, dict[str, str]] = {}  # row -> {value: kind}, over all fields and turns
    with timer("pii"):
        if pii_action != "off":
            redact_them = pii_action == "redact"
            # A single-turn pair's messages are rebuilt from its parts; only multi-turn messages need a scan.
            # The parts and those messages go through the detectors as one column: each call costs a few dozen
            # polars queries whatever its length.
            multi = turns["n_turns"] != 1
            rows = list(range(n)) * len(_TEXT_FIELDS) + turns["_row"].filter(multi).to_list()  # each text's row
            texts, found = _find_and_redact(pl.concat([*(parts[f] for f in _TEXT_FIELDS),
                                                       turns["content"].filter(multi)]), redact_them, pii_rules)
            for i, values in found.items():  # in text order: fields first, as listed, then turns
                row_found.setdefault(rows[i], {}).update(values)
            if redact_them:
                # What was found anywhere in a pair is redacted everywhere in it, also where it recurs without
                # the context that made it detectable (a key quoted bare in the answer).
                texts = _redact_found(texts, {i: row_found[row] for i, row in enumerate(rows) if row in row_found})
            for k, f in enumerate(_TEXT_FIELDS):
                parts[f] = texts.slice(k * n, n).alias(f)
            turns = turns.with_columns(content=turns["content"].scatter(
                multi.arg_true(), texts.slice(len(_TEXT_FIELDS) * n)))
    with timer("normalize"):
        plain = pl.DataFrame(parts).select(**plain_columns(pl.col("instruction"), pl.col("input"),
                                                           pl.col("response")))
        system, user, response = rebuilt.get_columns()
        # Each turn's row indexes the parts directly: a gather, where a join would hash.
        at = turns["_row"]
        turns = turns.with_columns(_system=parts["system"].gather(at), _user=plain["user"].gather(at),
                                   _response=parts["response"].gather(at)).with_columns(
            content=pl.when(system).then("_system").when(user).then("_user").when(response).then("_response")
            .otherwise("content"))
        messages = turns.group_by("_row", maintain_order=True).agg(
            pl.struct("role", "content").alias("messages"), prompt_chars=pl.col("content").filter(
                pl.col("role") != "assistant").str.len_chars().sum())
        out = chunk.with_columns(**parts, messages=messages["messages"].cast(MESSAGE_DTYPE),
                                 text=plain["text"], _prompt_chars=messages["prompt_chars"],
                                 _encoding_damage=pl.Series([damage.get(i) for i in range(n)], dtype=pl.Utf8))
    return out, [",".join(sorted(set(row_found[i].values()))) if i in row_found else None for i in range(n)]


def _clean_chunk(chunk: pl.DataFrame, rules: CleanRules) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """Per-row operators over one chunk: (kept rows, rejected rows, seconds per operator)."""
    timer = _Timer()
    df, pii_kinds = _normalize_and_redact(chunk, rules.pii_action, timer, rules.pii)
    bad: list[tuple[str, str] | None] = [None] * df.height
    if rules.pii_action == "drop":
        bad = [("pii", f"contains {k.replace(',', ', ')}") if k else None for k in pii_kinds]
    fields = list(zip(df["instruction"].to_list(), df["input"].to_list(), df["response"].to_list()))
    for i, ((instruction, _, response), prompt_chars, damage) in enumerate(
            zip(fields, df["_prompt_chars"].to_list(), df["_encoding_damage"].to_list())):
        if bad[i]:
            continue
        if damage:
            bad[i] = ("encoding_damage", damage)
        elif not response:
            bad[i] = ("empty_response", "response is empty after normalization")
        elif not instruction:
            bad[i] = ("empty_instruction", "instruction is empty after normalization")
        elif prompt_chars > rules.max_prompt_chars:
            bad[i] = ("prompt_too_long", f"{prompt_chars} > {rules.max_prompt_chars} characters")
    langs: list[str | None] = df["lang"].to_list()
    confidence: list[float | None] = [None] * df.height
    with timer("language"):
        todo = [i for i, b in enumerate(bad) if b is None]
        verdicts = language.judge_pairs([fields[i][0] for i in todo], [fields[i][2] for i in todo],
                                        rules.languages, rules.min_lang_confidence)
        # The quality filters count and judge the response in its own language where it was told apart
        # (a translation into French is measured in words, not as Chinese characters).
        response_langs = list(langs)
        for i, (lang, conf, response_lang, issue) in zip(todo, verdicts):
            langs[i], confidence[i] = lang, conf
            response_langs[i] = lang if response_lang == "und" else response_lang
            bad[i] = issue
    with timer("quality"):
        masks = may_fire(df["instruction"], df["input"], df["response"], rules.quality,
                         pl.Series(response_langs, dtype=pl.Utf8))
        may = pl.DataFrame(masks).fill_null(False)
        names = may.columns
        # A row none of whose filters may fire is fine: with no blocklist, only filters with masks are left.
        validate_quality(rules.quality)
        unmasked = set(FILTERS) - set(names) - (set() if rules.blocklist_terms else {"blocklisted"})
        rows = (range(df.height) if unmasked
                else may.select(pl.any_horizontal(pl.all())).to_series().arg_true().to_list())
        at = [i for i in rows if bad[i] is None]
        for i, row_may in zip(at, may[at].rows()):
            cannot = [name for name, may_fire_here in zip(names, row_may) if not may_fire_here]
            instruction, input_text, response = fields[i]
            bad[i] = quality_issue(instruction, input_text, response, response_langs[i], rules.quality,
                                   rules.blocklist_terms, cannot)
    with timer("safety"):
        if rules.safety_action == "drop":
            alive = [i for i, b in enumerate(bad) if b is None]
            contents = df["messages"].gather(alive).list.eval(pl.element().struct.field("content")).list.join("\n")
            for j, issue in safety.unsafe_rows(contents, rules.safety_categories).items():
                bad[alive[j]] = issue
    with timer("decontaminate"):
        # An evaluation set's pairs are not training data, whatever else they may have been rejected for.
        evaluation_sources = set(rules.decontamination.evaluation_sources)
        for i, source in enumerate(df["source"].to_list() if evaluation_sources else ()):
            if source in evaluation_sources:
                bad[i] = ("evaluation_set", f"source {source} is an evaluation set, not training data")
        if rules.eval_index is not None:
            alive = [i for i, b in enumerate(bad) if b is None]
            users = decontaminate.user_text(df["messages"].gather(alive))
            for j, issue in decontaminate.contaminated_rows(users, rules.eval_index).items():
                bad[alive[j]] = issue
    df = df.drop("_prompt_chars", "_encoding_damage").with_columns(
        lang=pl.Series(langs, dtype=pl.Utf8), lang_confidence=pl.Series(confidence, dtype=pl.Float64),
        pii_kinds=pl.Series(pii_kinds, dtype=pl.Utf8),
        _reason=pl.Series([b[0] if b else None for b in bad], dtype=pl.Utf8),
        _detail=pl.Series([b[1] if b else None for b in bad], dtype=pl.Utf8))
    rejected = df.filter(pl.col("_reason").is_not_null()).select(
        "pair_id", "raw_id", "source", pl.col("_reason").alias("reason"), pl.col("_detail").alias("detail"),
        pl.lit(None, pl.Utf8).alias("kept_pair_id"))
    kept = df.filter(pl.col("_reason").is_null()).drop("_reason", "_detail")
    with timer("exact_dedup"):
        kept = kept.with_columns(dup_keys(kept, rules.exact_dup_fold))
    return kept, rejected.cast(REJECT_SCHEMA), timer.seconds


@dataclass
class _Part:
    """What one chunk's worker hands back: its kept rows sit in a Parquet file, the rest comes here."""
    path: Path
    rejected: pl.DataFrame
    keys: pl.DataFrame  # dedup keys of the kept rows, in file order
    sig: np.ndarray | None  # MinHash signatures of the kept rows' conversation texts
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
        preference = preference_keys(kept)
        sig, shared = None, [np.zeros(kept.height, dtype=np.uint64)] * 2
        if rules.near_dup_action != "off":
            sig, shared = near_dup_features(kept, preference["_text"], rules.near_dup)
        seconds["near_dedup"] += time.perf_counter() - t
        t = time.perf_counter()
        candidates = ending_model.candidate_mask(kept, rules.ending)
        seconds["truncation_model"] = time.perf_counter() - t
        path = out_dir / f"part-{group:05d}-{i:04d}.parquet"
        keys = pl.concat([kept.select("raw_id", "pair_id", "norm_hash", "_prefix_keys", *SOURCE_ORDER,
                                      n_msgs=pl.col("messages").list.len()).with_columns(candidates),
                          preference.drop("_text").with_columns(prompt_key=shared[0], response_key=shared[1])],
                         how="horizontal")
        # Uncompressed: a part file is read back twice and then deleted; lz4 cost four times the CPU of writing
        # it plain (about 8 CPU seconds per million pairs, plus reading), for 30% less temporary disk.
        kept.drop("_prefix_keys").write_parquet(path, compression="uncompressed")
        parts.append(_Part(path, rejected, keys, sig, seconds))
    return parts


@contextmanager
def _worker_pool(src: Path, rules: CleanRules):
    """(map, number of workers): a process pool's map over `rules.workers` processes when the input is large,
    else the builtin map in this process. One pool serves the per-row operators and the near-duplicate check,
    so its processes start once."""
    meta = pq.ParquetFile(src).metadata
    workers = min(rules.workers or os.cpu_count() or 1, max(meta.num_row_groups, 1))
    if workers > 1 and meta.num_rows > rules.chunk_rows:
        # spawn, not fork: polars' thread pool does not survive a fork.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool.map, workers
    else:
        yield map, 1


def _run_workers(src: Path, out_dir: Path, rules: CleanRules, map_jobs=map) -> list[_Part]:
    meta = pq.ParquetFile(src).metadata
    groups = list(range(meta.num_row_groups)) or [0]
    nested = map_jobs(_clean_row_group, repeat(src), groups, repeat(out_dir), repeat(rules))
    # One line per row group as the workers return them (in order); the near-duplicate check follows.
    progress = Progress(_log, "cleaned_pairs", meta.num_rows, "pairs through the row filters")
    parts = []
    for group_parts in nested:
        parts += group_parts
        progress.advance(sum(p.keys.height + p.rejected.height for p in group_parts))
    return parts


def _dedup(parts: list[_Part], rules: CleanRules, seconds: dict[str, float], map_jobs,
           workers: int, gone: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(raw_id -> cluster_id of the rows kept, exact-duplicate rejects, near-duplicate rejects) over the parts'
    keys less the raw_ids in `gone` (rejected since); the near-duplicate check runs through `map_jobs` in
    `workers` shards."""
    t = time.perf_counter()
    # `_i` is a row's place in the part files (signatures and texts are found by it): numbered before any goes.
    keys = pl.concat([p.keys for p in parts]).with_row_index("_i").filter(~pl.col("raw_id").is_in(gone.implode()))
    # Exact duplicates (same normalized conversation, folded unless exact_dup_fold is off) are resolved in
    # SQL on the key columns of the keys that occur more than once (a key seen once is its own first copy):
    # the best copy by PREFERENCE wins, then the first by source order.
    repeated = keys["norm_hash"].is_duplicated()
    ranked = run_sql("exact_dedup", pairs=keys.filter(repeated))
    dups = ranked.filter(pl.col("dup_rank") > 1)
    dups = dups.with_columns(_why=kept_because(dups, keys)).select(
        "pair_id", "raw_id", "source",
        pl.lit("exact_duplicate").alias("reason"),
        pl.format("same normalized text{} as pair {} ({}); kept the other as {}",
                  pl.lit(" (case and whitespace folded)" if rules.exact_dup_fold else ""),
                  "kept_pair_id", "kept_source", "_why").alias("detail"),
        "kept_pair_id",
    )
    firsts = pl.concat([keys.filter(~repeated),
                        ranked.filter(pl.col("dup_rank") == 1).select(keys.columns).cast(keys.schema)])
    seconds["exact_dedup"] += time.perf_counter() - t
    t = time.perf_counter()
    if rules.near_dup_action == "off":
        clusters, near = firsts.select("raw_id", cluster_id=pl.col("pair_id")), pl.DataFrame(schema=REJECT_SCHEMA)
    else:
        clusters, near = near_duplicates(firsts, parts, rules.near_dup, rules.near_dup_verify,
                                         rules.near_dup_action, map_jobs, workers)
        # An exact duplicate points at the pair actually kept, also when its first copy lost to a
        # near-duplicate.
        moved = near.select(pl.col("pair_id").alias("kept_pair_id"), pl.col("kept_pair_id").alias("_final"))
        dups = dups.join(moved, on="kept_pair_id", how="left").with_columns(
            pl.coalesce("_final", "kept_pair_id").alias("kept_pair_id")).drop("_final")
    seconds["near_dedup"] += time.perf_counter() - t
    return clusters, dups, near


def _model_endings(parts: list[_Part], rules: ending_model.EndingRules, cache) -> ending_model.EndingRun:
    """The language model's check of the answers the truncation rules left open (the rows the workers flagged as
    candidates); its rejects must stay out of dedup."""
    flagged = [p.keys.filter(pl.col("ending_candidate"))["raw_id"] for p in parts]
    run = ending_model.check(
        sum(len(f) for f in flagged),
        lambda: pl.concat([pl.scan_parquet(p.path).select(*_CANDIDATE_COLUMNS).filter(pl.col("raw_id").is_in(f.implode()))
                           for p, f in zip(parts, flagged) if len(f)]).collect(),
        rules, cache)
    rejected = run.rejected.with_columns(kept_pair_id=pl.lit(None, pl.Utf8)).select(*REJECT_SCHEMA).cast(REJECT_SCHEMA)
    return ending_model.EndingRun(rejected, run.summary)


_CANDIDATE_COLUMNS = ("raw_id", "pair_id", "source", "lang", "instruction", "input", "response")


def _write_kept(parts: list[_Part], clusters: pl.DataFrame, out: Path, row_group_rows: int) -> None:
    """The part files' rows that stay (those in `clusters`), with their cluster_id, into one Parquet file, in
    part order. polars' streaming engine reads, joins, encodes and compresses a few row groups at a time on
    every core (pyarrow's writer encodes on one), so memory holds a few row groups, not the table."""
    kept = pl.concat([pl.scan_parquet(p.path) for p in parts]).join(
        clusters.lazy(), on="raw_id", how="inner", maintain_order="left")
    kept.sink_parquet(out, compression="lz4", row_group_size=row_group_rows)


def clean_parquet(src: str | os.PathLike, out: str | os.PathLike, rules: CleanRules = CleanRules(),
                  timings: dict[str, float] | None = None, model_cache=None, report: dict | None = None
                  ) -> pl.DataFrame:
    """Clean the unified pairs in Parquet file `src` into Parquet file `out`; returns the rejected rows.

    Streams: worker processes read row groups of `src` and write their kept rows to part files; only dedup
    keys and MinHash signatures come back to this process, so memory stays bounded by a chunk's rows plus
    the signatures. When `timings` is a dict it receives the seconds per operator (summed over worker
    processes for the per-row operators and signatures) and the wall-clock total under 'total'. The
    truncation model's outputs go through `model_cache` (an OutputCache; a throwaway one when None), and its
    summary into `report['truncation_model']` when `report` is a dict.
    """
    validate_rules(rules)
    if "truncated" in rules.quality.disabled:
        rules = replace(rules, ending=replace(rules.ending, mode="off"))
    src, out = Path(src), Path(out)
    t0 = time.perf_counter()
    seconds = dict.fromkeys(OPERATORS, 0.0)
    # Kept rows meet their cluster ids by raw_id: two input rows with one raw_id would come out doubled.
    repeated = pl.scan_parquet(src).group_by("raw_id").len().filter(pl.col("len") > 1).collect()
    if repeated.height:
        raise ValueError(f"{src}: raw_id must identify one row, but {repeated.height} raw_ids repeat "
                         f"(e.g. {repeated['raw_id'].head(3).to_list()})")
    # The evaluation items' n-grams, indexed once here, travel to the workers with the rules.
    rules = replace(rules, eval_index=decontaminate.index_for(pl.scan_parquet(src), rules.decontamination))
    seconds["decontaminate"] = time.perf_counter() - t0
    # The part files sit beside the output, named after it: a writer killed mid-way leaves them where the
    # store's sweep of dead writers' temp files finds them.
    parts_dir = out.with_name(out.name + ".parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    try:
        with _worker_pool(src, rules) as (map_jobs, workers):
            parts = _run_workers(src, parts_dir, rules, map_jobs)
            for part in parts:
                for name, value in part.seconds.items():
                    seconds[name] += value
            t = time.perf_counter()
            if model_cache is None:
                from ..models.runtime.cache import OutputCache

                model_cache = OutputCache(parts_dir / "model_cache.sqlite")
            ending = _model_endings(parts, rules.ending, model_cache)
            seconds["truncation_model"] += time.perf_counter() - t
            if report is not None:
                report["truncation_model"] = ending.summary
            clusters, dups, near = _dedup(parts, rules, seconds, map_jobs, workers, ending.rejected["raw_id"])
        t = time.perf_counter()
        _write_kept(parts, clusters, out, rules.chunk_rows)
        seconds["write"] = time.perf_counter() - t
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    rejected = pl.concat([*(p.rejected for p in parts), ending.rejected, dups.cast(REJECT_SCHEMA),
                          near.cast(REJECT_SCHEMA)])
    if timings is not None:
        timings.update(seconds, total=time.perf_counter() - t0)
    return rejected


def clean_pairs(unified: pl.DataFrame, rules: CleanRules = CleanRules(), timings: dict[str, float] | None = None,
                model_cache=None, report: dict | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cleaned, rejected) for a frame in memory; see `clean_parquet`, which this runs through temp files."""
    with tempfile.TemporaryDirectory(prefix="clean-") as tmp:
        src, out = Path(tmp) / "unified.parquet", Path(tmp) / "cleaned.parquet"
        unified.write_parquet(src, row_group_size=rules.chunk_rows)
        rejected = clean_parquet(src, out, rules, timings, model_cache, report)
        return pl.read_parquet(out), rejected
