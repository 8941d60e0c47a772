"""Label each pair with domain, task type and difficulty; sample to a mixture; split leak-free.

Pairs that could leak into each other form one group (groups.py: near-duplicate cluster, augmentation family,
same folded prompt, shared passage) and always share a split; sampling drops or repeats whole groups
(mixture.py); validation and test groups sharing a long n-gram with train then move to train (or are dropped).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import polars as pl

from .difficulty import DIFFICULTIES
from .groups import LeakRules, contaminated_groups, leak_groups
from .mixture import MixtureSpec, counts_before_after, mixture_report, sample_groups

DOMAINS = (
    "science", "history_geography", "cooking_health", "programming", "writing_language", "math_reasoning",
    "everyday_advice", "business_finance", "general",
)
TASK_TYPES = (
    "open_qa", "extractive_qa", "classification", "rewriting", "generation", "coding", "calculation",
    "text_manipulation", "multi_turn_chat",
)
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
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    mixture: MixtureSpec = MixtureSpec()
    leak: LeakRules = LeakRules()


@dataclass(frozen=True)
class SplitResult:
    splits: pl.DataFrame  # one row per kept pair, with its labels, group_id, split and repeats
    dropped: pl.DataFrame  # pair_id, group_id, source, stratum, reason, detail
    moved: pl.DataFrame  # validation/test pairs moved to train by the n-gram check, with the shared train pair
    mixture: pl.DataFrame  # per mixture value: pairs before and after, target and achieved share
    strata: pl.DataFrame  # per stratum: pairs before and after sampling
    links: pl.DataFrame  # per link kind: shared keys and the pairs they tie into groups


_PERIOD = 1000


def _systematic_split(rules: SplitRules) -> pl.Expr:
    """Systematic assignment over the stratum-ordered list of groups: every stratum gets its share of each
    split, and small strata still contribute across the cycle."""
    n_val = round(rules.validation_fraction * _PERIOD)
    n_test = round(rules.test_fraction * _PERIOD)
    cycle = (pl.int_range(pl.len()) * 97) % _PERIOD  # 97 is coprime with 1000: spreads positions over the cycle
    return (pl.when(cycle < n_val).then(pl.lit("validation"))
            .when(cycle < n_val + n_test).then(pl.lit("test"))
            .otherwise(pl.lit("train")))


def min_groups_for_all_splits(rules: SplitRules) -> int | None:
    """The fewest groups (after mixture sampling) that reach train, validation and test under `rules`; None when
    a fraction is too small for any number of groups to reach its split."""
    positions = pl.DataFrame({"position": range(_PERIOD)}).with_columns(_systematic_split(rules).alias("split"))
    first = positions.group_by("split").agg(pl.col("position").min())
    return int(first["position"].max()) + 1 if first.height == len(SPLITS) else None


def short_splits_message(sizes: dict[str, int], pairs: int, groups: int, rules: SplitRules,
                         min_pairs_per_split: int) -> str | None:
    """Why some split holds fewer than `min_pairs_per_split` pairs, with the input's size, the minimum it would
    take and what to do; None when no split is short. `pairs` and `groups` count the input to the split, after
    mixture sampling."""
    short = [f"{s} has {n}" for s, n in sizes.items() if n < min_pairs_per_split]
    if not short:
        return None
    need = min_groups_for_all_splits(rules)
    fractions = f"validation_fraction {rules.validation_fraction}, test_fraction {rules.test_fraction}"
    if need is None:
        return (f"{', '.join(short)} pairs: with {fractions} no number of groups reaches every split; "
                f"raise the smaller fraction to at least {0.5 / _PERIOD}")
    head = (f"{pairs} pairs in {groups} groups (near-duplicates, augmented children, one prompt or questions on "
            f"one passage form one group) are too few for a train/validation/test split ({', '.join(short)}), and ")
    if groups < need:
        return head + (f"it takes at least {need} groups to give every split one ({fractions}); add pairs to "
                       "the sources (see README, \"Your own data\")")
    return head + (f"min_pairs_per_split is {min_pairs_per_split}; add pairs to the sources, or lower "
                   "min_pairs_per_split in the stratified_splits config")


def _labelled(pairs: pl.DataFrame, rules: SplitRules, given: pl.DataFrame | None,
              difficulty: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`pairs` with group_id, the group's labels and stratum, `_row` (input order) and `_order`, a seeded
    shuffle of the groups; the links that made the groups). `given` (pair_id, domain, task_type,
    label_confidence) replaces the keyword rules' domain and task type where it has the pair; `difficulty`
    (pair_id, difficulty, response_loss, ifd: difficulty.model_difficulty's labels) the length rule's difficulty."""
    group_id, links = leak_groups(pairs, rules.leak)
    labelled = pairs.with_columns(group_id, pl.int_range(pl.len()).alias("_row"))
    parents = labelled.filter(~pl.col("is_augmented"))
    by_pair = {} if given is None else {
        r["pair_id"]: (r["domain"], r["task_type"], r["label_confidence"]) for r in given.iter_rows(named=True)}
    scored = (pl.DataFrame(schema={"pair_id": pl.Utf8, "difficulty": pl.Utf8, "response_loss": pl.Float64, "ifd": pl.Float64})
              if difficulty is None else difficulty.select("pair_id", "difficulty", "response_loss", "ifd"))
    difficulty_of = dict(scored.select("pair_id", "difficulty").iter_rows())
    labels = []
    for row in parents.iter_rows(named=True):
        domain, task, confidence = by_pair.get(row["pair_id"]) or (label_domain(row), label_task_type(row), None)
        labels.append((row["group_id"], row["pair_id"] == row["group_id"], row["pair_id"], domain, task,
                       difficulty_of.get(row["pair_id"]) or label_difficulty(row), confidence))
    # A group takes the labels of the pair that names it (the kept pair of its first cluster), else of its
    # smallest pair_id, so that every pair of a group sits in one stratum.
    lab = (pl.DataFrame(labels, schema={"group_id": pl.Utf8, "_names": pl.Boolean, "_pair": pl.Utf8, "domain": pl.Utf8,
                                        "task_type": pl.Utf8, "difficulty": pl.Utf8, "label_confidence": pl.Float64},
                        orient="row")
           .sort(["group_id", "_names", "_pair"], descending=[False, True, False])
           .unique("group_id", keep="first", maintain_order=True).drop("_names", "_pair"))
    # The scores stay with the pair they were computed on: an augmented child has none of its own.
    labelled = labelled.join(scored.drop("difficulty"), on="pair_id", how="left")
    return labelled.join(lab, on="group_id", how="left").with_columns(
        pl.concat_str("domain", "task_type", "difficulty", separator="/").alias("stratum"),
        pl.col("group_id").map_elements(lambda g: _stable_unit(str(rules.seed), g), return_dtype=pl.UInt64).alias("_order"),
    ), links


