"""Synonym replacement from real lexicons, part-of-speech aware, inflection kept.

English: WordNet 3.0. A word (a verb, adjective or adverb by default) is replaced only when its part of speech can be told from its place (an imperative
verb opening the request, a noun or adjective after a determiner or number, a word WordNet knows under one part
of speech only), and only by a lemma of its most frequent sense whose own most frequent sense is that same synset
and that occurs in WordNet's sense-tagged corpus: "Create a list" may become "Make a list", never "Create a
name". Plural nouns and verbs in -s/-ing/-ed are re-inflected by WordNet's exception lists and the spelling rules.

Chinese: the HIT Cilin "=" groups, on jieba's segmentation and part-of-speech tags: a word in exactly one synonym
group of the category its tag allows (nouns A-D, verbs F-J, adjectives E) is replaced by a common member of that
group that is in no other group and shares a character with it. Names, places, numbers and foreign words (jieba tags nr/ns/nt/nz/m/eng) are kept.

Protected spans (protect.py) and capitalized words inside a sentence (names) are never replaced.
"""
from __future__ import annotations

import random
import re

from .lexicons import CILIN_ID, WORDNET_ID, load_cilin, load_wordnet
from .protect import is_protected, protected_mask

# Too general, or function words WordNet lists anyway ("be", "have", "do", "can", "will" are verbs or nouns).
_EN_SKIP = frozenset("""
a an the this that these those be is are was were been being am have has had having do does did done make made get
got give gave go went use used can could will would shall should may might must let say said tell told see saw way
thing things something one ones also just very more most less least much many some any all each every other such
own same only well even still then there here who what which when where why how not no yes please like time
someone something somebody anyone anything anybody everyone everything everybody nobody nothing state
given following above below total input output sentence sentences text word words paragraph passage phrase article
list question questions answer number numbers data code task example item items
""".split())  # the second part: words that point at the material a task works on ("the given input")
_DETERMINERS = frozenset("""
a an the this that these those my your his her its our their some any each every no several many few all both
one two three four five six seven eight nine ten another other such what which
""".split())
_EN_WORD = re.compile(r"[A-Za-z]+")
# Nouns are left out by default: they name what the request is about, and a first-sense noun synonym changed the
# topic in review ("technology" -> "engineering", "marketing" -> "selling"); verbs and adjectives shape the request.
POS_NAMES = ("noun", "verb", "adj", "adv")
SYNONYM_POS = ("verb", "adj", "adv")
_VOWELS = "aeiou"
# SemCor counts: a sense tagged fewer times is too rare to trust, and a word whose first sense has under this
# share of its tagged uses is too ambiguous to replace without a sense tagger.
_MIN_SENSE_COUNT = 5
_MIN_FIRST_SENSE_SHARE = 0.6
# ... and a replacement used far less often in that sense than the word itself reads as odd (city -> metropolis).
_MIN_COUNT_RATIO = 0.2


def _base_forms(wn, word: str, pos: str) -> list[tuple[str, str]]:
    """(lemma, form) for each reading of `word` as `pos`: form is 'base', 'plural', 's', 'ing' or 'ed'."""
    word = word.lower()
    out = []
    if wn.entry(word, pos):
        out.append((word, "base"))
    for base in wn.exceptions[pos].get(word, []):
        if wn.entry(base, pos) and pos in ("noun", "verb"):
            out.append((base, "plural" if pos == "noun" else ("ing" if word.endswith("ing") else "ed")))
    rules = {
        "noun": [("ies", "y", "plural"), ("ses", "s", "plural"), ("xes", "x", "plural"), ("ches", "ch", "plural"),
                 ("shes", "sh", "plural"), ("s", "", "plural")],
        "verb": [("ies", "y", "s"), ("es", "", "s"), ("s", "", "s"), ("ing", "e", "ing"), ("ing", "", "ing"),
                 ("ied", "y", "ed"), ("ed", "e", "ed"), ("ed", "", "ed")],
    }.get(pos, [])
    for suffix, repl, form in rules:
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[:-len(suffix)] + repl
            if wn.entry(base, pos) and (base, form) not in out:
                out.append((base, form))
    return out


