"""The judge score of augmented_pairs: a `judge_score` column on every pair (the judge's expected 1-5 grade,
models/runtime/judge.py), null where the pair was not scored, and an optional filter on it.

On a CPU the judge is slow (a few seconds a pair on two busy cores), so by default a seeded quota of the pairs
is scored. A pair's place in the draw is a hash of (seed, pair_id): it does not move when other pairs come or
go, so a rebuild asks for the same pairs, which the OutputCache already holds. Pairs graded before (the generated
ones, graded as they were made) keep their score and do not count against the quota.
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass

import polars as pl

from ..models.runtime import judge_scores
from ..models.runtime.generation import Generator
from .augmentation import REJECT_SCHEMA


# Pairs the judge scores on a CPU when the config leaves it open (a few seconds each on two busy cores).
CPU_JUDGE_QUOTA = 12


@dataclass(frozen=True)
class JudgeRules:
    quota: int | None = 12  # pairs scored besides those already graded; None scores every pair
    seed: int = 13
    # Each side of a pair is cut to this many characters, so a long pair fits the judge's context (4096 tokens
    # for the default model; a Han character can take more than one token).
    max_chars: int = 1200

    def __post_init__(self):
        if self.quota is not None and self.quota < 0:
            raise ValueError(f"judge quota must be >= 0 or None (every pair), got {self.quota}")


@dataclass
class Judged:
    pairs: pl.DataFrame  # the input with judge_score filled where scored
    scored: int  # pairs with a score, graded before or now
    seconds: float


def judge_sides(messages: list[dict], max_chars: int) -> tuple[str, str]:
    """What the judge reads: the prompt side (the one user turn, or the earlier turns as 'role: text' lines)
    and the last assistant turn."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    before = messages[:last]
    if len(before) == 1 and before[0]["role"] == "user":
        prompt = before[0]["content"]
    else:
        prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in before)
    return prompt[:max_chars], messages[last]["content"][:max_chars]


def _draw_rank(seed: int, pair_id: str) -> str:
    return hashlib.sha256(f"{seed}:{pair_id}".encode()).hexdigest()


def add_judge_scores(pairs: pl.DataFrame, judge: Generator, rules: JudgeRules = JudgeRules()) -> Judged:
    """Scores the unscored pairs that have an assistant turn: all, or the `quota` first in the seeded draw."""
    todo = pairs.filter(pl.col("judge_score").is_null()
                        & pl.col("messages").list.eval(pl.element().struct.field("role") == "assistant").list.any())
    ids = todo["pair_id"].to_list()
    if rules.quota is not None:
        ids = sorted(ids, key=lambda pair_id: _draw_rank(rules.seed, pair_id))[:rules.quota]
    messages = dict(zip(todo["pair_id"], todo["messages"]))
    started = time.perf_counter()
    scores = judge_scores(judge, [judge_sides(messages[i], rules.max_chars) for i in ids])
    seconds = time.perf_counter() - started
    graded = {i: round(s.score, 4) for i, s in zip(ids, scores) if s.score is not None}
    out = pairs.with_columns(pl.coalesce("judge_score", pl.col("pair_id").replace_strict(
        graded, default=None, return_dtype=pl.Float64)).alias("judge_score"))
    return Judged(out, int(out["judge_score"].is_not_null().sum()), seconds)


def _rejects(pairs: pl.DataFrame, reason: str, detail: pl.Expr) -> pl.DataFrame:
    return pairs.select("pair_id", "parent_pair_id", "operator", "model_id", "lang", "instruction",
                        pl.lit(reason).alias("reason"), detail.alias("detail"), "similarity")


def min_score_filter(pairs: pl.DataFrame, min_score: float, max_augmented_share: float,
                     seed: int = 13) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, rejected): pairs scored below `min_score` leave as `low_judge_score` (unscored pairs stay). When
    the originals that leave push the augmented share past its cap, children over the cap leave as `over_cap`,
    in a seeded order."""
    low = pl.col("judge_score") < min_score
    rejected = [_rejects(pairs.filter(low), "low_judge_score",
                         pl.format("judge {} < {}", pl.col("judge_score").round(2), pl.lit(min_score)))]
    kept = pairs.filter(~low | pl.col("judge_score").is_null())
    cap = int(max_augmented_share * kept.filter(~pl.col("is_augmented")).height / (1 - max_augmented_share))
    children = sorted(kept.filter(pl.col("is_augmented"))["pair_id"].to_list())
    if len(children) > cap:
        random.Random(seed).shuffle(children)
        over = pl.col("pair_id").is_in(children[cap:])
        rejected.append(_rejects(kept.filter(over), "over_cap",
                                 pl.lit(f"after the judge filter the augmented share cap allows {cap} children")))
        kept = kept.filter(~over)
    return kept, pl.concat(rejected).cast(REJECT_SCHEMA)
