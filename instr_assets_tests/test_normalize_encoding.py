"""Normalization that keeps each language's punctuation, encoding damage repaired or rejected, and special-token
strings in the data kept from becoming control tokens.

The real Chinese and English sets in ../shared/data are used where present (skipped otherwise).
"""
import json
import unicodedata
from collections import Counter

import polars as pl
import pytest

from instr_assets.core.clean.cleaning import clean_pairs
from instr_assets.core.clean.encoding import hint_pattern, repair_series, repair_text
from instr_assets.core.models import modeling
from instr_assets.core.text import normalize_series, normalize_text
from instr_assets.core.train.tokenize_pack import IGNORE, TemplateError, encode_conversation, encode_prompt
from instr_assets_tests.test_clean_augment_split import unify_alpaca

ZH_FILES = ["llama_factory/alpaca_zh_demo.json", "cmrc2018/cmrc2018_dev.json", "cmrc2018/cmrc2018_trial.json",
            "llama_factory/glaive_toolcall_zh_demo.json", "llama_factory/identity.json"]


def strings(value):
    """Every string inside a parsed JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def read_strings(path):
    text = path.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
        else json.loads(text)
    return list(strings(records))


# ---------------------------------------------------------------- normalization

def test_chinese_punctuation_is_kept_and_full_width_latin_folds():
    zh = "你好，世界：（测试）？！【注意】《书名》「引号」、顿号。“双引号”‘单引号’……——￥100；～"
    assert normalize_text(zh) == zh
    assert normalize_text("ＡＢＣｘｙｚ０１２３４５６７８９") == "ABCxyz0123456789"
    assert normalize_text("请用Ｐｙｔｈｏｎ写：ｆ（ｘ）＝２ｘ") == "请用Python写：f（x）＝2x"
    assert normalize_text("！？") == "！？"  # full-width punctuation stays in any text


@pytest.mark.parametrize("raw, expected", [
    ("ﬁne ﬂow", "fine flow"),              # ligatures fold
    ("𝐁𝐨𝐥𝐝 𝟏𝟐", "Bold 12"),                # styled letters and digits fold
    ("ｶﾀｶﾅ", "カタカナ"),                    # half-width katakana folds
    ("a\u00a0b\u2003c\u3000d", "a b c d"),  # no-break, em and ideographic spaces
    ("x² + y³ = z²", "x² + y³ = z²"),       # superscripts are numbers of their own
    ("①准备 ②执行 ½ Ⅳ", "①准备 ②执行 ½ Ⅳ"),   # so are circled numbers, fractions, roman numerals
    ("5㎏ 30℃ ACME™", "5㎏ 30℃ ACME™"),      # symbols are left as written
    ("e\u0301", "\u00e9"),                 # canonical composition (NFC) still applies
    ("a\u0307\u0323", "\u1ea1\u0307"),      # with canonical reordering
    ("\u1100\u1161\u11a8", "\uac01"),        # Hangul jamo compose
    ("\uf900\u212b", "\u8c48\u00c5"),        # singletons: a compatibility ideograph, the angstrom sign
    ("ﬁ\u0301", "f\u00ed"),                # a fold, then composition across it
])
def test_compatibility_choices(raw, expected):
    assert normalize_text(raw) == expected


def _punctuation_counts(texts: list[str]) -> Counter:
    """Non-ASCII punctuation and symbol characters, counted one by one."""
    return Counter(c for t in texts for c in t if ord(c) > 0x7f and unicodedata.category(c)[0] in "PS")


def test_no_chinese_punctuation_changes_on_real_chinese_data(data_dir):
    texts = [s for f in ZH_FILES for s in read_strings(data_dir / f)]
    before = _punctuation_counts(texts)
    after_texts = normalize_series(pl.Series(texts)).to_list()
    after = _punctuation_counts(after_texts)
    assert before["，"] > 10_000 and before["："] > 100 and before["（"] > 1000 and before["？"] > 100
    assert after == before
    assert all(unicodedata.is_normalized("NFC", t) for t in after_texts)
    # Plain NFKC, what normalization did before, rewrites them: the check above can fail.
    nfkc = _punctuation_counts(pl.Series(texts).str.normalize("NFKC").to_list())
    assert nfkc["，"] == 0 and nfkc["。"] == before["。"]


# ---------------------------------------------------------------- encoding damage

def _utf8_as(text: str, encoding: str) -> str:
    return text.encode("utf-8").decode(encoding)


@pytest.mark.parametrize("damaged, original", [
    ("cafÃ©", "café"),                                                     # UTF-8 read as Latin-1
    ("Itâ€™s", "It’s"),                                                     # UTF-8 read as cp1252
    (_utf8_as("你好，世界！今天天气很好。", "latin-1"), "你好，世界！今天天气很好。"),
    (_utf8_as("你好，世界", "cp1252"), "你好，世界"),
    ("浣犲ソ", "你好"),                                                       # UTF-8 read as GBK
    (_utf8_as("请回答：你好吗？", "gbk"), "请回答：你好吗？"),
    ("Answer: 浣犲ソ", "Answer: 你好"),
    ("你好世界".encode("gbk").decode("latin-1"), "你好世界"),                   # GBK read as Latin-1
    ("请问：今天天气怎么样？".encode("gbk").decode("latin-1"), "请问：今天天气怎么样？"),
])
def test_mojibake_is_repaired(damaged, original):
    assert repair_text(damaged) == (original, None)


@pytest.mark.parametrize("damaged, says", [
    ("hello \ufffd world", "U+FFFD"),
    ("锟斤拷锟斤拷", "U+FFFD"),                                      # U+FFFD's bytes read as GBK
    ("浣犲ソ鍚?", "read as GBK"),                                     # 你好吗: the last byte was lost
    ("你们好，世界".encode()[1:].decode("gbk", errors="ignore"), "read as GBK"),
    ("ä½ å¥½ï¼Œä¸–ç•Œ", "could not be repaired"),                  # a no-break space byte became a space
])
def test_damage_beyond_repair_is_reported(damaged, says):
    text, detail = repair_text(damaged)
    assert text == damaged and says in detail


@pytest.mark.parametrize("clean", [
    "naïve café, Déjà vu, Ärger, Øre", "Sul” = “etelä”（意为“南”）", "浣熊是一种动物", "涓涓细流", "x² ½ °C",
    "ÀÉÎÕÜ", "Ünïcödé"])
def test_clean_text_is_left_alone(clean):
    assert repair_text(clean) == (clean, None)


def test_repair_leaves_all_real_text_unchanged(data_dir):
    """Every string of every real set: none is changed, and only those holding U+FFFD are reported."""
    files = sorted(p for p in data_dir.rglob("*.json*") if "tokenizers" not in p.parts)
    texts = pl.Series([s for f in files for s in read_strings(f)])
    repaired, damage = repair_series(texts)
    assert texts.len() > 50_000
    assert (repaired == texts).all()
    with_replacement = set(texts.str.contains("\ufffd", literal=True).arg_true().to_list())
    assert set(damage) == with_replacement and len(with_replacement) == 6  # dpo_zh_demo's lost characters
    assert texts.str.contains(hint_pattern()).sum() < texts.len() / 100  # the prefilter passes almost nothing


def test_cleaning_repairs_mojibake_and_rejects_damage(tmp_path):
    records = [
        {"instruction": "Translate the word café into German.", "input": "", "output": "Itâ€™s Kaffee."},
        {"instruction": _utf8_as("请回答：你好吗？", "gbk"), "input": "", "output": "我很好，谢谢。"},
        {"instruction": "Describe a sunny day in one line.", "input": "", "output": "A bright, \ufffd warm day."},
    ]
    cleaned, rejected = clean_pairs(unify_alpaca(tmp_path, records))
    assert sorted(cleaned["response"].to_list()) == ["It’s Kaffee.", "我很好，谢谢。"]
    assert "请回答：你好吗？" in cleaned["instruction"].to_list()
    assert rejected["reason"].to_list() == ["encoding_damage"]
    assert rejected["detail"][0].startswith("response: 1 replacement character")


# ---------------------------------------------------------------- special-token strings

@pytest.fixture(scope="module")
def tok():
    return modeling.load_tokenizer()


def _special_ids(tokenizer) -> set[int]:
    return {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}


SPECIAL_STRINGS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "</s>", "<s>", "<unk>", "<pad>", "[INST]",
                   "<<SYS>>", "<|user|>", "<|assistant|>", "<|eot_id|>", "<|begin_of_text|>", "<filename>")


def test_special_token_strings_in_content_are_text(tok):
    quoted = " ".join(SPECIAL_STRINGS)
    messages = [{"role": "user", "content": f"What do these mean? {quoted}"},
                {"role": "assistant", "content": f"Each turn ends with <|im_end|>; a document with <|endoftext|>. {quoted}"}]
    ids, labels = encode_conversation(tok, messages)
    specials = [tok.convert_ids_to_tokens(i) for i in ids if i in _special_ids(tok)]
    # Only the template's own: the default system turn, the user turn and the assistant turn.
    assert specials == ["<|im_start|>", "<|im_end|>"] * 3
    assert tok.decode(ids) == tok.apply_chat_template(messages, tokenize=False)
    supervised = [i for i, label in zip(ids, labels) if label != IGNORE]
    assert tok.decode(supervised) == messages[1]["content"] + "<|im_end|>"
    assert [i for i in supervised if i in _special_ids(tok)] == [tok.convert_tokens_to_ids("<|im_end|>")]


def test_generation_prompts_keep_special_token_strings_as_text(tok):
    messages = [{"role": "user", "content": "Explain <|im_end|> and <|endoftext|> in one line."}]
    ids = encode_prompt(tok, messages)
    specials = [tok.convert_ids_to_tokens(i) for i in ids if i in _special_ids(tok)]
    # system and user turns closed by the template, then the assistant turn it opens
    assert specials == ["<|im_start|>", "<|im_end|>", "<|im_start|>", "<|im_end|>", "<|im_start|>"]
    assert tok.decode(ids) == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_clean_conversations_tokenize_as_before(tok, data_dir):
    """Without special-token strings in the contents, ids are exactly the plain tokenization of the template."""
    rows = json.loads((data_dir / "llama_factory/alpaca_zh_demo.json").read_text(encoding="utf-8"))[:40]
    rows += json.loads((data_dir / "llama_factory/alpaca_en_demo.json").read_text(encoding="utf-8"))[:40]
    for r in rows:
        messages = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": f"{r['instruction']}\n\n{r['input']}".strip()},
                    {"role": "assistant", "content": r["output"]}]
        ids, _ = encode_conversation(tok, messages)
        assert ids == tok(tok.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]


def test_a_template_that_edits_contents_is_refused(tok):
    class Trimming:
        """The real tokenizer with a template that strips contents: contents cannot be located in it."""
        added_tokens_decoder = tok.added_tokens_decoder

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            trimmed = [{**m, "content": m["content"].strip("\ue000")} for m in messages]
            return tok.apply_chat_template(trimmed, tokenize=tokenize, add_generation_prompt=add_generation_prompt)

    with pytest.raises(TemplateError):
        encode_conversation(Trimming(), [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