def _inflect(wn, lemma: str, pos: str, form: str) -> str | None:
    """`lemma` in `form`; None where the spelling is not certain (irregular past, doubled consonants)."""
    if form == "base":
        return lemma
    irregular = wn.inflected[pos].get(lemma, [])
    if pos == "noun":
        if irregular:
            return irregular[0] if len(irregular) == 1 else None
        if lemma.endswith("y") and lemma[-2:-1] not in _VOWELS:
            return lemma[:-1] + "ies"
        return lemma + ("es" if lemma.endswith(("s", "x", "z", "ch", "sh")) else "s")
    if form == "s":
        if lemma.endswith("y") and lemma[-2:-1] not in _VOWELS:
            return lemma[:-1] + "ies"
        return lemma + ("es" if lemma.endswith(("s", "x", "z", "ch", "sh", "o")) else "s")
    if irregular and form == "ed":
        return None
    # consonant-vowel-consonant endings may double ("stop" -> "stopping") or not ("visit" -> "visiting").
    if re.search(r"[^aeiou][aeiou][^aeiouwxy]$", lemma):
        return None
    if form == "ing":
        return (lemma[:-1] if lemma.endswith("e") and not lemma.endswith(("ee", "ye", "oe")) else lemma) + "ing"
    if lemma.endswith("e"):
        return lemma + "d"
    if lemma.endswith("y") and lemma[-2:-1] not in _VOWELS:
        return lemma[:-1] + "ied"
    return lemma + "ed"


def _pos_in_context(wn, words: list[str], i: int, sentence_start: bool) -> str | None:
    """The part of speech of words[i] where its place makes it clear, else None."""
    word, low = words[i], words[i].lower()
    prev = words[i - 1].lower() if i else ""
    nxt = words[i + 1].lower() if i + 1 < len(words) else ""
    readings = {pos for pos in ("noun", "verb", "adj", "adv") if _base_forms(wn, low, pos)}
    if sentence_start:
        # An instruction opens with its imperative verb: "Write …", "Summarize …".
        return "verb" if "verb" in readings and wn.entry(low, "verb") else None
    if prev in _DETERMINERS or prev.isdigit():
        if "adj" in readings and wn.entry(low, "adj") and nxt and nxt not in _EN_SKIP and _base_forms(wn, nxt, "noun"):
            return "adj"
        return "noun" if "noun" in readings else None
    if prev == "to" and readings == {"verb"}:
        return "verb"
    if len(readings) == 1:
        only = next(iter(readings))
        return only if word.islower() else None
    return None


def _en_candidates(wn, lemma: str, pos: str) -> list[str]:
    entry = wn.entry(lemma, pos)
    if entry is None:
        return []
    sense = entry.synsets[0]
    counts = [wn.sense_count(lemma, pos, s) for s in entry.synsets]
    # The word must mostly mean its first sense, or the replacement would often fit a sense it does not have.
    if counts[0] < _MIN_SENSE_COUNT or counts[0] < _MIN_FIRST_SENSE_SHARE * sum(counts):
        return []
    out = []
    for word in wn.synset_words(pos, sense):
        other = wn.entry(word, pos)
        if (word != lemma and word.isalpha() and word.islower() and len(word) >= 3 and other is not None
                and other.synsets[0] == sense
                and wn.sense_count(word, pos, sense) >= max(_MIN_SENSE_COUNT, _MIN_COUNT_RATIO * counts[0])):
            out.append(word)
    return out


def english_synonyms(instruction: str, rng: random.Random, rate: float,
                     parts_of_speech: tuple[str, ...] = SYNONYM_POS) -> str | None:
    wn = load_wordnet()
    mask = protected_mask(instruction)
    matches = list(_EN_WORD.finditer(instruction))
    words = [m.group(0) for m in matches]
    options = []  # (match index, replacement)
    for i, m in enumerate(matches):
        word = m.group(0)
        starts_sentence = i == 0 or bool(re.search(r"[.!?]\s*$", instruction[matches[i - 1].end():m.start()]))
        if (is_protected(mask, m.start(), m.end()) or word.lower() in _EN_SKIP or len(word) < 3
                or (word[0].isupper() and not starts_sentence) or (word.isupper() and len(word) > 1)
                or instruction[m.end():m.end() + 1] in ("'", "’", "-") or instruction[m.start() - 1:m.start()] == "-"):
            continue
        pos = _pos_in_context(wn, words, i, starts_sentence)
        if pos not in parts_of_speech:
            continue
        for lemma, form in _base_forms(wn, word, pos)[:1]:
            choices = [w for w in (_inflect(wn, c, pos, form) for c in _en_candidates(wn, lemma, pos)) if w]
            if choices:
                new = rng.choice(choices)
                options.append((i, new.capitalize() if word[0].isupper() else new))
    if not options:
        return None
    chosen = rng.sample(options, max(1, min(len(options), round(rate * len(words)))))
    out, last = [], 0
    for i, new in sorted(chosen):
        m = matches[i]
        head = instruction[last:m.start()]
        # a/an agree with the new word's first sound (by its first letter; "hour" and "user" are rare here).
        head = re.sub(r"\b([Aa])(n?)(\s+)$", lambda a: a.group(1) + ("n" if new[0].lower() in _VOWELS else "")
                      + a.group(3), head)
        out += [head, new]
        last = m.end()
    out.append(instruction[last:])
    text = "".join(out)
    return text if text != instruction else None


