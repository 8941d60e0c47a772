"""The cleaning stage's faster paths decide what the slower ones decide: the repetition mask's cascade of
bounds never rules out a response the filter flags, the kept rows are written in part order with their cluster
ids whichever writer encodes them, and MinHash signatures do not depend on how many threads compute them."""
import random

import numpy as np
import polars as pl
import pytest

from instr_assets.core.clean import cleaning
from instr_assets.core.clean.near_dedup import NearDupRules, minhash_signatures
from instr_assets.core.clean.quality import DEFAULT_RULES, _may_repeat, repetition


@pytest.mark.parametrize("text, lang", [
    ("word " * 30, "en"),  # one distinct word: its unsigned count minus two wrapped around before
    ("好" * 40, "zh"),  # one distinct character pair
    ("ab " * 40, "en"),
    ("你好" * 30, "zh"),
    ("哈哈哈。" * 20, "zh"),
    ("the cat sat on the mat and " * 12, "en"),
])
def test_repeat_mask_keeps_loops_of_few_units(text, lang):
    assert repetition(text, lang, DEFAULT_RULES)
    assert _may_repeat(pl.Series([text]), pl.Series([lang]), DEFAULT_RULES).to_list() == [True]


def _generated_responses(seed: int = 7) -> tuple[list[str], list[str]]:
    """English texts over vocabularies of 3 to 400 words and Chinese texts over 4 to 1,500 characters, 5 to
    3,000 units long: loops, borderline texts and ordinary ones, in both languages."""
    rng = random.Random(seed)
    words = [f"w{i}x" for i in range(400)]
    han = [chr(0x4E00 + i * 7) for i in range(1500)]
    texts, langs = [], []
    for _ in range(300):
        size = rng.choice([3, 10, 40, 150, 400])
        texts.append(" ".join(rng.choice(words[:size]) for _ in range(rng.choice([5, 25, 80, 300, 1000]))))
        langs.append("en")
        size = rng.choice([4, 30, 200, 600, 1500])
        texts.append("".join(rng.choice(han[:size]) for _ in range(rng.choice([5, 30, 200, 1000, 3000]))))
        langs.append("zh")
    return texts, langs


def test_repeat_mask_never_rules_out_what_the_filter_flags():
    texts, langs = _generated_responses()
    mask = _may_repeat(pl.Series(texts), pl.Series(langs), DEFAULT_RULES).to_list()
    flagged = [bool(repetition(t, lang, DEFAULT_RULES)) for t, lang in zip(texts, langs)]
    assert sum(flagged) > 50 and not all(flagged)
    assert [i for i, (f, m) in enumerate(zip(flagged, mask)) if f and not m] == []
    # The mask is worth having: it rules out most of the texts the filter lets through (the rest are small
    # vocabularies, whose words repeat while their 3-grams do not).
    passed = [m for f, m in zip(flagged, mask) if not f]
    assert sum(passed) < 0.5 * len(passed)


def test_character_pairs_decide_long_chinese_texts_the_characters_cannot():
    # 3,000 characters over 1,500 distinct ones: at most 1,496 distinct 5-grams by the characters' bound (half
    # of 2,996 may repeat), while the pairs show nearly all of them distinct.
    rng = random.Random(3)
    text = "".join(chr(0x4E00 + rng.randrange(1500) * 7) for _ in range(3000))
    units = len(text) - DEFAULT_RULES.char_ngram + 1
    assert (units - (len(set(text)) - (DEFAULT_RULES.char_ngram - 1))) / units > DEFAULT_RULES.max_repetition
    assert not repetition(text, "zh", DEFAULT_RULES)
    assert _may_repeat(pl.Series([text]), pl.Series(["zh"]), DEFAULT_RULES).to_list() == [False]


def test_kept_rows_are_written_in_part_order_with_their_cluster_ids(tmp_path):
    parts, frames = [], []
    for k in range(3):
        frame = pl.DataFrame({"raw_id": [f"r{k}-{i}" for i in range(5)], "text": [f"text {k} {i}" for i in range(5)],
                              "n_turns": [1 + i % 2 for i in range(5)]})
        path = tmp_path / f"part-{k}.parquet"
        frame.write_parquet(path)
        frames.append(frame)
        parts.append(cleaning._Part(path, pl.DataFrame(), frame.select("raw_id"), None, {}))
    # Kept rows and their clusters, in an order of their own (the parent sorts them by preference).
    kept_ids = ["r2-4", "r0-1", "r1-0", "r0-3", "r2-0", "r1-4", "r0-0"]
    clusters = pl.DataFrame({"raw_id": kept_ids, "cluster_id": [f"c{i % 3}" for i in range(len(kept_ids))]})
    out = tmp_path / "cleaned.parquet"
    cleaning._write_kept(parts, clusters, out, row_group_rows=2)
    cluster_of = dict(zip(kept_ids, clusters["cluster_id"]))
    expected = pl.concat(frames).filter(pl.col("raw_id").is_in(kept_ids)).with_columns(
        cluster_id=pl.col("raw_id").replace_strict(cluster_of))
    written = pl.read_parquet(out)
    assert written["raw_id"].to_list() == ["r0-0", "r0-1", "r0-3", "r1-0", "r1-4", "r2-0", "r2-4"]
    assert written.equals(expected)


def test_signatures_do_not_depend_on_threads():
    rng = random.Random(5)
    texts = [" ".join(rng.choice(["alpha", "Beta", "γάμμα", "数据", "清洗", "x"]) for _ in range(rng.randrange(0, 400)))
             for _ in range(600)]
    rules = NearDupRules()
    one, two = minhash_signatures(texts, rules, threads=1), minhash_signatures(texts, rules, threads=2)
    assert one.shape == (600, rules.num_perm)
    assert np.array_equal(one, two)
