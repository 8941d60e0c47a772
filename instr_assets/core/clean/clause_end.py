"""Whether the last word of a text can end a sentence: the word-level evidence of the truncation check (junk.py).

Chinese: the last word is the longest entry of jieba's dictionary (jieba==0.42.1, a dependency; its dict.txt
gives each word a part-of-speech tag) that ends the text. A text cut at a random point mostly ends on a single
character that no longer makes a word with what follows it ("…审查协", "…可能看"), tagged as a verb, adverb,
preposition or conjunction; a finished sentence almost never ends on one of those ("…即可", "…风阻" end on whole
words). Measured on the development set of bench/truncation_dev.py (real answers the quality bench does not
read): of the words ending 4,000 finished clauses, 1.4% are single characters with one of the tags below; of the
words ending the same clauses cut at a random point, 34%. A lookup of at most four substrings, not jieba's
segmenter: about as cheap as a regex, and the same last word in all but a few texts.

English: function words after which a sentence goes on (articles, prepositions, auxiliaries, ...), sentence
openers, and pairs of letters that are no word.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_LONGEST_WORD = 4
# jieba's tags of single characters that need what follows them: verbs (v, and vn verbal nouns), adverbs (d),
# conjunctions (c), prepositions (p), distinguishing words (b), bound morphemes (zg, ng) and the first character
# of a person's name (nr).
_OPEN_TAGS = frozenset({"v", "vn", "d", "c", "p", "b", "zg", "ng", "nr"})
# Demonstratives and determiners that need their noun ("这", "每"), whatever their tag.
_DETERMINERS = frozenset("这该每各其")
# Interjections jieba tags as morphemes: "哦", "啊" end exclamations.
_INTERJECTIONS = frozenset("哦啊呀嗯哈哇喔噢呢吧嘛啦")
# Numerals need their measure word ("一" of "一个"); a measure after a number ("3年", "2.5吨") ends a phrase.
_BARE_NUMERALS = frozenset("一二三四五六七八九十百千万亿两几")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Chinese clause-internal endings, as (ending, what may come before it and make a whole word).
DANGLING_ZH = {
    "和": "总温柔平缓饱求调暖随附讲共祥谦人中融违亲应唱搀掺", "或": "", "而": "", "但": "", "于": "", "很": "",
    "最": "", "是": "也都正不即皆凡总", "的": "",
    # Prepositions, modals and adverbs that need what follows them ("并为您", "它也可", "被", "将"), less
    # the words they end ("谢谢您", "许可", "大将", "方向", "参与", "普及", "服从").
    "您": "谢祝福助感恭敬问拜", "更": "变三五打", "可": "许认不即皆均亦尚无宁", "把": "", "被": "棉", "将": "大名主武上中少麻干猛骁",
    "向": "方走倾志动意导取内外性风航去", "与": "参给授赋", "让": "转出礼谦忍退避相", "使": "大天特信公密专行驱指主",
    "给": "供补自配", "及": "不普波危埃企提顾涉论来", "并": "合吞兼", "从": "服听顺随侍适盲无",
}
DANGLING_ZH_WORDS = ("以及", "或者", "但是", "因为", "所以", "如果", "虽然", "而且", "并且", "然后", "例如", "比如",
                     "包括", "以便", "为了", "由于", "关于", "通过", "根据", "即使", "尽管", "除了", "并在", "以及其",
                     "相反", "此外", "另外", "然而", "因此", "总之", "首先", "其次", "那么", "换句话说", "也就是说")
# A sentence after another that is only its subject: "……外部任务。我".
PRONOUNS_ZH = frozenset("我 你 您 他 她 它 这 那 我们 你们 他们 她们 它们 这些 那些 这个 那个 这是 这些是".split())


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, str]:
    """{word: part-of-speech tag} for jieba's words of up to four characters."""
    text = (resources.files("jieba") / "dict.txt").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if len(word) <= _LONGEST_WORD:
            out[word] = rest.rpartition(" ")[2]
    return out


def last_word(clause: str) -> tuple[str, str]:
    """(word, jieba tag) of the longest dictionary word that ends `clause`; the last character and "" when none
    does."""
    words = _dictionary()
    for size in range(min(_LONGEST_WORD, len(clause)), 0, -1):
        tag = words.get(clause[-size:])
        if tag:
            return clause[-size:], tag
    return clause[-1:], ""


def open_ending(clause: str) -> str | None:
    """The character a Chinese clause ends on when it is one that needs a continuation (a lone verb, adverb,
    preposition, conjunction, bare numeral, ...), else None."""
    if not clause or not _HAN.match(clause[-1]):
        return None
    word, tag = last_word(clause)
    if len(word) != 1 or word in _INTERJECTIONS:
        return None
    bare_numeral = tag == "m" and word in _BARE_NUMERALS and not clause[-2:-1].isdigit()
    if tag in _OPEN_TAGS or word in _DETERMINERS or bare_numeral:
        return word
    return None


def zh_dangling(clause: str, sentences_before: bool) -> str | None:
    """The conjunction, preposition or particle a Chinese clause ends on ("…以及", "…并在202", "…的"), else None."""
    # A number cut short after a preposition: "并在202" (a year, "在2020年", lost its end).
    number_cut = clause.rstrip("0123456789")
    if number_cut != clause and number_cut[-1:] in ("在", "到", "至", "从"):
        return number_cut[-1] + clause[len(number_cut):]
    if clause.endswith(DANGLING_ZH_WORDS):
        return next(word for word in DANGLING_ZH_WORDS if clause.endswith(word))
    if len(clause) < 4:  # "红色的", "是": short answers
        return None
    last, before = clause[-1], clause[-2]
    if last not in DANGLING_ZH or before in DANGLING_ZH[last]:
        return None
    # "这是很重要的": 是…的 frames a whole sentence; "含冤而身亡的", a noun phrase, is a whole answer.
    if last == "的" and (re.search(r"是|得|会|要|能|可以|应该", clause) or not sentences_before):
        return None
    return last


