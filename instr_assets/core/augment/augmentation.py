"""Augmentation of cleaned pairs: operators rewrite the instruction, gates judge each child, and every child
carries its provenance (parent_pair_id, operator, model_id, similarity to its parent).

Operators only rewrite the request part of the instruction (protect.py), never the input or the response, and
skip multi-turn pairs and verifiable tasks (a computed reference answer), so no computed answer goes stale.
Each (pair, operator) draws from its own seeded generator: a child depends on the seed, the pair and the
operator only, not on the other rows.

The model operators (back-translation, model rewrites) cost seconds a child on a CPU, so each is tried on a
quota of pairs per run, drawn in a seeded order (`_drawn`) instead of by `apply_prob`; their requests go to the
generator given (in the pipeline, behind the OutputCache), and their children pass two more gates before the
common ones: still an instruction (generation.instruction_shape_issue) and a faithful rewrite of its parent's
request (gates.rewrite_issue).
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from ..ingest.unify import pair_id_of
from ..models.runtime import Generator
from ..text import compose_user, render_plain
from .backtranslation import backtranslate, response_allowed
from .gates import EmbedFn, GateRules, band_issue, cheap_issues, normalized_keys, rewrite_issue, similarities
from .generation import Generated, instruction_shape_issue
from .model_reply import LANG_NAMES
from .model_rewrite import rewrite
from .noise import NoiseRates, inject_noise
from .protect import editable_end
from .synonyms import POS_NAMES, SYNONYM_POS, replace_synonyms
from .syntax import transform_syntax

RULE_OPERATORS = ("synonym", "syntax", "noise")
MODEL_OPERATORS = ("backtranslation", "model_rewrite")
OPERATORS = RULE_OPERATORS + MODEL_OPERATORS
# model_id of the rule-based operators (the synonym operator names its lexicon instead).
RULES_ID = {"syntax": "rules:syntax-v2", "noise": "rules:eda-noise-v1"}
PROVENANCE = {"operator": pl.Utf8, "parent_pair_id": pl.Utf8, "is_augmented": pl.Boolean, "model_id": pl.Utf8,
              "similarity": pl.Float64, "operator_detail": pl.Utf8,
              # Generated pairs (generation.py): every seed shown to the model; the first is parent_pair_id.
              "seed_pair_ids": pl.List(pl.Utf8),
              # The judge's expected 1-5 grade (judging.py); null where the pair was not scored.
              "judge_score": pl.Float64}
REJECT_SCHEMA = {"pair_id": pl.Utf8, "parent_pair_id": pl.Utf8, "operator": pl.Utf8, "model_id": pl.Utf8,
                 "lang": pl.Utf8, "instruction": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
                 "similarity": pl.Float64}
_EMBED_CHUNK = 64


@dataclass(frozen=True)
class AugmentRules:
    seed: int = 13
    # The model operators need a generator (see `augment`), so they are not on by default here.
    operators: tuple[str, ...] = RULE_OPERATORS
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
    # Pairs each model operator is tried on per run (at most one child each).
    model_quota: int = 12
    # model_rewrite samples at this temperature (seeded): greedy decoding mostly returns the request unchanged.
    rewrite_temperature: float = 0.7
    # Longer requests are not drawn for the model operators: their cost grows with the length.
    max_request_chars: int = 300
    # Back-translate the response too where the task allows it (backtranslation.response_allowed).
    backtranslate_responses: bool = False
    max_response_chars: int = 400
    # A model call past this many seconds gives no child ('model_timeout') instead of failing the run.
    model_timeout_s: float = 120.0


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
    if rules.model_quota < 0 or rules.rewrite_temperature < 0 or rules.max_request_chars < 1 \
            or rules.model_timeout_s <= 0:
        raise ValueError("model_quota and rewrite_temperature must be >= 0, max_request_chars >= 1 and "
                         "model_timeout_s > 0")


def _run_operator(op: str, instruction: str, lang: str, rng: random.Random, rules: AugmentRules) -> tuple[str | None, str]:
    if op == "synonym":
        return replace_synonyms(instruction, lang, rng, rules.synonym_rate, rules.synonym_pos)
    if op == "syntax":
        return transform_syntax(instruction, lang, rng)
    return inject_noise(instruction, lang, rng, rules.noise)


def _child(row: dict, op: str, new_instruction: str, detail: str, model_id: str | None = None,
           new_response: str | None = None) -> dict:
    """A child of `row` with a new instruction (and response); `model_id` for the model operators."""
    messages = [dict(m) for m in row["messages"]]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[first_user]["content"] = compose_user(new_instruction, row["input"])
    response = row["response"]
    if new_response is not None:
        response = new_response
        messages[next(i for i, m in enumerate(messages) if m["role"] == "assistant")]["content"] = response
    model_id = model_id or (detail if op == "synonym" else RULES_ID[op])
    return {**row, "instruction": new_instruction, "messages": messages, "response": response,
            "text": render_plain(new_instruction, row["input"], response), "pair_id": pair_id_of(messages),
            "operator": op, "parent_pair_id": row["pair_id"], "is_augmented": True, "model_id": model_id,
            "similarity": None, "operator_detail": None if op == "synonym" else detail}


def _reject(child: dict, reason: str, detail: str, similarity: float | None = None) -> dict:
    return {"pair_id": child["pair_id"], "parent_pair_id": child["parent_pair_id"], "operator": child["operator"],
            "model_id": child["model_id"], "lang": child["lang"], "instruction": child["instruction"],
            "reason": reason, "detail": detail, "similarity": similarity}


def _drawn(eligible: pl.DataFrame, op: str, rules: AugmentRules) -> list[tuple[dict, str]]:
    """(row, request) of up to `model_quota` pairs for a model operator. The order is a hash of seed, operator and
    pair id, so whether a pair is drawn does not depend on the row order; one pair per distinct request, since
    the data repeats some requests thousands of times (a reading-comprehension prompt before each passage)."""
    pool = eligible.filter(pl.col("lang").is_in(list(LANG_NAMES)))
    ranks = [hashlib.sha256(f"{rules.seed}:{op}:{pair_id}".encode()).digest() for pair_id in pool["pair_id"]]
    out, seen = [], set()
    for index in sorted(range(pool.height), key=ranks.__getitem__):
        if len(out) >= rules.model_quota:
            break
        row = pool.row(index, named=True)
        request = row["instruction"][:editable_end(row["instruction"])].strip()
        if 4 <= len(request) <= rules.max_request_chars and request not in seen:
            seen.add(request)
            out.append((row, request))
    return out


def _model_children(eligible: pl.DataFrame, op: str, generator: Generator, rules: AugmentRules) -> tuple[list, list]:
    """(children, rejected) of one model operator: its drawn requests rewritten by the model, each new request
    put back in front of its material and checked to be still an instruction and faithful to its parent."""
    drawn = _drawn(eligible, op, rules)
    requests, langs = [request for _, request in drawn], [row["lang"] for row, _ in drawn]
    if op == "backtranslation":
        results = backtranslate(generator, requests, langs, timeout_s=rules.model_timeout_s)
    else:
        results = rewrite(generator, requests, langs, seed=rules.seed, temperature=rules.rewrite_temperature,
                          timeout_s=rules.model_timeout_s)
    responses: dict[int, str] = {}
    if op == "backtranslation" and rules.backtranslate_responses:
        allowed = [i for i, (row, _) in enumerate(drawn)
                   if results[i][0] is not None and response_allowed(row, rules.max_response_chars)[0]]
        back = backtranslate(generator, [drawn[i][0]["response"] for i in allowed], [langs[i] for i in allowed],
                             kind="response", timeout_s=rules.model_timeout_s)
        # A response whose back-translation failed stays as it was: the instruction's child still stands.
        responses = {i: text for i, (text, _) in zip(allowed, back) if text is not None}
    children, rejected = [], []
    for i, ((row, request), (new_request, detail)) in enumerate(zip(drawn, results)):
        if new_request is None:
            rejected.append({"pair_id": None, "parent_pair_id": row["pair_id"], "operator": op,
                             "model_id": generator.model_id, "lang": row["lang"], "instruction": None,
                             "reason": "no_output", "detail": detail, "similarity": None})
            continue
        material = row["instruction"][editable_end(row["instruction"]):]
        if material.startswith((":", "：")):
            new_request = new_request.rstrip(":：.。 ")  # "Classify it.: <material>" would read badly
        if i in responses:
            detail += "; response back-translated"
        child = _child(row, op, new_request + material, detail, generator.model_id, responses.get(i))
        shape = instruction_shape_issue(new_request, row["lang"])
        issue = ("not_an_instruction", shape) if shape else rewrite_issue(request, new_request)
        if issue:
            rejected.append(_reject(child, *issue))
        else:
            children.append(child)
    return children, rejected


def augment(cleaned: pl.DataFrame, rules: AugmentRules = AugmentRules(), embed: EmbedFn | None = None,
            progress: Callable[[str], None] | None = None, generated: Generated | None = None,
            generator: Generator | None = None) -> Augmented:
    """Originals (operator='original') plus the children that passed the gates; `embed` (texts -> unit rows)
    drives the similarity gate, which is skipped (similarity null) without it. `generated` pairs (already gated
    and graded by generation.py) come first within the share cap: each cost several model calls. `generator`
    serves the model operators, and is required when `rules.operators` names one."""
    validate(rules)
    model_ops = [op for op in rules.operators if op in MODEL_OPERATORS]
    if model_ops and generator is None:
        raise ValueError(f"operators {model_ops} need a generator (a model)")
    base = cleaned.with_columns(pl.lit("original").alias("operator"), pl.lit(None, pl.Utf8).alias("parent_pair_id"),
                                pl.lit(False).alias("is_augmented"), pl.lit(None, pl.Utf8).alias("model_id"),
                                pl.lit(None, pl.Float64).alias("similarity"),
                                pl.lit(None, pl.Utf8).alias("operator_detail"),
                                pl.lit(None, pl.List(pl.Utf8)).alias("seed_pair_ids"),
                                pl.lit(None, pl.Float64).alias("judge_score"))
    seconds = dict.fromkeys(rules.operators, 0.0)
    candidates, rejected, parent_of = [], [], {}
    eligible = cleaned.filter((pl.col("n_turns") == 1) & pl.col("reference_answer").is_null())
    for row in eligible.iter_rows(named=True):
        for op in rules.operators:
            if op in MODEL_OPERATORS or (op == "synonym" and row["lang"] not in rules.synonym_langs):
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
    instruction_of = dict(eligible.select("pair_id", "instruction").iter_rows()) if model_ops else {}
    for op in model_ops:
        t = time.perf_counter()
        made, failed = _model_children(eligible, op, generator, rules)
        seconds[op] += time.perf_counter() - t
        candidates += made
        rejected += failed
        parent_of.update((child["parent_pair_id"], instruction_of[child["parent_pair_id"]]) for child in made)
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
    # The model operators' children first (a stable sort keeps the seeded order within each part): each cost
    # seconds of model time, and their number is already bounded by the quota.
    passed.sort(key=lambda child: child["operator"] not in MODEL_OPERATORS)
    kept = []
    if generated is not None:
        kept = generated.children[:cap]
        rejected += generated.rejected + [_reject(c, "over_cap", f"the augmented share cap allows {cap} children")
                                          for c in generated.children[cap:]]
        seconds |= generated.seconds
    if embed is None:
        kept += passed[:cap - len(kept)]
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
