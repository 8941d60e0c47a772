"""Optional cleaning step: semantic near-duplicates, pairs that say the same thing in other words.

MinHash (near_dedup) finds copies with edits; a paraphrased prompt with a reworded answer shares too few
character n-grams for it. Here each pair's prompt and response are embedded apart (multilingual-e5-small, so a
Chinese and an English wording of one text also land close) and two pairs are duplicates when both cosines reach
their thresholds, they are in one language, and their numbers agree ("12 + 7" and "13 + 7" embed almost alike).
Both sides must match: one prompt answered two ways is two pairs. Capitalised English words that do not open a
sentence (names, mostly) must agree too: "Who wrote Hamlet?" and "Who wrote Macbeth?" embed almost alike, and so
do two news items under one classification template. In Chinese the names are the words jieba's tagger marks as a
person, place or organisation (北京 and 上海 in one question are two questions); it runs on candidate pairs only. The thresholds are calibrated in
bench/semantic_dedup_bench.py (figures in BENCHMARKS.md).

Clusters are star-shaped around the best copy, by the same preference rule as the other duplicate steps
(dedup.preference_keys: complete ending, not lower-cased, less noise, longer). Cost: two embeddings per pair and a
blocked N x N similarity, so it is meant for corpora of up to some 100k pairs on a CPU.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import polars as pl

from .dedup import PREFERENCE, preference_keys, prompt_and_response

# Embeds a list of texts to unit rows (n, d).
EmbedFn = Callable[[list[str]], np.ndarray]
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A capitalised word not at the start of a text, a line or a sentence.
_NAME = re.compile(r"(?<![.!?:\n])(?<![.!?:\n] )(?<!^)\b[A-Z][\w'-]*[a-z][\w'-]*\b")
_BLOCK = 2048


@dataclass(frozen=True)
class SemanticDedupRules:
    prompt_threshold: float = 0.95
    response_threshold: float = 0.95
    # Characters of each side that are embedded (e5 reads 512 tokens at most).
    max_chars: int = 1500

    def __post_init__(self):
        for name in ("prompt_threshold", "response_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"semantic dedup {name} must be in (0, 1], got {getattr(self, name)}")
        if self.max_chars < 1:
            raise ValueError(f"semantic dedup max_chars must be >= 1, got {self.max_chars}")


@lru_cache(maxsize=4096)
def _zh_names(text: str) -> frozenset[str]:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # its dictionary banner is no news to the run's log
    return frozenset(w.word for w in jieba.posseg.cut(text) if w.flag in ("nr", "ns", "nt") and len(w.word) >= 2)


def _values(prompt: str, response: str, lang: str) -> tuple[Counter, Counter, frozenset]:
    """What a paraphrase keeps: the numbers of each side, and the names of both."""
    names = (_zh_names(prompt) | _zh_names(response) if lang == "zh"
             else frozenset(_NAME.findall(prompt)) | frozenset(_NAME.findall(response)))
    return Counter(_NUMBER.findall(prompt)), Counter(_NUMBER.findall(response)), names


def candidate_pairs(prompts: np.ndarray, responses: np.ndarray, langs: list[str], rules: SemanticDedupRules
                    ) -> list[tuple[int, int, float, float]]:
    """(i, j, prompt cosine, response cosine) with i < j for every two rows over both thresholds in one
    language, computed block by block so memory stays at _BLOCK x N."""
    n = len(langs)
    lang = np.array(langs, dtype=object)
    out = []
    for start in range(0, n, _BLOCK):
        block_p = prompts[start:start + _BLOCK] @ prompts.T
        rows, cols = np.nonzero(block_p >= rules.prompt_threshold)
        rows = rows + start
        later = cols > rows
        rows, cols = rows[later], cols[later]
        if not len(rows):
            continue
        resp = np.einsum("ij,ij->i", responses[rows], responses[cols])
        keep = (resp >= rules.response_threshold) & (lang[rows] == lang[cols])
        out += [(int(i), int(j), float(block_p[i - start, j]), float(r))
                for i, j, r in zip(rows[keep], cols[keep], resp[keep])]
    return out


def semantic_duplicates(cleaned: pl.DataFrame, embed: EmbedFn, rules: SemanticDedupRules = SemanticDedupRules()
                        ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept rows of `cleaned`, rejected rows: pair_id, raw_id, source, reason 'semantic_duplicate', detail naming
    the kept pair and both cosines, kept_pair_id). `cleaned` is cleaned_pairs (messages, lang, pair_id, raw_id,
    source); row order is kept."""
    schema = {"pair_id": pl.Utf8, "raw_id": pl.Utf8, "source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
              "kept_pair_id": pl.Utf8}
    if cleaned.height < 2:
        return cleaned, pl.DataFrame(schema=schema)
    # Best first: the preference columns, then source order.
    keys = preference_keys(cleaned).select(*PREFERENCE).with_row_index("_row")
    order = keys.sort([*PREFERENCE, "_row"], descending=[*PREFERENCE.values(), False])["_row"].to_numpy()
    ranked = cleaned[order]
    sides = prompt_and_response(ranked)
    prompts, responses = sides["p"].to_list(), sides["r"].to_list()
    p_vec = embed([p[:rules.max_chars] for p in prompts])
    r_vec = embed([r[:rules.max_chars] for r in responses])
    rep = np.arange(ranked.height)
    why: dict[int, tuple[int, float, float]] = {}
    langs = ranked["lang"].to_list()
    for i, j, cp, cr in sorted(candidate_pairs(p_vec, r_vec, langs, rules)):
        # Pairs come by their better row, so a row's own status is settled before its pairs are.
        if rep[i] != i or rep[j] != j:
            continue
        if _values(prompts[i], responses[i], langs[i]) != _values(prompts[j], responses[j], langs[j]):
            continue
        rep[j], why[j] = i, (i, cp, cr)
    dropped = sorted(why)
    ids = ranked["pair_id"].to_list()
    rejected = ranked[dropped].select(
        "pair_id", "raw_id", "source", pl.lit("semantic_duplicate").alias("reason"),
        pl.Series("detail", [f"says what pair {ids[why[j][0]]} says in other words (prompt cosine {why[j][1]:.3f}, "
                             f"response cosine {why[j][2]:.3f}); kept that one" for j in dropped], pl.Utf8),
        pl.Series("kept_pair_id", [ids[why[j][0]] for j in dropped], pl.Utf8))
    gone = set(rejected["pair_id"].to_list())
    return cleaned.filter(~pl.col("pair_id").is_in(list(gone))), rejected.cast(schema)