# jieba part-of-speech tag (first letter) -> (part of speech, Cilin top-level categories its sense may sit in).
_ZH_CATEGORIES = {"n": ("noun", "ABCD"), "v": ("verb", "FGHIJ"), "a": ("adj", "E")}
_ZH_KEEP_TAGS = ("nr", "ns", "nt", "nz", "m", "eng", "x", "q")
# Words that point at the material a task works on, and terms whose Cilin group reads wrong in a request
# (创建 "create" -> 始建 "first built", 情感分析 "sentiment analysis" -> 感情分析).
_ZH_SKIP = frozenset("文本 数据 句子 段落 文章 输入 输出 列表 问题 答案 数字 代码 单词 词语 给定 以下 下面 创建 情感".split())
# jieba's dictionary counts: a much rarer member of the group is usually another sense or an archaic word.
_ZH_MIN_FREQ = 200
_ZH_MIN_FREQ_RATIO = 0.5


def load_jieba():
    """jieba, quiet: it would print its dictionary loading to the run's terminal."""
    try:
        import jieba
        import jieba.posseg
    except ImportError as err:
        raise ImportError("Chinese synonym replacement needs jieba (pip install jieba==0.42.1)") from err
    jieba.setLogLevel(60)
    return jieba


def _zh_candidates(cilin, word: str, tag: str, freq: dict, tags: dict, parts_of_speech: tuple[str, ...]) -> list[str]:
    """Members of the word's one synonym group that jieba tags alike and knows as common words."""
    pos, allowed = _ZH_CATEGORIES.get(tag[:1], (None, ""))
    groups = cilin.synonym_groups(word)
    if pos not in parts_of_speech or len(groups) != 1 or groups[0][0][0] not in allowed:
        return []
    # Sharing a character keeps to near-synonyms (描述/叙述, 创建/创造); Cilin's groups are broad.
    return [m for m in groups[0][1] if m != word and len(m) >= 2 and len(cilin.synonym_groups(m)) == 1
            and set(m) & set(word)
            and freq.get(m, 0) >= max(_ZH_MIN_FREQ, _ZH_MIN_FREQ_RATIO * freq.get(word, 0)) and tags.get(m) == tag]


def chinese_synonyms(instruction: str, rng: random.Random, rate: float,
                     parts_of_speech: tuple[str, ...] = SYNONYM_POS) -> str | None:
    jieba, cilin = load_jieba(), load_cilin()
    mask = protected_mask(instruction)
    tokens, pos = [], 0
    for pair in jieba.posseg.cut(instruction):
        tokens.append((pos, pair.word, pair.flag))
        pos += len(pair.word)
    options = []
    for i, (start, word, tag) in enumerate(tokens):
        if (len(word) < 2 or word in _ZH_SKIP or tag.startswith(_ZH_KEEP_TAGS)
                or is_protected(mask, start, start + len(word))):
            continue
        choices = _zh_candidates(cilin, word, tag, jieba.dt.FREQ, jieba.posseg.dt.word_tag_tab, parts_of_speech)
        if choices:
            options.append((i, rng.choice(choices)))
    if not options:
        return None
    n_words = sum(1 for _, w, t in tokens if t != "x")
    chosen = dict(rng.sample(options, max(1, min(len(options), round(rate * n_words)))))
    text = "".join(chosen.get(i, word) for i, (_, word, _) in enumerate(tokens))
    return text if text != instruction else None


def replace_synonyms(instruction: str, lang: str, rng: random.Random, rate: float = 0.15,
                     parts_of_speech: tuple[str, ...] = SYNONYM_POS) -> tuple[str | None, str]:
    """(new instruction, lexicon) or (None, why not)."""
    if lang not in ("en", "zh"):
        return None, f"no lexicon for language {lang!r}"
    new = (english_synonyms if lang == "en" else chinese_synonyms)(instruction, rng, rate, parts_of_speech)
    return (new, lexicon_id(lang)) if new else (None, "no replaceable word")


def lexicon_id(lang: str) -> str | None:
    return {"en": WORDNET_ID, "zh": CILIN_ID}.get(lang)