# ---------------------------------------------------------------- English

# English words after which a sentence goes on: articles, possessives, conjunctions, prepositions, auxiliaries.
# Each maps to the words before it that make a finished phrase instead ("I'd love to", "log in", "what it is").
PRONOUNS = "i you we they he she it who what where how there here that this".split()
DANGLING_EN = {
    **dict.fromkeys("the a an of and or nor because although whereas than my your our their its into onto "
                    "including very".split(), frozenset()),
    "to": frozenset("want wants need needs have has had like likes love loves able going used supposed happy glad "
                    "trying tried ought how".split()),
    "as": frozenset("so well".split()),
    "if": frozenset("as what even".split()),
    "but": frozenset("all anything nothing none last".split()),
    "in": frozenset("log logged sign signed check checked plug plugged come came fill filled give gave drop tune "
                    "join joined move moved built so".split()),
    "on": frozenset("turn turned switch switched carry go goes going hold move moved log so come depend rely "
                    "and".split()),
    "with": frozenset("deal dealt come comes agree agreed along play work familiar start done up".split()),
    "for": frozenset("looking waiting asking paying searching used known stands responsible grateful thankful "
                     "hoping ready what".split()),
    "by": frozenset("stand passed go come drop stop".split()),
    "from": frozenset("come comes came where away far apart aside".split()),
    "at": frozenset("look looking good aim where laugh stare arrive".split()),
    "is": frozenset(PRONOUNS), "are": frozenset(PRONOUNS), "was": frozenset(PRONOUNS),
    "will": frozenset(PRONOUNS), "can": frozenset(PRONOUNS),
    # Auxiliaries need their verb, except after their subject ("as it should", "yes, we have") or an adverb.
    **dict.fromkeys("were has have had would could should must might may shall does been".split(),
                    frozenset(PRONOUNS + "so not never also still already always too".split())),
    "be": frozenset(PRONOUNS + "let so should may might must will would shall".split()),
    **dict.fromkeys("which whose whether during among via per toward towards until".split(), frozenset()),
    "when": frozenset("since say know how why where".split()),
    "between": frozenset("in far few".split()),
    "through": frozenset("go goes went follow come came get got read pass passed break see all".split()),
}
# Words a sentence opens with and cannot end on its own: "… the second law. This", "… Could".
SENTENCE_OPENERS = frozenset("this that these those what which who how why where when it they we you he she i there "
                             "my our your their its could would can will should may might do does did is are "
                             "was were has have had".split())
# English words, abbreviations and units of two letters; any other pair of letters ending prose is a word's start.
TWO_LETTER_WORDS = frozenset(
    "am an as at be by do go he hi if in is it me my no of oh ok on or ox so to up us we ah aw eh ha hm id ma pa "
    "yo ya ye uh um ex vs tv pc ai ml cm mm km kg mg lb oz ft hr mr dr st jr sr mt ms rd nw ne se sw pm".split())


def is_two_letter_stub(word: str, before: str) -> bool:
    """"… for im", "Sure, I can help with that. Co": two letters that are no word, not after a number (a unit)."""
    return len(word) == 2 and word.lower() not in TWO_LETTER_WORDS and not before[-1:].isdigit()


# ---------------------------------------------------------------- both languages

# How a letter's closing line starts ("Best regards,", "Looking forward to seeing you,", "此致，"); a short
# paragraph ending on a comma that starts otherwise ("So,", "From the information given,") was cut.
SIGN_OFF = re.compile(
    r"(?i)\s*(?:best|kind|warm|warmest|yours|sincerely|regards|thanks|thank|cheers|respectfully|cordially|love|"
    r"looking forward|all the best|many thanks|take care|faithfully|truly|with (?:love|thanks|gratitude|"
    r"appreciation|best)|此致|祝|顺祝|谢谢|敬上)")
# Openers of a clause that needs a main clause after it: a last sentence that is one of them and nothing more
# (no comma, no second clause) stops before its main clause ("If you have just overtaken the second", "如果您
# 需要"). Not "because", "when", "为了", "因为": they answer why- and when-questions on their own.
_SUBORDINATE_EN = re.compile(r"(?:If|Although|Though|Unless|Whether|Even if|Even though|While|Whenever)(?=\s)")
_SUBORDINATE_ZH = re.compile(r"如果|假如|要是|虽然|尽管|即使|只要|除非|无论|不管|随着|一旦")
_MIN_CLAUSE_WORDS, _MIN_CLAUSE_CHARS_ZH = 4, 4


def lacks_main_clause(sentence: str) -> str | None:
    """The opener ("If", "如果") of a sentence that is a subordinate clause and nothing more, else None. Title
    Case is a title ("While You Were Sleeping")."""
    sentence = sentence.strip()
    if not sentence or re.search("[,，;；:：]", sentence):
        return None
    if _HAN.match(sentence[-1]):
        opener = len(sentence) >= _MIN_CLAUSE_CHARS_ZH and _SUBORDINATE_ZH.match(sentence)
    else:
        words = sentence.split()
        opener = (len(words) >= _MIN_CLAUSE_WORDS and any(w.islower() for w in words[1:])
                  and _SUBORDINATE_EN.match(sentence))
    return opener.group() if opener else None
