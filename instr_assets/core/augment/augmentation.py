"""Augmentation of cleaned pairs: operators rewrite the instruction, gates judge each child, and every child
carries its provenance (parent_pair_id, operator, model_id, similarity to its parent).

Operators only rewrite the request part of the instruction (protect.py), never the input or the response, and
skip multi-turn pairs and verifiable tasks (a computed reference answer), so no computed answer goes stale.
Each (pair, operator) draws from its own seeded generator: a child depends on the seed, the pair and the
operator only, not on the other rows.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from ..ingest.unify import pair_id_of
from ..text import compose_user, render_plain
from .gates import EmbedFn, GateRules, band_issue, cheap_issues, normalized_keys, similarities
from .noise import NoiseRates, inject_noise
from .synonyms import POS_NAMES, SYNONYM_POS, replace_synonyms
from .syntax import transform_syntax

OPERATORS = ("synonym", "syntax", "noise")
# model_id of the rule-based operators (the synonym operator names its lexicon instead).
RULES_ID = {"syntax": "rules:syntax-v1", "noise": "rules:eda-noise-v1"}
PROVENANCE = {"operator": pl.Utf8, "parent_pair_id": pl.Utf8, "is_augmented": pl.Boolean, "model_id": pl.Utf8,
              "similarity": pl.Float64, "operator_detail": pl.Utf8}
REJECT_SCHEMA = {"pair_id": pl.Utf8, "parent_pair_id": pl.Utf8, "operator": pl.Utf8, "model_id": pl.Utf8,
                 "lang": pl.Utf8, "instruction": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
                 "similarity": pl.Float64}
_EMBED_CHUNK = 64


@dataclass(frozen=True)
class AugmentRules:
    seed: int = 13
    operators: tuple[str, ...] = OPERATORS
    # Augmented rows may make up at most this share of the output.
    max_augmented_share: float = 0.25
    # Chance that a given (pair, operator) is tried at all.
    apply_prob: float = 0.5
    # Share of an instruction's words the synonym operator replaces (at least one).
    synonym_rate: float = 0.15
    # Parts of speech the synonym operator may replace (any of synonyms.POS_NAMES).
    synonym_pos: tuple[str, ...] = SYNONYM_POS
    # Languages the synonym operator runs on: Cilin's broad groups gave 12 of 20 good Chinese children in review
    # (WordNet 17 of 20 English), so Chinese is opt-in.
    synonym_langs: tuple[str, ...] = ("en",)
    noise: NoiseRates = field(default_factory=NoiseRates)
    gates: GateRules = field(default_factory=GateRules)


@dataclass
class Augmented:
    pairs: pl.DataFrame  # originals first, then the children that passed every gate
    rejected: pl.DataFrame  # REJECT_SCHEMA: children that failed a gate, and (pair, operator) with no output
    seconds: dict[str, float]  # per operator, the time its rewrites took; 'gates' the time of the gates


def validate(rules: AugmentRules) -> None:
    unknown = set(rules.operators) - set(OPERATORS)
    if unknown:
        raise ValueError(f"operators: unknown {sorted(unknown)}; known are {list(OPERATORS)}")
    if not set(rules.synonym_pos) <= set(POS_NAMES):
        raise ValueError(f"synonym_pos: {sorted(set(rules.synonym_pos) - set(POS_NAMES))} not among {list(POS_NAMES)}")
    if not set(rules.synonym_langs) <= {"en", "zh"}:
        raise ValueError(f"synonym_langs: {sorted(set(rules.synonym_langs) - {'en', 'zh'})} not among ['en', 'zh']")
    if not 0.0 <= rules.max_augmented_share < 1.0 or not 0.0 <= rules.apply_prob <= 1.0:
        raise ValueError("max_augmented_share must be in [0, 1) and apply_prob in [0, 1]")


def _run_operator(op: str, instruction: str, lang: str, rng: random.Random, rules: AugmentRules) -> tuple[str | None, str]:
    if op == "synonym":
        return replace_synonyms(instruction, lang, rng, rules.synonym_rate, rules.synonym_pos)
    if op == "syntax":
        return transform_syntax(instruction, lang)
    return inject_noise(instruction, lang, rng, rules.noise)


def _child(row: dict, op: str, new_instruction: str, detail: str) -> dict:
    messages = [dict(m) for m in row["messages"]]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[first_user]["content"] = compose_user(new_instruction, row["input"])
    model_id = detail if op == "synonym" else RULES_ID[op]
    return {**row, "instruction": new_instruction, "messages": messages,
            "text": render_plain(new_instruction, row["input"], row["response"]), "pair_id": pair_id_of(messages),
            "operator": op, "parent_pair_id": row["pair_id"], "is_augmented": True, "model_id": model_id,
            "similarity": None, "operator_detail": None if op == "synonym" else detail}


def _reject(child: dict, reason: str, detail: str, similarity: float | None = None) -> dict:
    return {"pair_id": child["pair_id"], "parent_pair_id": child["parent_pair_id"], "operator": child["operator"],
            "model_id": child["model_id"], "lang": child["lang"], "instruction": child["instruction"],
            "reason": reason, "detail": detail, "similarity": similarity}


def augment(cleaned: pl.DataFrame, rules: AugmentRules = AugmentRules(), embed: EmbedFn | None = None,
            progress: Callable[[str], None] | None = None) -> Augmented:
    """Originals (operator='original') plus the children that passed the gates; `embed` (texts -> unit rows)
    drives the similarity gate, which is skipped (similarity null) without it."""
    validate(rules)
    base = cleaned.with_columns(pl.lit("original").alias("operator"), pl.lit(None, pl.Utf8).alias("parent_pair_id"),
                                pl.lit(False).alias("is_augmented"), pl.lit(None, pl.Utf8).alias("model_id"),
                                pl.lit(None, pl.Float64).alias("similarity"),
                                pl.lit(None, pl.Utf8).alias("operator_detail"))
    seconds = dict.fromkeys(rules.operators, 0.0)
    candidates, rejected, parent_of = [], [], {}
    eligible = cleaned.filter((pl.col("n_turns") == 1) & pl.col("reference_answer").is_null())
    for row in eligible.iter_rows(named=True):
        for op in rules.operators:
            if op == "synonym" and row["lang"] not in rules.synonym_langs:
                continue
            rng = random.Random(f"{rules.seed}:{row['pair_id']}:{op}")
            if rng.random() > rules.apply_prob:
                continue
            t = time.perf_counter()
            new_instruction, detail = _run_operator(op, row["instruction"], row["lang"], rng, rules)
            seconds[op] += time.perf_counter() - t
            if new_instruction is None:
                rejected.append({"pair_id": None, "parent_pair_id": row["pair_id"], "operator": op,
                                 "model_id": None, "lang": row["lang"], "instruction": None,
                                 "reason": "no_output", "detail": detail, "similarity": None})
                continue
            candidates.append(_child(row, op, new_instruction, detail))
            parent_of[row["pair_id"]] = row["instruction"]
    if progress:
        progress(f"augment: {len(candidates)} candidate children from {eligible.height} eligible pairs")
    t = time.perf_counter()
    passed = []
    if candidates:
        frame = pl.DataFrame(candidates, schema=base.schema)
        issues = cheap_issues(frame, [parent_of[c["parent_pair_id"]] for c in candidates],
                              set(normalized_keys(cleaned)))
        for child, issue in zip(candidates, issues):
            if issue:
                rejected.append(_reject(child, *issue))
            else:
                passed.append(child)
    # Cap: share = k / (n + k) <= s  =>  k <= s * n / (1 - s). A seeded order decides which children are
    # judged by the (costly) embedding gate until the cap is reached.
    cap = int(rules.max_augmented_share * cleaned.height / (1 - rules.max_augmented_share))
    random.Random(rules.seed + 1).shuffle(passed)
    kept = []
    if embed is None:
        kept = passed[:cap]
    else:
        for start in range(0, len(passed), _EMBED_CHUNK):
            if len(kept) >= cap:
                break
            chunk = passed[start:start + _EMBED_CHUNK]
            sims = similarities(embed, [parent_of[c["parent_pair_id"]] for c in chunk], [c["instruction"] for c in chunk])
            for child, sim in zip(chunk, sims.tolist()):
                child["similarity"] = round(sim, 4)
                issue = band_issue(sim, rules.gates)
                if issue:
                    rejected.append(_reject(child, *issue, similarity=child["similarity"]))
                elif len(kept) < cap:
                    kept.append(child)
    seconds["gates"] = time.perf_counter() - t
    children = pl.DataFrame(kept, schema=base.schema) if kept else base.clear()
    if children.height:
        children = children.with_columns(pl.Series("norm_hash", normalized_keys(children)))
    pairs = pl.concat([base, children.sort("pair_id")])
    return Augmented(pairs, pl.DataFrame(rejected, schema=REJECT_SCHEMA), seconds)


def augment_pairs(cleaned: pl.DataFrame, rules: AugmentRules = AugmentRules(), embed: EmbedFn | None = None) -> pl.DataFrame:
    """The augmented pairs alone (see `augment`)."""
    return augment(cleaned, rules, embed).pairs
