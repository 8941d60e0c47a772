"""Augmentation operators over instructions, seeded, each child linked to its parent pair.

Operators only rewrite the instruction, never the response, so a computed answer stays correct.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

import polars as pl

from ..text import compose_user, render_plain
from ..ingest.unify import pair_id_of

# Wrappers that ask the same thing in other words; {x} is the original instruction.
PARAPHRASE_TEMPLATES = {
    "en": [
        "Please {x}", "Could you {x}", "I need help with this: {x}", "Here is a task for you. {x}",
        "{x} Please be accurate.", "Task: {x}",
    ],
    "zh": [
        "请{x}", "麻烦你{x}", "我需要你帮忙：{x}", "下面是一个任务。{x}", "{x}请认真作答。", "任务：{x}",
    ],
}

# A small hand-written synonym dictionary; only whole words (en) or exact phrases (zh) are replaced.
SYNONYMS = {
    "en": {
        "explain": ["describe", "clarify"], "describe": ["explain", "outline"], "write": ["compose", "draft"],
        "give": ["provide", "offer"], "list": ["name", "enumerate"], "short": ["brief", "concise"],
        "simple": ["plain", "straightforward"], "important": ["significant", "key"], "help": ["assist", "aid"],
        "make": ["create", "produce"], "find": ["identify", "determine"], "show": ["demonstrate", "display"],
        "answer": ["reply", "response"], "quick": ["fast", "rapid"], "big": ["large", "huge"],
        "small": ["little", "tiny"], "choose": ["select", "pick"], "suggest": ["recommend", "propose"],
        "summarize": ["sum up", "condense"], "difference": ["distinction", "contrast"],
    },
    "zh": {
        "解释": ["说明", "阐述"], "描述": ["说明", "叙述"], "写": ["撰写", "编写"], "给出": ["提供", "列出"],
        "简短": ["简要", "简洁"], "简单": ["浅显", "简明"], "重要": ["关键", "要紧"], "帮助": ["协助", "帮忙"],
        "为什么": ["为何", "什么原因"], "如何": ["怎样", "怎么"], "列出": ["列举", "给出"], "建议": ["推荐", "提议"],
        "总结": ["概括", "归纳"], "区别": ["差别", "不同"], "方法": ["办法", "方式"], "问题": ["疑问", "题目"],
    },
}

_EN_WORD = re.compile(r"[A-Za-z]+")


def paraphrase_instruction(instruction: str, lang: str, rng: random.Random) -> str | None:
    templates = PARAPHRASE_TEMPLATES.get(lang)
    if not templates:
        return None
    template = rng.choice(templates)
    x = instruction
    if lang == "zh" and template.startswith(("请{x}", "麻烦你{x}")) and (x.endswith(("?", "？")) or x.startswith("请")):
        # "请"/"麻烦你" read well before a request, not before a question or another "请".
        template = "任务：{x}"
    if lang == "en" and template.startswith(("Please {x}", "Could you {x}")):
        # Only imperative instructions read well after "Please"/"Could you"; lower-case their first letter.
        if not re.match(r"^[A-Z][a-z]+ ", x) or x.endswith("?"):
            template = "Task: {x}"
        else:
            x = x[0].lower() + x[1:]
            if template.startswith("Could you"):
                x = x.rstrip(".") + "?"
    out = template.format(x=x)
    return out if out != instruction else None


def replace_synonyms(instruction: str, lang: str, rng: random.Random, rate: float = 0.5) -> str | None:
    table = SYNONYMS.get(lang)
    if not table:
        return None
    if lang == "en":
        def swap(m: re.Match) -> str:
            word = m.group(0)
            options = table.get(word.lower())
            if not options or rng.random() > rate:
                return word
            new = rng.choice(options)
            return new.capitalize() if word[0].isupper() else new
        out = _EN_WORD.sub(swap, instruction)
    else:
        out = instruction
        for phrase in sorted(table, key=len, reverse=True):
            if phrase in out and rng.random() <= rate:
                out = out.replace(phrase, rng.choice(table[phrase]), 1)
    return out if out != instruction else None


OPERATORS: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "instruction_paraphrase": paraphrase_instruction,
    "synonym_replace": replace_synonyms,
}


@dataclass(frozen=True)
class AugmentRules:
    seed: int = 13
    operators: tuple[str, ...] = ("instruction_paraphrase", "synonym_replace")
    # Augmented rows may make up at most this share of the output.
    max_augmented_share: float = 0.25
    # Chance that a given (pair, operator) is tried at all.
    apply_prob: float = 0.5


def augment_pairs(cleaned: pl.DataFrame, rules: AugmentRules = AugmentRules()) -> pl.DataFrame:
    """Originals (operator='original') plus augmented children naming their parent and operator."""
    unknown = set(rules.operators) - set(OPERATORS)
    if unknown:
        raise ValueError(f"augment operators: unknown {sorted(unknown)}; known are {sorted(OPERATORS)}")
    rng = random.Random(rules.seed)
    base = cleaned.with_columns(
        pl.lit("original").alias("operator"), pl.lit(None, pl.Utf8).alias("parent_pair_id"),
        pl.lit(False).alias("is_augmented"),
    )
    children = []
    for row in cleaned.iter_rows(named=True):
        if row["n_turns"] != 1:
            continue  # multi-turn context would no longer match a rewritten first turn
        for op in rules.operators:
            if rng.random() > rules.apply_prob:
                continue
            new_instruction = OPERATORS[op](row["instruction"], row["lang"], rng)
            if not new_instruction:
                continue
            messages = [dict(m) for m in row["messages"]]
            first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
            messages[first_user]["content"] = compose_user(new_instruction, row["input"])
            children.append({
                **row, "instruction": new_instruction, "messages": messages,
                "text": render_plain(new_instruction, row["input"], row["response"]),
                "pair_id": pair_id_of(messages), "operator": op, "parent_pair_id": row["pair_id"],
                "is_augmented": True,
            })
    # Cap: share = k / (n + k) <= s  =>  k <= s * n / (1 - s); keep a seeded random subset.
    n = cleaned.height
    cap = int(rules.max_augmented_share * n / (1 - rules.max_augmented_share)) if rules.max_augmented_share < 1 else len(children)
    if len(children) > cap:
        children = random.Random(rules.seed + 1).sample(children, cap)
    aug = pl.DataFrame(children, schema=base.schema) if children else base.clear()
    out = pl.concat([base, aug])
    # An augmented child can coincide with an existing pair; keep the first (originals come first).
    return out.unique(subset="pair_id", keep="first", maintain_order=True)
