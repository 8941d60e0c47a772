"""Leak groups: the pairs that must share a split, and the n-gram check of validation and test against train.

A group is the union (connected components) of four links between pairs:
- `cluster`: the same near-duplicate cluster from cleaning (`cluster_id`);
- `family`: an augmented child and its parent (`parent_pair_id`);
- `prompt`: the same prompt (instruction + input) once folded: NFKC, lower case, letters and digits only, so
  that one question answered twice with different answers cannot sit on both sides;
- `context`: the same long passage (a paragraph of the input, or of the instruction when there is no input,
  of at least `context_min_chars` folded characters), which several reading-comprehension questions share.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from ..clean.decontaminate import _token_runs

LINKS = ("cluster", "family", "prompt", "context")


@dataclass(frozen=True)
class LeakRules:
    context_min_chars: int = 200
    ngram_words: int = 13
    ngram_chars_zh: int = 20
    # An n-gram in this many groups or more is template text ("Is this a piece of news regarding ..."), not
    # content: it says nothing about one item being another's copy.
    template_min_groups: int = 10
    # What happens to a validation/test group sharing an n-gram with train: "move" (to train) or "drop".
    contaminated_action: str = "move"


def _folded(expr: pl.Expr) -> pl.Expr:
    return expr.fill_null("").str.normalize("NFKC").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")


def _link_keys(pairs: pl.DataFrame, rules: LeakRules) -> pl.DataFrame:
    """(row, key) for every link a pair has; the key names its kind so kinds never collide."""
    rows = pairs.select(
        pl.int_range(pl.len()).alias("row"), pl.coalesce("cluster_id", "pair_id").alias("cluster_id"), "pair_id", "parent_pair_id",
        _folded(pl.concat_str(pl.col("instruction").fill_null(""), pl.lit("\n"), pl.col("input").fill_null(""))).alias("prompt"),
        pl.when(pl.col("input").fill_null("").str.strip_chars() != "").then(pl.col("input"))
        .otherwise(pl.col("instruction")).fill_null("").alias("context"),
    )
    cluster = rows.select("row", pl.format("cluster:{}", "cluster_id").alias("key"))
    family = rows.select("row", pl.format("family:{}", pl.coalesce("parent_pair_id", "pair_id")).alias("key"))
    prompt = rows.filter(pl.col("prompt") != "").select("row", pl.format("prompt:{}", "prompt").alias("key"))
    context = (rows.select("row", pl.col("context").str.split("\n").alias("block")).explode("block")
               .with_columns(_folded(pl.col("block")).alias("block"))
               .filter(pl.col("block").str.len_chars() >= rules.context_min_chars)
               .select("row", pl.format("context:{}", pl.col("block").hash()).alias("key")))
    return pl.concat([cluster, family, prompt, context]).unique()


def leak_groups(pairs: pl.DataFrame, rules: LeakRules = LeakRules()) -> tuple[pl.Series, pl.DataFrame]:
    """(group_id per row of `pairs`, links): the group is named by the smallest `cluster_id` among its pairs;
    `links` counts, per kind, the keys that several pairs share and the pairs they tie together."""
    keys = _link_keys(pairs, rules)
    shared = keys.group_by("key").agg(pl.col("row").sort()).filter(pl.col("row").list.len() > 1)
    parent = list(range(pairs.height))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for rows in shared["row"].to_list():
        first = root(rows[0])
        for other in rows[1:]:
            r = root(other)
            if r != first:
                parent[r] = first
    roots = pl.DataFrame({"root": [root(i) for i in range(pairs.height)],
                          "cluster_id": pairs.select(pl.coalesce("cluster_id", "pair_id"))["cluster_id"]})
    group_id = roots.with_columns(pl.col("cluster_id").min().over("root"))["cluster_id"].alias("group_id")
    links = (shared.explode("row").with_columns(pl.col("key").str.extract(r"^(\w+):").alias("link"))
             .group_by("link").agg(pl.col("key").n_unique().alias("shared_keys"), pl.col("row").n_unique().alias("pairs"))
             .join(pl.DataFrame({"link": LINKS}), on="link", how="right")
             .select("link", pl.col("shared_keys").fill_null(0), pl.col("pairs").fill_null(0)))
    return group_id, links


def _ngrams(text: str, rules: LeakRules) -> set[int]:
    """Hashes of the text's word and Han n-grams, line by line: an n-gram across a line break would join a
    task's wording to the start of its passage."""
    found = set()
    for line in text.split("\n"):
        words, han = _token_runs(line)
        for seq, n in ((words, rules.ngram_words), (han, rules.ngram_chars_zh)):
            found.update(hash((n, *seq[i:i + n])) for i in range(len(seq) - n + 1))
    return found


