"""Leak-free splits (groups, n-gram decontamination) and the mixture you can set.

The leak checker below is written independently of core/stratify/groups.py: for every validation or test pair it
looks for a train pair with the same near-duplicate cluster, augmentation family, folded prompt or passage.
"""
import json
import re
import unicodedata
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.augment.augmentation import augment_pairs
from instr_assets.core.clean.cleaning import clean_pairs
from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.raw_sources import read_all_sources
from instr_assets.core.ingest.unify import unify
from instr_assets.core.stratify.groups import LeakRules, contaminated_groups, leak_groups
from instr_assets.core.stratify.mixture import MixtureSpec
from instr_assets.core.stratify.split import SPLITS, SplitRules, stratify_and_split

PASSAGE_MIN = LeakRules().context_min_chars


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def leak_keys(row: dict) -> set[str]:
    keys = {f"c{row['cluster_id']}", f"f{row['parent_pair_id'] or row['pair_id']}",
            f"p{fold(row['instruction'] + row['input'])}"}
    context = row["input"] if row["input"].strip() else row["instruction"]
    return keys | {f"x{fold(block)}" for block in context.split("\n") if len(fold(block)) >= PASSAGE_MIN}


def leaked(splits: pl.DataFrame) -> dict[str, int]:
    """Validation/test pairs with a train relative, per kind of link (c cluster, f family, p prompt, x passage)."""
    rows = splits.select("pair_id", "cluster_id", "parent_pair_id", "instruction", "input", "split").to_dicts()
    train = set().union(*(leak_keys(r) for r in rows if r["split"] == "train"))
    found: dict[str, int] = {}
    for r in rows:
        if r["split"] != "train":
            for kind in sorted({k[0] for k in leak_keys(r) & train}):
                found[kind] = found.get(kind, 0) + 1
    return found


def shares_ngram_with_train(splits: pl.DataFrame, n: int = 13) -> int:
    """Validation/test pairs sharing an n-word run (lower-cased words, line by line) with a train pair."""
    def grams(text):
        return {tuple(w[i:i + n]) for line in text.split("\n") for w in [re.findall(r"[a-z0-9]+", line.lower())]
                for i in range(len(w) - n + 1)}
    texts = splits.select("split", pl.concat_str("instruction", pl.lit("\n"), "input").alias("t"))
    train = set().union(*(grams(t) for s, t in texts.iter_rows() if s == "train"))
    return sum(1 for s, t in texts.iter_rows() if s != "train" and grams(t) & train)


def frame(rows: list[dict]) -> pl.DataFrame:
    """Pairs with the columns stratify_and_split reads; each row gives at least pair_id and instruction."""
    full = [{"source": "hand", "input": "", "response": "An answer of a few words.", "n_turns": 1, "lang": "en",
             "domain_hint": None, "task_hint": None, "difficulty_hint": None, "parent_pair_id": None,
             "is_augmented": False} | r for r in rows]
    # Every row's keys count (a few rows set cluster_id or parent_pair_id), not only the first hundred's.
    df = pl.DataFrame(full, infer_schema_length=None, schema_overrides={
        k: pl.Utf8 for k in ("domain_hint", "task_hint", "difficulty_hint", "parent_pair_id")})
    if "cluster_id" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Utf8).alias("cluster_id"))
    return df.with_columns(pl.coalesce("cluster_id", "pair_id").alias("cluster_id"))


PASSAGE = ("The lighthouse on the northern cape was built in 1874 from granite quarried on the island, and its "
           "keepers logged every ship that passed until the light was automated in 1962, after which the cottages "
           "were let to painters and the logbooks went to the county archive.")


