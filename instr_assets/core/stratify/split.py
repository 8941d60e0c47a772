"""Label each pair with domain, task type and difficulty; sample in balance per stratum; split.

A near-duplicate cluster (see clean.py) and all augmented children of its pairs form one group and always share
a split.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import polars as pl

DOMAINS = (
    "science", "history_geography", "cooking_health", "programming", "writing_language", "math_reasoning",
    "everyday_advice", "business_finance", "general",
)
TASK_TYPES = (
    "open_qa", "extractive_qa", "classification", "rewriting", "generation", "coding", "calculation",
    "text_manipulation", "multi_turn_chat",
)
DIFFICULTIES = ("easy", "medium", "hard")
SPLITS = ("train", "validation", "test")

_DOMAIN_KEYWORDS = {
    "programming": r"python|javascript|\bsql\b|\bcode\b|function|algorithm|program|bug|编程|代码|函数|算法|程序",
    "math_reasoning": r"\bmath|equation|calculate|probability|prime|percent|arithmetic|数学|方程|计算|概率|质数|百分",
    "science": r"physics|chemistry|biology|atom|planet|energy|cell|climate|科学|物理|化学|生物|原子|行星|能量|细胞|气候",
    "history_geography": r"history|war|empire|dynasty|country|capital|river|mountain|历史|战争|朝代|国家|首都|河|山脉|地理",
    "cooking_health": r"recipe|cook|food|diet|health|exercise|sleep|菜|烹饪|食物|饮食|健康|运动|睡眠",
    "business_finance": r"business|market|finance|invest|budget|company|tax|money|商业|市场|金融|投资|预算|公司|税|钱",
    "writing_language": r"write|essay|poem|story|grammar|translate|sentence|写|作文|诗|故事|语法|翻译|句子",
    "everyday_advice": r"advice|tips|how can i|should i|habit|建议|技巧|习惯|怎么办",
}
_TASK_HINTS = {
    "arithmetic": "calculation", "unit_conversion": "calculation", "date_arithmetic": "calculation",
    "string_manipulation": "text_manipulation", "list_manipulation": "text_manipulation",
    "extractive_qa": "extractive_qa",
}
_TASK_KEYWORDS = [
    ("coding", r"```|\bpython\b|\bfunction\b|\bcode\b|\bsql\b|代码|函数|程序"),
    ("classification", r"classify|categor|sentiment|which of the following|positive or negative|分类|情感|属于哪"),
    ("rewriting", r"rewrite|paraphrase|translate|summari[sz]e|correct the|simplify|改写|翻译|总结|概括|改正|润色"),
    ("generation", r"\bwrite\b|compose|\blist\b|brainstorm|suggest|generate|create|写|列出|列举|生成|创作|想出"),
]


def _stable_unit(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def label_domain(row: dict) -> str:
    hint = (row.get("domain_hint") or "").strip().lower()
    if hint in DOMAINS:
        return hint
    if row.get("task_hint") in ("arithmetic", "unit_conversion", "date_arithmetic"):
        return "math_reasoning"
    text = f"{hint} {row['instruction']} {row['input']}".lower()
    for domain, pattern in _DOMAIN_KEYWORDS.items():
        if re.search(pattern, text):
            return domain
    return "general"


def label_task_type(row: dict) -> str:
    if row.get("task_hint") in _TASK_HINTS:
        return _TASK_HINTS[row["task_hint"]]
    if row["n_turns"] > 1:
        return "multi_turn_chat"
    text = f"{row['instruction']}\n{row['response'][:200]}".lower()
    for task, pattern in _TASK_KEYWORDS:
        if re.search(pattern, text):
            return task
    return "open_qa"


def label_difficulty(row: dict) -> str:
    if row.get("difficulty_hint") in DIFFICULTIES:
        return row["difficulty_hint"]
    response = row["response"]
    # Length of the expected answer is a usable proxy: characters for Chinese, words otherwise.
    size = len(response) / 2 if row["lang"] == "zh" else len(response.split())
    level = 0 if size < 30 else 1 if size < 120 else 2
    if row["n_turns"] > 1:
        level = max(level, 1)
    return DIFFICULTIES[level]


@dataclass(frozen=True)
class SplitRules:
    seed: int = 2024
    max_groups_per_stratum: int = 60
    validation_fraction: float = 0.1
    test_fraction: float = 0.1


def stratify_and_split(pairs: pl.DataFrame, rules: SplitRules = SplitRules()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(stratified_splits, dropped) — dropped rows are those over a stratum's cap, with the reason."""
    if rules.validation_fraction + rules.test_fraction >= 1:
        raise ValueError("validation_fraction + test_fraction must be below 1")
    # A group is a near-duplicate cluster (cleaning's cluster_id, which augmented children inherit), so that
    # neither a paraphrase nor a near-twin of a test pair can sit in train.
    labelled = pairs.with_columns(pl.col("cluster_id").alias("group_id"))
    parents = labelled.filter(~pl.col("is_augmented"))
    labels = [(row["group_id"], row["pair_id"] == row["group_id"], label_domain(row), label_task_type(row),
               label_difficulty(row)) for row in parents.iter_rows(named=True)]
    # A group takes the labels of the pair that names it (the kept pair of a cluster), else its first member.
    lab = (pl.DataFrame(labels, schema={"group_id": pl.Utf8, "_names": pl.Boolean, "domain": pl.Utf8,
                                        "task_type": pl.Utf8, "difficulty": pl.Utf8}, orient="row")
           .sort("_names", descending=True, maintain_order=True).unique("group_id", keep="first").drop("_names"))
    labelled = labelled.join(lab, on="group_id", how="left").with_columns(
        pl.concat_str("domain", "task_type", "difficulty", separator="/").alias("stratum")
    )
    # Order groups inside each stratum by a seeded hash: the same seed gives the same sample and split.
    groups = (
        labelled.select("group_id", "stratum").unique("group_id")
        .with_columns(pl.col("group_id").map_elements(lambda g: _stable_unit(str(rules.seed), g), return_dtype=pl.UInt64).alias("_h"))
        .sort("stratum", "_h")
        .with_columns(pl.int_range(pl.len()).over("stratum").alias("_rank"))
    )
    kept_groups = groups.filter(pl.col("_rank") < rules.max_groups_per_stratum)
    # Systematic assignment over the stratum-ordered list: every stratum gets its share of each split,
    # and small strata still contribute across the cycle.
    period = 1000
    n_val = round(rules.validation_fraction * period)
    n_test = round(rules.test_fraction * period)
    cycle = (pl.int_range(pl.len()) * 97) % period  # 97 is coprime with 1000: spreads positions over the cycle
    kept_groups = kept_groups.with_columns(
        pl.when(cycle < n_val).then(pl.lit("validation"))
        .when(cycle < n_val + n_test).then(pl.lit("test"))
        .otherwise(pl.lit("train")).alias("split")
    ).select("group_id", "split")
    out = labelled.join(kept_groups, on="group_id", how="left")
    dropped = out.filter(pl.col("split").is_null()).select(
        "pair_id", "group_id", "source", "stratum",
        pl.lit("stratum_cap").alias("reason"),
        pl.format("stratum over its cap of {} groups", pl.lit(rules.max_groups_per_stratum)).alias("detail"),
    )
    return out.filter(pl.col("split").is_not_null()), dropped