def _dropped(rows: pl.DataFrame, reason: str, detail: pl.Expr) -> pl.DataFrame:
    return rows.select("pair_id", "group_id", "source", "stratum", pl.lit(reason).alias("reason"), detail.alias("detail"))


def stratify_and_split(pairs: pl.DataFrame, rules: SplitRules = SplitRules(), labels: pl.DataFrame | None = None,
                       difficulty: pl.DataFrame | None = None) -> SplitResult:
    """Label, sample to the mixture and split by leak groups; then move (or drop) validation and test groups
    sharing a long n-gram with train. `labels` (model_labels' output) takes the place of the keyword rules'
    domain and task type; label_confidence is null for rule labels. `difficulty` (model_difficulty's labels)
    takes the place of the length rule's difficulty; response_loss and ifd are null where it has no score."""
    if rules.validation_fraction + rules.test_fraction >= 1:
        raise ValueError("validation_fraction + test_fraction must be below 1")
    if rules.leak.contaminated_action not in ("move", "drop"):
        raise ValueError(f"contaminated_action must be 'move' or 'drop', not {rules.leak.contaminated_action!r}")
    rules.mixture.validate()
    labelled, links = _labelled(pairs, rules, labels, difficulty)
    by = rules.mixture.by
    # A group counts toward its most common value of `by` (the only one, except for `source` now and then).
    groups = (labelled.group_by("group_id", by).agg(pl.len().alias("n"), pl.col("_order").first())
              .sort(["group_id", "n", by], descending=[False, True, False]).group_by("group_id", maintain_order=True)
              .agg(pl.col(by).first().alias("mix_value"), pl.col("_order").first().alias("order"), pl.col("n").sum().alias("pairs")))
    sampled, shares = sample_groups(groups, rules.mixture)
    out = labelled.join(sampled.select("group_id", "repeats"), on="group_id")
    down = out.filter(pl.col("repeats") == 0).drop("repeats")
    dropped = [_dropped(down, "mixture_downsample", pl.format(
        "{} '{}' sampled down to its target share {}", pl.lit(by), pl.col(by),
        pl.col(by).replace_strict(shares, default=0.0, return_dtype=pl.Float64).round(4)))]
    out = out.filter(pl.col("repeats") > 0)
    kept = (out.select("group_id", "stratum", "_order").unique("group_id").sort("stratum", "_order")
            .with_columns(_systematic_split(rules).alias("split")).select("group_id", "split"))
    out = out.join(kept, on="group_id")
    caught = contaminated_groups(out, rules.leak)
    moved = pl.DataFrame({"group_id": list(caught), "from_split": [v[0] for v in caught.values()],
                          "train_pair_id": [v[1] for v in caught.values()]},
                         schema={"group_id": pl.Utf8, "from_split": pl.Utf8, "train_pair_id": pl.Utf8})
    moved = out.join(moved, on="group_id").select(
        "pair_id", "group_id", "source", "from_split", "train_pair_id",
        pl.lit("ngram_overlap").alias("reason"),
        pl.format("prompt shares a {}-word or {}-Han-character n-gram with train pair {}",
                  pl.lit(rules.leak.ngram_words), pl.lit(rules.leak.ngram_chars_zh), "train_pair_id").alias("detail"))
    if rules.leak.contaminated_action == "drop":
        contaminated = out.filter(pl.col("group_id").is_in(list(caught)))
        dropped.append(_dropped(contaminated.join(moved.select("pair_id", "detail"), on="pair_id"),
                                "contaminated_ngram", pl.col("detail")))
        out = out.filter(~pl.col("group_id").is_in(list(caught)))
    else:
        out = out.with_columns(pl.when(pl.col("group_id").is_in(list(caught))).then(pl.lit("train"))
                               .otherwise(pl.col("split")).alias("split"))
    # Input order, whatever order the joins left: the data version hashes rows in order.
    return SplitResult(out.sort("_row").drop("_order", "_row"), pl.concat(dropped).sort("pair_id"), moved.sort("pair_id"),
                       mixture_report(labelled, out, by, shares), counts_before_after(labelled, out, "stratum"), links)
