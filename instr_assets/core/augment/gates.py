"""Gates every augmented child must pass; a child that fails one becomes a rejected row with its reason.

Cheap gates first, per child: language unchanged (core/clean/language.py on parent and child instruction), the
cleaning filters that judge a single pair (quality and content safety, as in cleaned_pairs), and no duplicate of
an existing pair or an earlier child (the cleaning's normalized-text key). Then the embedding gate: cosine
similarity of child and parent instruction within [min_similarity, max_similarity): below, the meaning drifted;
at or above the top, the child adds nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import polars as pl

from ..clean import language, safety
from ..clean.dedup import dup_keys
from ..clean.quality import quality_issue
from .protect import protected_mask

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


# A model's rewrite of a request may grow this much (characters) before it reads as an answer rather than a
# restatement: back-translation through Chinese roughly doubles the characters of a short English request.
MAX_GROWTH = 2.5
_GROWTH_SLACK = 40
# An English request that became a title or a statement: "List of ...", "Description of ...", "There are ...".
_EN_NOT_A_REQUEST = re.compile(r"^(?:(?:A|An|The|There|This|These|It)\b|[A-Z]\w* (?:of|for)\b)")
# A Chinese request asks (a question word or mark) or bids (请, or a task verb); a child with neither, from a
# parent with one, answered the request instead of restating it ("HTML是什么？" -> "HTML是一种标记语言。").
_ZH_REQUEST = re.compile(r"[？?]|什么|为什么|为何|如何|怎么|怎样|哪|吗|多少|几|请|列出|列举|说明|解释|描述|介绍|给出|"
                         r"写|生成|总结|概括|翻译|找出|告诉|比较|分析|建议|提供|设计|创建|创作|编写|判断|选择|分类|"
                         r"回答|阅读|计算|改写|重写|排列|识别|鉴定|评价|讨论|举出|想象|制定|构建|提出")
_SPAN_EDGES = "\"'“”‘’「」『』《》«»`.,;:!?。，；：！？ "


def _protected_spans(text: str) -> list[str]:
    """The runs of `text` that protect.py marks as content (numbers, code, quoted text), without their quotes."""
    mask = protected_mask(text) + [False]
    spans, start = [], None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            spans.append(text[start:i].strip(_SPAN_EDGES))
            start = None
    return [span for span in spans if span]


def rewrite_issue(parent_request: str, child_request: str) -> Issue | None:
    """A model's rewrite against the request it rewrote: ('not_an_instruction', why) when it grew into what reads
    as an answer (much longer, or new paragraphs or a list), ('form_changed', why) when an English request became
    a title or a statement or a Chinese one lost every question or request word, ('protected_changed', what) when a number, code or quoted text of the parent is
    missing from it."""
    if len(child_request) > MAX_GROWTH * len(parent_request) + _GROWTH_SLACK:
        return ("not_an_instruction",
                f"{len(child_request)} characters from a request of {len(parent_request)}: reads like an answer")
    if child_request.count("\n") > parent_request.count("\n"):
        return ("not_an_instruction", "new line breaks: reads like an answer or a list")
    if _EN_NOT_A_REQUEST.match(child_request) and not _EN_NOT_A_REQUEST.match(parent_request):
        return ("form_changed", f"the request became a title or a statement: {child_request[:40]!r}")
    if _ZH_REQUEST.search(parent_request) and not _ZH_REQUEST.search(child_request) \
            and re.search(r"[\u4e00-\u9fff]", child_request):
        return ("form_changed", f"no question or request left, reads like an answer: {child_request[:40]!r}")
    lost = [span for span in _protected_spans(parent_request) if span not in child_request]
    if lost:
        return ("protected_changed", f"missing from the rewrite: {lost[:3]}")
    return None
