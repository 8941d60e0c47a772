"""The cleaning stage's shortcuts give what the long way gives: normalization's prefilter, the column form of the
plain rendering, and PII hints found by polars' engine."""
import json
import sys
import unicodedata

import polars as pl
import pytest

from instr_assets.core import text as text_module
from instr_assets.core.clean.cleaning import clean_pairs
from instr_assets.core.clean.encoding import repair_and_normalize, repair_series
from instr_assets.core.clean.pii import find_pii, find_pii_series
from instr_assets.core.ingest.unify import MESSAGE_DTYPE
from instr_assets.core.text import compose_user, normalize_series, plain_columns, render_plain
from instr_assets_tests.test_clean_augment_split import unify_alpaca


def _every_step_once() -> list[str]:
    """Texts that each need one normalization step (and a few that need none), every character the folds or
    NFC change among them."""
    texts = [f"abc {c} 中文" for c in text_module._changed_by_nfkc()]
    texts += ["e\u0301t\u00e9", "\u1100\u1161", "a &amp; b", "&#x4e2d;", "a\r\nb", "a\rb", "a\x07b", "a\u200bb",
              "x\ufeff", "a  b", "a\tb", "  indented", "a \nb", "a\t\nb", "a\n\n\n\nb", " lead", "trail ",
              "\u3000全角空格", "末尾\u00a0", "plain text", "中文文本，标点。", "", "a\u2028b", "tab\tin\tcode"]
    return texts


def test_prefilter_passes_over_only_texts_that_need_no_step():
    texts = pl.Series(_every_step_once())
    assert normalize_series(texts).to_list() == text_module._normalize(texts).to_list()
    # ... and passes over tidy text, which is most text.
    tidy = pl.Series(["plain text", "中文文本，标点。", "code:\n    indented", "", "ﬁ".join("ab")])
    assert tidy.str.contains(text_module.untidy_pattern()).to_list() == [False, False, False, False, True]


def test_prefilter_agrees_on_real_data(data_dir):
    texts = []
    for name in ("llama_factory/alpaca_zh_demo.json", "llama_factory/alpaca_en_demo.json",
                 "llama_factory/glaive_toolcall_zh_demo.json", "fastchat/dummy_conversation.json"):
        records = json.loads((data_dir / name).read_text(encoding="utf-8"))
        texts += [v for r in records for v in (r.values() if isinstance(r, dict) else ()) if isinstance(v, str)]
    series = pl.Series(texts)
    assert normalize_series(series).to_list() == text_module._normalize(series).to_list()


def test_no_character_past_the_scanned_range_decomposes():
    past = [c for c in range(text_module._LAST_DECOMPOSABLE + 1, sys.maxunicode + 1)
            if unicodedata.decomposition(chr(c))]
    assert past == []


@pytest.mark.parametrize("instruction, input_text, response", [
    ("Translate", "", "Hola"), ("总结下文", "一段文字", "摘要"), ("", "only input", ""), ("a\n", "\n", " r ")])
def test_plain_columns_match_the_per_row_rendering(instruction, input_text, response):
    frame = pl.DataFrame({"i": [instruction], "x": [input_text], "r": [response]})
    out = frame.select(**plain_columns(pl.col("i"), pl.col("x"), pl.col("r")))
    assert out["user"][0] == compose_user(instruction, input_text)
    assert out["text"][0] == render_plain(instruction, input_text, response)


def test_hints_found_by_polars_place_the_windows_as_python_does():
    # Hints that repeat, overlap candidates and sit on several lines: each window must be where Python's
    # finditer would put it, or a phone past the first hint would be missed or cut.
    texts = [
        "call 415 555 0132 or 415 555 0133, fax 0131234567; 电话 6234 5678\n号码 6234 5678 and +44 20 7946 0958",
        "1234567 1234567 order 13812345678 请拨打13812345678联系我 13812345678",
        "card 4111 1111 1111 1111 then 4111111111111111, id 11010519491231002X and 110105 1949 1231 002X",
        "live at 12 Baker Street, London NW1 6XE; also 12 Baker Street, London NW1 6XE again",
        "北京市朝阳区建国路88号 and 上海市黄浦区南京东路100号 and 建国路88号SOHO现代城5号楼1201室",
        "servers 93.184.216.34 and 93.184.216.34, v6 2606:2800:220:1:248:1893:25c8:1946",
        'password: "hunter2hunter2"\napi_key = Zx81-aa9Q\ntoken=Zx81-aa9Q',
    ]
    by_row = find_pii_series(pl.Series(texts))
    assert all(by_row.get(i, []) == find_pii(t) for i, t in enumerate(texts))
    assert len(by_row) >= 6


