"""Gates every augmented child must pass; a child that fails one becomes a rejected row with its reason.

Cheap gates first, per child: language unchanged (core/clean/language.py on parent and child instruction), the
cleaning filters that judge a single pair (quality and content safety, as in cleaned_pairs), and no duplicate of
an existing pair or an earlier child (the cleaning's normalized-text key). Then the embedding gate: cosine
similarity of child and parent instruction within [min_similarity, max_similarity): below, the meaning drifted;
at or above the top, the child adds nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import polars as pl

from ..clean import language, safety
from ..clean.dedup import dup_keys
from ..clean.quality import quality_issue

Issue = tuple[str, str]
EmbedFn = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class GateRules:
    min_similarity: float = 0.80
    max_similarity: float = 0.995

    def __post_init__(self):
        if not 0.0 <= self.min_similarity < self.max_similarity <= 1.0:
            raise ValueError(f"similarity band [{self.min_similarity}, {self.max_similarity}) must lie within "
                             "[0, 1] and not be empty")


def normalized_keys(pairs: pl.DataFrame) -> list[str]:
    """The exact-duplicate key the cleaning uses (folded case and whitespace over roles and contents)."""
    return dup_keys(pairs.select("messages", "n_turns"), True)[0].to_list()


def cheap_issues(children: pl.DataFrame, parent_instructions: Sequence[str], known_keys: set[str]) -> list[Issue | None]:
    """Per child the first failed cheap gate, or None. `known_keys` (the originals' keys) grows with each child
    that passes, so a later identical child is a duplicate of the earlier one."""
    child_instructions = children["instruction"].to_list()
    parent_langs = [lang for lang, _ in language.identify(list(parent_instructions))]
    child_langs = [lang for lang, _ in language.identify(child_instructions)]
    keys = normalized_keys(children)
    out: list[Issue | None] = []
    for row, parent_lang, child_lang, key in zip(children.iter_rows(named=True), parent_langs, child_langs, keys):
        issue: Issue | None = None
        if child_lang != parent_lang:
            issue = ("language_changed", f"instruction language {parent_lang} -> {child_lang}")
        if issue is None:
            found = quality_issue(row["instruction"], row["input"], row["response"], row["lang"]) \
                or safety.safety_issue(row["instruction"])
            issue = (f"clean_{found[0]}", found[1]) if found else None
        if issue is None and key in known_keys:
            issue = ("duplicate", "same normalized text as an existing pair or an earlier child")
        if issue is None:
            known_keys.add(key)
        out.append(issue)
    return out


def similarities(embed: EmbedFn, parents: Sequence[str], children: Sequence[str]) -> np.ndarray:
    """Cosine similarity of each child to its parent (the embedder returns unit rows)."""
    vectors = embed(list(parents) + list(children))
    n = len(parents)
    return np.einsum("ij,ij->i", vectors[:n], vectors[n:])


def band_issue(similarity: float, rules: GateRules) -> Issue | None:
    if similarity < rules.min_similarity:
        return ("drifted", f"similarity {similarity:.3f} < {rules.min_similarity}")
    if similarity >= rules.max_similarity:
        return ("too_similar", f"similarity {similarity:.3f} >= {rules.max_similarity}")
    return None