def test_each_link_ties_pairs_into_one_group():
    df = frame([
        {"pair_id": "a1", "instruction": "What is the capital of France?"},
        {"pair_id": "a2", "instruction": "  what is the CAPITAL of france ", "response": "Paris, of course."},
        {"pair_id": "b1", "instruction": "Answer from the text.", "input": f"{PASSAGE}\nWhen was it built?"},
        {"pair_id": "b2", "instruction": "Answer from the text.", "input": f"{PASSAGE}\nWhen was it automated?"},
        {"pair_id": "c1", "instruction": "Name a colour."},
        {"pair_id": "c2", "instruction": "Tell me one colour.", "parent_pair_id": "c1", "is_augmented": True},
        {"pair_id": "d1", "instruction": "Describe a cat."},
        {"pair_id": "d2", "instruction": "Describe a kitten.", "cluster_id": "d1"},
        {"pair_id": "e1", "instruction": "Answer from the text.", "input": f"{PASSAGE[:150]}\nWhen was it built?"},
    ])
    group_id, links = leak_groups(df)
    group = dict(zip(df["pair_id"], group_id))
    for x, y in (("a1", "a2"), ("b1", "b2"), ("c1", "c2"), ("d1", "d2")):
        assert group[x] == group[y], (x, y)
    # Different questions, or a passage under the length that makes it a shared context, stay apart.
    assert len({group[p] for p in ("a1", "b1", "c1", "d1", "e1")}) == 5
    per_link = {r["link"]: r["pairs"] for r in links.to_dicts()}
    assert per_link["prompt"] == 2 and per_link["context"] == 2 and per_link["family"] == 2
    # The group is named by its smallest cluster_id, so an augmented child's group is its parent's.
    assert group["c2"] == "c1" and group["d2"] == "d1"


def _leaky_frame(n_passages: int = 60, n_prompts: int = 60, n_single: int = 300) -> pl.DataFrame:
    rows = []
    for p in range(n_passages):  # reading comprehension: several questions on one passage
        passage = f"Passage {p}: " + " ".join(f"word{p}x{i}" for i in range(40))
        rows += [{"pair_id": f"p{p}q{q}", "instruction": "Read and answer.", "input": f"{passage}\nQuestion {q}?"}
                 for q in range(4)]
    for p in range(n_prompts):  # one prompt answered twice, differently
        rows += [{"pair_id": f"r{p}{k}", "instruction": f"Give an example of thing {p}.", "response": f"Answer {k}"}
                 for k in "ab"]
    for p in range(n_single):
        rows.append({"pair_id": f"s{p}", "instruction": f"Explain idea number {p} briefly."})
        if p % 5 == 0:
            rows.append({"pair_id": f"s{p}c", "instruction": f"Briefly explain idea {p}.", "parent_pair_id": f"s{p}",
                         "is_augmented": True})
        if p % 7 == 0:
            rows.append({"pair_id": f"s{p}n", "instruction": f"Explain idea no. {p} briefly!", "cluster_id": f"s{p}"})
    return frame(rows)


def test_no_test_item_has_a_relative_in_train_on_hand_made_pairs():
    df = _leaky_frame()
    result = stratify_and_split(df)
    splits = result.splits
    assert set(splits["split"]) == set(SPLITS) and result.dropped.height == 0
    assert leaked(splits) == {}
    # The checker can fail: split the same pairs by near-duplicate cluster alone (the old groups) and the
    # passage and prompt twins leak.
    by_cluster = splits.with_columns(
        pl.when(pl.col("cluster_id").hash(7) % 5 == 0).then(pl.lit("test")).otherwise(pl.lit("train")).alias("split"))
    old = leaked(by_cluster)
    assert old.get("x", 0) > 0 and old.get("p", 0) > 0


