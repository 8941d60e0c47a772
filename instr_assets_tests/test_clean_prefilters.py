"""The vectorized shortcuts of the quality and language operators decide exactly what the per-row code decides:
a mask of `may_fire` is False only where its filter cannot fire, and the script rule's column pass gives the
verdict `_by_rule` gives text by text."""
import json

import polars as pl
import pytest

from instr_assets.core.clean import language
from instr_assets.core.clean.junk import _english_vocabulary, doubled_answer, template_slots, truncated
from instr_assets.core.clean.quality import (DEFAULT_RULES, echoes_instruction, length_bounds, may_fire, refusal,
                                             repetition, special_char_ratio)
from instr_assets.core.text import normalize_series

LOOP_EN = "the cat sat on the mat and " * 12
LOOP_ZH = "我们一起去公园玩吧。" * 12
INSTRUCTION = "Explain in one paragraph why the sky looks blue during the day and red at sunset."
RESPONSES = [
    LOOP_EN, LOOP_ZH, LOOP_EN.upper(), "Naïve café " * 30, "Ⅻ ² ½ " * 30,
    "  \"I'm sorry, but I can't help with that.", "**As an AI language model, I do not have opinions.",
    "抱歉，我无法提供这方面的信息。", "I can't stress enough how important sleep is for your health and mood.",
    "ı'm sorry, but ı can't help with that.", "I\x1cam unable to help.",
    "★☆★☆★☆★☆ ✓✓✓ ■■■■", "🎮🎮🎮🎮🎮 fun", "", "   ",
    INSTRUCTION, "Explain in one paragraph why the sky looks blue",
    "Rayleigh scattering sends short blue wavelengths across the sky, while at sunset light crosses more air. "
    "Its longer path scatters most blue light away before it reaches us, and reds and oranges remain.",
    "Dear [Your Name], thank you.", "The answer is simple. The answer is simple.",
    "Water boils at 100 °C × 2 → 200 °C ≥ 150 °C and", "天空之所以是蓝色的，是因为瑞利散射。",
]
LANGS = ["en", "zh", "en", "en", "en", "en", "en", "zh", "en", "en", "en", "en", "en", "en", "en", "en", "en", "en",
         "en", "en", "en", "zh"]
CHECKS = {
    "length": lambda r, lang: length_bounds(r, lang),
    "template_slot": lambda r, lang: template_slots(r, INSTRUCTION),
    "refusal": lambda r, lang: refusal(r),
    "echo": lambda r, lang: echoes_instruction(INSTRUCTION, r),
    "doubled": lambda r, lang: doubled_answer(r),
    "repetitive": lambda r, lang: repetition(r, lang),
    "truncated": lambda r, lang: truncated(r, DEFAULT_RULES, INSTRUCTION),
    "special_chars": lambda r, lang: special_char_ratio(r),
}


def _fired_without_mask(responses, langs):
    n = len(responses)
    masks = may_fire(pl.Series([INSTRUCTION] * n), pl.Series([""] * n), pl.Series(responses), DEFAULT_RULES,
                     pl.Series(langs, dtype=pl.Utf8))
    assert set(masks) == set(CHECKS)
    return [(name, r) for name, check in CHECKS.items() for r, lang, may in
            zip(responses, langs, masks[name].to_list()) if check(r, lang) and not may], masks


def test_masks_never_rule_out_a_pair_its_filter_flags():
    missed, masks = _fired_without_mask(RESPONSES, LANGS)
    assert missed == []
    # The filters do fire on the planted cases, so the check above tested something.
    assert repetition(LOOP_EN, "en") and repetition(LOOP_ZH, "zh") and refusal(RESPONSES[9])
    assert special_char_ratio(RESPONSES[11]) and echoes_instruction(INSTRUCTION, INSTRUCTION)


def test_masks_rule_out_plain_pairs():
    plain = RESPONSES[17]
    _, masks = _fired_without_mask([plain], ["en"])
    assert [name for name, mask in masks.items() if mask[0]] == []


def test_masks_on_real_responses(data_dir):
    rows = json.loads((data_dir / "llama_factory" / "alpaca_zh_demo.json").read_text("utf-8"))[:400]
    rows += json.loads((data_dir / "llama_factory" / "alpaca_en_demo.json").read_text("utf-8"))[:400]
    responses = normalize_series(pl.Series([r["output"] for r in rows], dtype=pl.Utf8)).to_list()
    langs = ["zh"] * 400 + ["en"] * 400
    missed, masks = _fired_without_mask(responses, langs)
    assert missed == []
    # Most real answers are ruled out of the costly per-row filters.
    assert masks["repetitive"].mean() < 0.1 and masks["refusal"].mean() < 0.1


@pytest.mark.parametrize("text", [
    "What is the capital of France? Paris is the capital.", "用Python写一个list comprehension的例子",
    "def f(x): return x", "Ceci n'est pas une pipe, c'est une image.", "Naïve café au lait, s'il vous plaît",
    "これは日本語の文です。", "", "12345", "°C × 2 → ★", "the the the", "don't won't can't isn't",
    "Привет, как дела?", "天空 blue sky is very blue and the sun is bright, it's the light of day",
])
def test_rule_column_pass_agrees_with_rule(text):
    assert language._by_rule_many([text, "filler text of the usual kind"])[0] == language._by_rule(text)


def test_vocabulary_zipf_is_wordfreq_zipf():
    from wordfreq import zipf_frequency

    words, zipf = _english_vocabulary()
    sample = words[::997]
    assert len(sample) > 40
    assert [zipf[w] for w in sample] == [zipf_frequency(w, "en") for w in sample]