def _without_template_lines(texts: pl.DataFrame, min_groups: int) -> pl.DataFrame:
    """`texts` with the lines found in `min_groups` groups or more taken out: a task's fixed wording ("阅读下面的
    文章，用文中的原话简短回答问题。") would otherwise join with the first words of any passage into an n-gram that
    two unrelated items share."""
    lines = (texts.select("pair_id", "group_id", pl.col("text").str.split("\n").alias("line"))
             .explode("line")
             .with_columns(pl.int_range(pl.len()).over("pair_id").alias("at"), _folded(pl.col("line")).alias("folded")))
    common = (lines.group_by("folded").agg(pl.col("group_id").n_unique().alias("n"))
              .filter((pl.col("n") >= min_groups) & (pl.col("folded") != "")).select("folded"))
    kept = (lines.join(common, on="folded", how="anti").sort("pair_id", "at")
            .group_by("pair_id", maintain_order=True).agg(pl.col("line").str.join("\n").alias("text")))
    return texts.drop("text").join(kept, on="pair_id", how="left").with_columns(pl.col("text").fill_null(""))


def contaminated_groups(splits: pl.DataFrame, rules: LeakRules = LeakRules()) -> dict[str, tuple[str, str]]:
    """{group_id: (split it was in, pair_id of the train pair it shares a long n-gram with)} for validation and
    test groups whose prompt shares an n-gram (`ngram_words` words, or `ngram_chars_zh` Han characters) with a
    train prompt. A group found so joins train, and may in turn catch others: the scan repeats until none is."""
    texts = _without_template_lines(splits.select(
        "group_id", "pair_id", "split",
        pl.concat_str(pl.col("instruction").fill_null(""), pl.lit("\n"), pl.col("input").fill_null("")).alias("text")),
        rules.template_min_groups)
    grams: dict[str, set[int]] = {}
    first_pair: dict[str, dict[int, str]] = {}
    for group, pair, text in texts.sort("pair_id").select("group_id", "pair_id", "text").iter_rows():
        for gram in _ngrams(text, rules):
            grams.setdefault(group, set()).add(gram)
            first_pair.setdefault(group, {}).setdefault(gram, pair)  # the smallest pair_id: pairs come sorted
    in_groups = Counter(g for group_grams in grams.values() for g in group_grams)
    template = {g for g, n in in_groups.items() if n >= rules.template_min_groups}
    split_of = dict(texts.select("group_id", "split").unique("group_id").sort("group_id").iter_rows())
    train: dict[int, str] = {}  # n-gram -> the train pair holding it

    def join_train(group: str) -> None:
        for gram in grams.get(group, ()):
            if gram not in template:
                pair = first_pair[group][gram]
                train[gram] = min(train.get(gram, pair), pair)

    for group, part in split_of.items():
        if part == "train":
            join_train(group)
    found: dict[str, tuple[str, str]] = {}
    pending = sorted(g for g, part in split_of.items() if part != "train" and g in grams)
    while True:
        caught = {}
        for group in pending:
            hit = min((train[g] for g in grams[group] if g in train), default=None)
            if hit is not None:
                caught[group] = (split_of[group], hit)
        if not caught:
            return found
        found |= caught
        for group in caught:
            join_train(group)
        pending = [g for g in pending if g not in caught]