def test_a_test_item_sharing_a_long_ngram_with_train_moves_or_is_dropped():
    shared = "the quick brown fox jumps over the lazy dog near the old river bank at dawn"  # 16 words
    template = "Is this sentence about sports, politics, business, or science and technology today?"  # 13 words
    rows = [{"pair_id": f"t{i}", "instruction": f"Item {i} one two three.\n{template}"} for i in range(12)]
    rows += [{"pair_id": "x_train", "instruction": f"Summarize: {shared}."},
             {"pair_id": "x_test", "instruction": f"Translate this: {shared}!"},
             {"pair_id": "y_test", "instruction": "Count the words: " + " ".join(shared.split()[:12]) + "."},
             {"pair_id": "z_han_train", "instruction": "翻译：" + "春眠不觉晓处处闻啼鸟夜来风雨声花落知多少" + "。"},
             {"pair_id": "z_han_test", "instruction": "解释：" + "春眠不觉晓处处闻啼鸟夜来风雨声花落知多少" + "？"}]
    df = frame(rows).with_columns(pl.col("pair_id").alias("group_id"), pl.when(pl.col("pair_id").str.ends_with("test"))
                                  .then(pl.lit("test")).otherwise(pl.lit("train")).alias("split"))
    found = contaminated_groups(df)
    # 16 shared words and 20 shared Han characters catch; 12 words do not; nor does the template line that
    # twelve train items share with each other.
    assert found == {"x_test": ("test", "x_train"), "z_han_test": ("test", "z_han_train")}
    assert contaminated_groups(df, LeakRules(ngram_words=12, ngram_chars_zh=21))["y_test"] == ("test", "x_train")
    assert "z_han_test" not in contaminated_groups(df, LeakRules(ngram_chars_zh=21))


def _twins_frame() -> pl.DataFrame:
    rows = []
    for i in range(40):  # couples sharing one long unique sentence, otherwise different prompts
        sentence = " ".join(f"t{i}w{k}" for k in range(15))
        rows += [{"pair_id": f"k{i}a", "instruction": f"Summarize: {sentence}"},
                 {"pair_id": f"k{i}b", "instruction": f"Rewrite politely:\n{sentence} please"}]
    rows += [{"pair_id": f"f{i}", "instruction": f"Explain idea number {i}."} for i in range(300)]
    return frame(rows)


@pytest.mark.parametrize("action", ["move", "drop"])
def test_ngram_contamination_is_moved_to_train_or_dropped_with_its_reason(action):
    df = _twins_frame()
    result = stratify_and_split(df, SplitRules(leak=LeakRules(contaminated_action=action)))
    splits, moved = result.splits, result.moved
    assert shares_ngram_with_train(splits) == 0
    assert moved.height > 0 and set(moved["reason"]) == {"ngram_overlap"}
    assert set(moved["from_split"]) <= {"validation", "test"}
    assert all(p[:-1] == t[:-1] for p, t in moved.select("pair_id", "train_pair_id").iter_rows())  # its twin
    if action == "move":
        assert splits.height == df.height and result.dropped.height == 0
        assert set(splits.filter(pl.col("pair_id").is_in(moved["pair_id"].implode()))["split"]) == {"train"}
    else:
        assert set(result.dropped["pair_id"]) == set(moved["pair_id"])
        assert set(result.dropped["reason"]) == {"contaminated_ngram"}
        assert splits.height + result.dropped.height == df.height
    # Without the check, some twins straddle the splits: the n-gram count above could fail.
    unchecked = stratify_and_split(df, SplitRules(leak=LeakRules(ngram_words=1000, ngram_chars_zh=1000))).splits
    assert shares_ngram_with_train(unchecked) > 0


def _mix_frame() -> pl.DataFrame:
    rows = []
    for source, n in (("big", 2000), ("mid", 600), ("small", 200)):
        for i in range(n):
            # Every tenth prompt is asked twice: groups of two pairs as well as single ones.
            prompt = f"{source} question {i - 1 if i % 10 == 1 else i}?"
            rows.append({"pair_id": f"{source}{i}", "source": source, "instruction": prompt})
    return frame(rows)


def _achieved(result) -> dict[str, tuple[float, float]]:
    return {r["value"]: (r["target_share"], r["achieved_share"]) for r in result.mixture.to_dicts()}


def test_default_mixture_is_natural_and_drops_nothing():
    df = _mix_frame()
    result = stratify_and_split(df)
    assert result.dropped.height == 0 and result.splits.height == df.height
    assert set(result.splits["repeats"]) == {1}
    assert _achieved(result) == {"big": (0.7143, 0.7143), "mid": (0.2143, 0.2143), "small": (0.0714, 0.0714)}