def test_repair_and_normalize_is_repair_then_normalize():
    texts = pl.Series(["cafÃ©  au lait", "ä½ å¥½ world", "浣犲ソ锛屼笘鐣?", "lost \ufffd char", "ﬁne\u00a0print",
                       "plain", None, "", "e\u0301 &amp; x  ", "â€™quoted â€™ and ÄãºÃ"] + _every_step_once())
    repaired, damage = repair_series(texts)
    normalized, found = repair_and_normalize(texts)
    assert normalized.to_list() == normalize_series(repaired).to_list()
    assert found == damage and len(found) >= 1


def test_doubled_mask_keeps_every_doubled_answer_and_rules_out_plain_ones(data_dir):
    from instr_assets.core.clean.junk import doubled_answer
    from instr_assets.core.clean.quality import may_fire

    rows = json.loads((data_dir / "llama_factory" / "alpaca_en_demo.json").read_text("utf-8"))[:300]
    rows += json.loads((data_dir / "llama_factory" / "alpaca_zh_demo.json").read_text("utf-8"))[:300]
    real = [r["output"] for r in rows]
    # Written twice with every kind of whitespace between and inside the copies (\x1c-\x1f are whitespace to
    # Python's split but not to polars' \s), and near misses that start like a doubled answer.
    twice = [f"{t}{sep}{t}" for t in real[:40] + real[300:340] for sep in (" ", "\n\n", "", "\x1d", "\u3000 ")]
    twice += ["Yes it is.\x1cYes  it\x1fis.", "  答案是42。答案是42。\n", "你好世界啊你好世界啊", "HelloHello"]
    near = [f"{t} {t[:-1]}" for t in real[:40]] + ["The answer is simple. The answer is simpler."]
    responses = real + twice + near
    n = len(responses)
    may = may_fire(pl.Series(["q"] * n), pl.Series([""] * n), pl.Series(responses))["doubled"].to_list()
    flagged = [bool(doubled_answer(r)) for r in responses]
    assert sum(flagged[len(real):len(real) + len(twice)]) >= 0.9 * len(twice)  # the planted ones do fire
    assert [r for r, f, m in zip(responses, flagged, may) if f and not m] == []
    assert sum(may[:len(real)]) <= 0.02 * len(real) and not any(may[len(real) + len(twice):])


# ---------------------------------------------------------------- the cleaning stage's column passes


def test_encoding_damage_names_each_pairs_first_damaged_field(tmp_path):
    """The four fields are repaired as one column; each pair still reports its own first damaged field."""
    records = [
        {"instruction": "Name a colour \ufffd please.", "input": "", "output": "Blue \ufffd is one."},
        {"instruction": "Name a fruit.", "input": "A red \ufffd one.", "output": "An apple \ufffd."},
        {"instruction": "Name a tree.", "input": "", "output": "An oak \ufffd."},
        {"instruction": "Name a bird.", "input": "", "output": "A robin."},
    ]
    unified = unify_alpaca(tmp_path, records)
    cleaned, rejected = clean_pairs(unified)
    field_of = dict(rejected.join(unified.select("pair_id", "instruction"), on="pair_id")
                    .select("instruction", pl.col("detail").str.extract(r"^(\w+):")).iter_rows())
    assert rejected["reason"].to_list() == ["encoding_damage"] * 3
    assert field_of == {"Name a colour \ufffd please.": "instruction", "Name a fruit.": "input",
                        "Name a tree.": "response"}
    assert cleaned["response"].to_list() == ["A robin."]


def test_single_turn_messages_are_rebuilt_from_parts_and_multi_turn_ones_normalized(tmp_path):
    """A single-turn pair's system, user and last messages come from its normalized parts (a folded 'no input'
    reaches the prompt, a redaction the answer); a conversation's turns are normalized where they stand."""
    unified = unify_alpaca(tmp_path, [{"instruction": "Say  hi.", "input": "N/A",
                                       "output": "Hi  there, write to jane.doe@example.com."},
                                      {"instruction": "Count to two.", "input": "", "output": "One, two."}])
    turns = [("user", "Count  to two."), ("assistant", "One,  two."), ("user", "And  on?"),
             ("assistant", "Three,  four.")]
    conversation = pl.Series([[{"role": r, "content": c} for r, c in turns]], dtype=MESSAGE_DTYPE)
    unified = pl.concat([unified.head(1), unified.slice(1).with_columns(
        messages=conversation, n_turns=pl.lit(2, unified["n_turns"].dtype))])
    cleaned, rejected = clean_pairs(unified)
    assert rejected.height == 0
    messages = {row["n_turns"]: [(m["role"], m["content"]) for m in row["messages"]]
                for row in cleaned.select("n_turns", "messages").iter_rows(named=True)}
    single = cleaned.filter(pl.col("n_turns") == 1)["response"][0]
    assert "jane.doe" not in single and single.startswith("Hi there, write to ")
    assert messages[1] == [("user", "Say hi."), ("assistant", single)]
    assert messages[2] == [(r, " ".join(c.split())) for r, c in turns]