def test_given_labels_replace_the_rules_and_a_group_shares_its_namers_labels():
    df = _mix_frame()
    rule_result = stratify_and_split(df)
    assert rule_result.splits["label_confidence"].null_count() == df.height
    # Model labels for all but the first ten pairs: those keep the keyword rules' labels.
    labels = df.select("pair_id", pl.lit("science").alias("domain"), pl.lit("classification").alias("task_type"),
                       pl.lit(0.7).alias("label_confidence"))[10:]
    out = stratify_and_split(df, labels=labels).splits
    group_domains = out.group_by("group_id").agg(pl.col("domain").n_unique().alias("n"), pl.col("pair_id"))
    assert group_domains["n"].max() == 1
    given = out.filter(pl.col("label_confidence").is_not_null())
    assert set(given["domain"]) == {"science"} and set(given["task_type"]) == {"classification"}
    ruled = out.filter(pl.col("label_confidence").is_null())
    expected = rule_result.splits.filter(pl.col("pair_id").is_in(ruled["pair_id"].to_list()))
    assert ruled.sort("pair_id")["domain"].to_list() == expected.sort("pair_id")["domain"].to_list()
    assert 0 < ruled.height <= 11  # the first ten, and a group's partner that takes their labels


@pytest.mark.parametrize("max_repeats", [3, 2])
def test_mixture_targets_are_met_within_two_points_and_repeats_capped(max_repeats):
    df = _mix_frame()
    targets = {"big": 0.5, "mid": 0.3, "small": 0.2}
    result = stratify_and_split(df, SplitRules(mixture=MixtureSpec(targets=targets, max_repeats=max_repeats)))
    for value, (target, achieved) in _achieved(result).items():
        assert target == targets[value] and abs(achieved - target) <= 0.02, (value, target, achieved)
    splits = result.splits
    assert splits["repeats"].max() == max_repeats and splits["repeats"].min() >= 1
    # Whole groups are repeated or dropped: a prompt asked twice keeps both answers, with one count.
    per_group = splits.group_by("group_id").agg(pl.col("repeats").n_unique().alias("n"))
    assert (per_group["n"] == 1).all()
    assert set(result.dropped["reason"]) == {"mixture_downsample"}
    assert set(result.dropped["pair_id"]).isdisjoint(set(splits["pair_id"]))
    assert splits.height + result.dropped.height == df.height
    # With two copies at most, "small" (200 pairs, 20%) caps the total at 2000 pairs.
    total = int(splits["repeats"].sum())
    assert result.strata["pairs_before"].sum() == df.height and result.strata["pairs_after"].sum() == total
    assert (total == pytest.approx(2000, abs=5)) if max_repeats == 2 else total == pytest.approx(2800, abs=5)


def test_temperature_flattens_the_mixture_and_bad_specs_are_named():
    df = _mix_frame()
    result = stratify_and_split(df, SplitRules(mixture=MixtureSpec(temperature=2.0)))
    weights = {"big": 2000 ** 0.5, "mid": 600 ** 0.5, "small": 200 ** 0.5}
    for value, (target, achieved) in _achieved(result).items():
        assert target == pytest.approx(weights[value] / sum(weights.values()), abs=1e-4)
        assert abs(achieved - target) <= 0.02
    with pytest.raises(ValueError, match=r"absent from the data: \['tiny'\]"):
        stratify_and_split(df, SplitRules(mixture=MixtureSpec(targets={"tiny": 1.0})))
    with pytest.raises(ValueError, match="mixture 'by' must be one of"):
        stratify_and_split(df, SplitRules(mixture=MixtureSpec(by="colour")))


# ---------------------------------------------------------------- the real shared data

@pytest.fixture(scope="module")
def shared_pairs(data_dir, tmp_path_factory) -> pl.DataFrame:
    """cmrc2018 (many questions per passage) and two self-instruct T0 template files (repeated prompts),
    through the real readers, cleaning and augmentation."""
    yaml = tmp_path_factory.mktemp("sources") / "sources.yaml"
    t0 = "    format: tabular\n    columns: {instruction: prompt, response: completion}\n"
    yaml.write_text(f"data_roots: ['{data_dir}']\nsources:\n"
                    f"  - name: cmrc\n    format: squad\n    path: '{data_dir / 'cmrc2018/cmrc2018_trial.json'}'\n"
                    f"  - name: t0_news\n{t0}    path: '{data_dir / 'self_instruct/t0_ag_news_classify_with_choices.jsonl'}'\n"
                    f"  - name: t0_gen\n{t0}    path: '{data_dir / 'self_instruct/t0_common_gen_Given_concepts_type_1.jsonl'}'\n",
                    encoding="utf-8")
    entries, base = sc.load_sources(yaml)
    unified, _ = unify(read_all_sources(entries, base), {e.name: json.loads(e.model_dump_json()) for e in entries})
    cleaned, _ = clean_pairs(unified)
    return augment_pairs(cleaned)


def test_shared_data_splits_do_not_leak(shared_pairs):
    result = stratify_and_split(shared_pairs)
    splits = result.splits
    assert result.dropped.height == 0 and splits.height == shared_pairs.height
    assert leaked(splits) == {}
    assert {r["link"]: r["pairs"] > 0 for r in result.links.to_dicts()} == dict.fromkeys(
        ("cluster", "family", "prompt", "context"), True)
    rows = dict(splits.group_by("split").len().iter_rows())
    assert all(rows[s] >= 50 for s in ("validation", "test")), rows
    # Split by near-duplicate cluster alone (the old rule), passages and prompts do leak on this data.
    old = leaked(splits.with_columns(
        pl.when(pl.col("cluster_id").hash(3) % 5 == 0).then(pl.lit("test")).otherwise(pl.lit("train")).alias("split")))
    assert old.get("x", 0) > 50 and old.get("p", 0) > 0


def test_shared_data_mixture_within_two_points(shared_pairs):
    targets = {"cmrc": 0.5, "t0_news": 0.3, "t0_gen": 0.2}
    result = stratify_and_split(shared_pairs, SplitRules(mixture=MixtureSpec(targets=targets)))
    for value, (target, achieved) in _achieved(result).items():
        assert abs(achieved - target) <= 0.02, (value, target, achieved)
    assert leaked(result.splits) == {}


# ---------------------------------------------------------------- the asset

def test_asset_writes_each_split_and_reports_the_mixture_with_model_labels(tmp_path):
    import dagster as dg

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    root = tmp_path / "out"
    result = dg.materialize(ALL_ASSETS, selection=["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs",
                                                   "stratified_splits"],
                            resources={"data_store": DataStoreResource(root=str(root))},
                            run_config={"ops": {"stratified_splits": {"config": {"label_method": "model"}}}})
    assert result.success
    live = Path(root / "published" / "stratified_splits")
    combined = pl.read_parquet(live / "stratified_splits.parquet")
    for part in SPLITS:
        own = pl.read_parquet(live / f"stratified_splits_{part}.parquet")
        assert own.height > 0 and set(own["split"]) == {part}
        assert sorted(own["pair_id"]) == sorted(combined.filter(pl.col("split") == part)["pair_id"])
    assert leaked(combined) == {}
    metadata = result.asset_materializations_for_node("stratified_splits")[0].metadata
    assert metadata["dropped"].value == 0 and metadata["copies_added_by_repeats"].value == 0
    mixture = [r.data for r in metadata["mixture"].value.records]
    assert mixture and all(r["target_share"] == r["achieved_share"] for r in mixture)
    assert pl.read_parquet(live / "stratified_splits_moved.parquet").height == metadata["moved_to_train_by_ngram"].value
    # Model labels reached the strata: every group carries the confidence of the pair that names it.
    assert combined["label_confidence"].null_count() == 0
    assert combined["label_confidence"].min() > 0
