"""Junk shapes of a response: unfilled template slots, an answer cut off, an answer written twice.

Each check looks for positive evidence of the defect and leaves code, markup, tables and list items alone:
a line without a final period is no cut-off by itself, `[INFO]` is a log tag and `{name}` in Python is a format
field.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from functools import lru_cache

from . import pii
from .clause_end import (DANGLING_EN, PRONOUNS, PRONOUNS_ZH, SENTENCE_OPENERS, SIGN_OFF, is_two_letter_stub,
                         lacks_main_clause, open_ending, zh_dangling)
from .list_ends import ENDS_SENTENCE, empty_last_item, headless_last_item, short_unstopped_last_item
from .quality_rules import DEFAULT_RULES, QualityRules
from .textshape import LIST_ITEM, is_code_line, is_table_row, prose, strip_code

Issue = tuple[str, str]

# ---------------------------------------------------------------- template slots

# The placeholders PII redaction writes (<EMAIL>, <PHONE>, …) are this pipeline's own, not unfilled slots.
OWN_PLACEHOLDERS = frozenset(pii._PLACEHOLDER.values())
# Bracketed upper-case words that are not slots: log levels, tokenizer tokens, chat-template markers, keys.
_TAGS = frozenset(
    "INFO ERROR WARN WARNING DEBUG TRACE FATAL CRITICAL NOTICE SEVERE OK FAIL FAILED PASS PASSED DONE SKIP SKIPPED "
    "TODO FIXME NOTE CLS SEP MASK PAD UNK BOS EOS INST SYS EOT START END ENTER TAB ESC CTRL ALT SHIFT DEL SPACE "
    "URL LINK IMG IMAGE GIF PDF HTML XML JSON CSV API SQL AI".split())
_ROMAN = re.compile(r"[IVXLCDM]+")
_HTML_TAGS = frozenset(
    "a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption cite code col "
    "colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure footer form h1 "
    "h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend li link main map mark meta meter "
    "nav noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script section "
    "select small source span strong style sub summary sup table tbody td template textarea tfoot th thead time "
    "title tr track u ul var video wbr center font frame frameset marquee xml svg path".split())
_SLOT_NOUNS = (r"Name|Date|Company|Address|Phone|Email|E-mail|Number|Title|City|State|Country|Website|Position|"
               r"Organi[sz]ation|Product|Recipient|Amount|Time|Location|Event|Signature|Contact|Department|"
               r"School|University|Job|Role|Price|Link")
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆"
             "汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
# (Also the vectorized prefilter's, in quality.py.)
ZH_SLOT_NOUNS = (r"名称|姓名|名字|日期|地址|电话|邮箱|公司|时间|金额|职位|产品|网址|链接|联系方式|签名|联系人|收件人|称呼"
                 r"|数量|数字|城市|地点|学校|单位|部门|客户")
# Slot shapes that are unmistakable wherever they stand, prompts included: {{name}}, <<name>>, [Your Name].
_STRONG_SLOTS = re.compile(
    r"\{\{\s*[^\W\d]\w*\s*\}\}|<<\s*[^\W\d]\w*\s*>>"
    r"|\[(?:[Yy]our|[Ii]nsert|[Ee]nter|[Aa]dd) [^\[\]\n]{1,40}\](?!\()"
    r"|[\[【](?:你的|您的|请输入|插入|填写|输入)[^\[\]【】\n]{1,15}[\]】]")
# Shapes that may also be other things (markup, math, code, a chemical formula); judged in the response's prose
# and table cells (a slot left in a comparison table is as unfilled as one in a sentence).
_WEAK_SLOTS = re.compile(
    # [NAME], [COMPANY NAME], [QR_CODE]: not after an identifier (buf[MAX_SIZE]), not a link ([A](url)).
    r"(?<![\w\]])\[([A-Z][A-Z_]*(?: [A-Z][A-Z_]*){0,3})\](?!\()"
    rf"|\[(?:[A-Z][\w'’-]*\s){{0,3}}(?:{_SLOT_NOUNS})(?:\s(?:of\s)?[A-Z]?[\w'’-]*){{0,3}}\](?!\()"
    rf"|[\[【][^\[\]【】\n]{{0,10}}(?:{ZH_SLOT_NOUNS})[^\[\]【】\n]{{0,6}}[\]】]"
    # {name} after a space or an opening mark: not LaTeX (\text{cm}, \section*{Intro}, x^{2}), not numbers.
    r"|(?<![^\s(\"'“‘:：,，\u4e00-\u9fff])\{([A-Za-z_][A-Za-z_ ]{2,30}|[\u4e00-\u9fff]{2,10})\}"
    rf"|<[^<>\n]{{0,6}}(?:{ZH_SLOT_NOUNS})[^<>\n]{{0,4}}>|[（(](?:请|此处|在此)?(?:填写|输入|插入)[^）)\n]{{0,10}}[）)]"
    r"|<((?:[Yy]our|YOUR) [^<>\n]{1,30}|[A-Z][A-Z_]{2,}(?: [A-Z][A-Z_]*){0,3})>"
    # <Customer Name>, %(name)s: a slot noun in Title Case, Python's named format.
    rf"|<(?:[A-Z][a-z]+ ){{0,2}}(?:{_SLOT_NOUNS})>|%\([A-Za-z_]\w*\)[sd]"
    # Chinese runs on without spaces ("$ADDRESS发往", "拨打XXX"), so only Latin letters and digits bound these.
    r"|\$\{\w+\}|(?<![A-Za-z0-9_$])\$([A-Z][A-Z_]{2,})(?![A-Za-z0-9_])"
    r"|(?<![A-Za-z0-9_.@-])(?:XXX+|xxx+)(?![A-Za-z0-9_-])|(?<![A-Za-z0-9.@-])(?:XX|xx)(?=[\u4e00-\u9fff])|××|ＸＸ"
    # 某某 is a blank to fill, except after a surname, where it anonymizes a person (王某某) as news do.
    rf"|(?<![{_SURNAMES}])某某"
)
# The prompt asks for a template: slots in the answer are what it wants.
_WANTS_TEMPLATE = re.compile(r"(?i)\btemplates?\b|placeholder|fill[- ]in|form letter|mad ?lib|模板|模版|占位|填空")
_NUMBERED = re.compile(r"(?:Chapter|Part|Volume|Book|Act|Article|Section|Canto|Psalm|Bowl|Olympiad) $")
# Environment variables are written as $NAME in prose about shells.
_ENV_VARS = frozenset("HOME PATH USER PWD SHELL LANG TERM EDITOR TMPDIR HOSTNAME DISPLAY JAVA_HOME PYTHONPATH".split())


def _is_slot(m: re.Match) -> bool:
    inner = next((g for g in m.groups() if g), None)
    text = m.group(0)
    if text in OWN_PLACEHOLDERS:
        return False
    if inner is None and not text.startswith("XXX"):
        return True
    if text.startswith("[") and text.endswith("]"):
        words = inner.replace("_", " ").split()
        return (inner not in _TAGS and not _ROMAN.fullmatch(inner)
                and any(len(w) >= 3 for w in words))  # [NO], [EX Q]: markers, formulas
    if text.startswith("<"):
        return inner.lower() not in _HTML_TAGS and inner not in _TAGS
    if text.startswith("$"):
        return inner not in _ENV_VARS
    if text.startswith("XXX"):  # "Chapter XXX", "Super Bowl XXX": a Roman numeral
        return not _NUMBERED.search(m.string, max(0, m.start() - 12), m.start())
    return True  # {name}


def template_slots(response: str, instruction: str = "") -> Issue | None:
    """An unfilled slot in the response ({{name}}, {name}, [Your Name], <NAME>, $VAR, XXX, 某某公司, 【你的名字】),
    or an unmistakable one ({{name}}, [Your Name]) in the instruction. Code is skipped: it shows template syntax
    on purpose. A prompt that asks for a template gets slots in its answer."""
    if _WANTS_TEMPLATE.search(instruction):
        return None
    for text, pattern in ((strip_code(response), _STRONG_SLOTS), (strip_code(instruction), _STRONG_SLOTS),
                          (prose(response, tables=True), _WEAK_SLOTS)):
        for m in pattern.finditer(text):
            if _is_slot(m) and not (m.group(0)[0] == "{" and _in_format_string(text, m.start())):
                return "template_slot", f"unfilled template slot {m.group(0)}"
    return None


# A line that formats strings: print(f"Hello {name}"), "{name}".format(…), logger.info("{user} …").
_FORMAT_CONTEXT = re.compile(r"""\bf["']|\.format\(|[\w.]+\(\s*["'][^"'\n]*\{""")


def _in_format_string(text: str, pos: int) -> bool:
    start, end = text.rfind("\n", 0, pos) + 1, text.find("\n", pos)
    return bool(_FORMAT_CONTEXT.search(text[start:end if end >= 0 else len(text)]))


# ---------------------------------------------------------------- truncation

# Full-width and ASCII brackets get mixed in Chinese text ("（Basilisk)"), so they count as one kind.
_BRACKETS = (("(（", ")）"), ("[【", "]】"), ("「", "」"), ("《", "》"), ("『", "』"))
_TRAILING_CUT = ",，、:：–—(（[【“「《"
_ELLIPSIS = re.compile(r"(?:\.{3,}|…+|⋯+)\s*$")
# An ellipsis that stands for "and so on" after a sequence or a list: "3, 7, 11...", "and so forth...".
_ENUMERATION = re.compile(r"(?i)(?:[\d+\-*/=,、]\s*|\b(?:etc|so on|so forth|and more|and others)|等等?|之类)$")
_FINISHED = frozenset(".!?。！？")
_CLOSERS = frozenset("”’\"')）」』】]")
# Chinese at the end, or a number right after Chinese ("并在202").
_HAN_ENDING = re.compile(r"[\u4e00-\u9fff]\d*$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CLAUSE_END = re.compile(r"[，。！？；：,.!?;:\s]")
_LAST_WORD = re.compile(r"([A-Za-z]+)[\W\d_]*$")
# A sentence this long (characters) or longer is judged on its last word's part of speech (see clause_end).
_OPEN_ENDING_MIN_CHARS_ZH = 4
_SENTENCE_END_ZH = re.compile(r"[。！？；\n]")
_MAY_OPEN = re.compile(r'[(（\[【「《『"“]')
_BRACKET_CHAR = re.compile(r'[()（）\[\]【】「」《》『』"“”]')


def _unclosed(line: str) -> str | None:
    found = _BRACKET_CHAR.findall(line)
    if not found:
        return None
    counts = Counter(found)
    for opens, closes in _BRACKETS:
        n_open = sum(counts[c] for c in opens)
        if opens[0] == "(" and n_open:  # emoticons ":(" are not brackets
            n_open -= len(re.findall(r"[:;]-?\(", line))
        if n_open > sum(counts[c] for c in closes):
            return opens[0]
    # Curly and straight double quotes get mixed ("“诗人王子\""); a quote opened on an earlier line may close
    # on this one, so only a surplus of opening ones counts.
    if counts["“"] > counts["”"] + counts['"'] or (counts['"'] % 2 and counts["”"] <= counts["“"]):
        return '"'
    return None


def _is_sign_off(text: str, last_line: str) -> bool:
    """"Best regards," or "Looking forward to seeing you," closing a letter on a paragraph of its own."""
    return (len(last_line.split()) <= 6 and text.endswith("\n\n" + last_line)
            and SIGN_OFF.match(last_line) is not None)


_SPAN_MAX_CHARS = 300
# English vocabulary by frequency (wordfreq, offline data in the package): the most common words, sorted for
# prefix search, with their Zipf frequency (log10 of uses per billion words).
_VOCABULARY_SIZE = 50_000
# A stub is a cut word when a word it starts is this much more common (about 30x) than the stub itself. Measured
# on real English answers: 71% of random mid-word cuts pass it, and 0.1% of sentence-final words of 3+ letters.
_FRAGMENT_ZIPF_GAP = 1.5
# A word one letter longer counts only this far apart (100x): a word and its plural or -s form ("goal", "goals";
# "thank", "thanks") are near in frequency, a cut word and its whole ("specificall", "brough") are not.
_FRAGMENT_ZIPF_GAP_ONE_LETTER = 2.0
# Rarer than this (about one use in a million words), a word may be a cut-off of a longer one the prompt uses.
_RARE_ZIPF = 3.0


@lru_cache(maxsize=1)
def _english_vocabulary() -> tuple[list[str], dict[str, float]]:
    from wordfreq import get_frequency_list, top_n_list

    words = sorted(w for w in top_n_list("en", _VOCABULARY_SIZE) if w.isalpha() and w.isascii())
    # wordfreq's list is in buckets of one centibel, so a word's Zipf value is 9 minus its bucket index / 100: what
    # zipf_frequency gives for every one of these single-token words, without tokenizing 50k words per process.
    wanted, zipf = set(words), {}
    for index, bucket in enumerate(get_frequency_list("en")):
        zipf.update((w, round(9 - index / 100, 2)) for w in bucket if w in wanted)
        if len(zipf) == len(wanted):
            break
    return words, zipf


def _is_word_fragment(word: str) -> bool:
    """"impor", "Gradua": the first letters of a far more common word, not a word of their own. Acronyms and
    words shorter than three letters are not judged."""
    if len(word) < 3 or not (word.islower() or word.istitle()):
        return False
    word = word.lower()
    words, zipf = _english_vocabulary()
    own = _zipf(word)
    longest = one_longer = 0.0
    for i in range(bisect_left(words, word), len(words)):  # indexes: a slice would copy the 50k-word list
        longer = words[i]
        if not longer.startswith(word):
            break
        if len(longer) >= len(word) + 2:
            longest = max(longest, zipf[longer])
        elif len(longer) == len(word) + 1:
            one_longer = max(one_longer, zipf[longer])
    return longest - own >= _FRAGMENT_ZIPF_GAP or one_longer - own >= _FRAGMENT_ZIPF_GAP_ONE_LETTER


def _zipf(word: str) -> float:
    """Zipf frequency of a lower-case English word (0 for one wordfreq has never seen)."""
    own = _english_vocabulary()[1].get(word)
    if own is None:
        from wordfreq import zipf_frequency
        own = zipf_frequency(word, "en")
    return own


def truncated(response: str, rules: QualityRules = DEFAULT_RULES, prompt: str = "") -> Issue | None:
    """A response that ends cut off: inside a code fence or a code statement, on a dangling word ("… and the",
    "…的", ". This can"), a word stub ("specificall"), an open bracket or quote, a trailing comma or colon,
    inside a word it copies from the prompt, on a list item without the heading all others have or an empty
    bullet, or (long prose only) an ellipsis. A line without final punctuation is no evidence by itself: lists, tables, code, titles and many
    finished sentences end that way. An answer copied from `prompt` (an extractive span) that ends where a word
    (a long one: a clause) of the prompt does is not judged."""
    if response.count("```") % 2:
        return "truncated", "unclosed code fence"
    text = response.rstrip()
    # Most answers end on a full stop; a cut-off almost never lands right after one.
    if not text or text.endswith("```") or (text[-1] in _FINISHED and not text.endswith("...")) or (
            text[-1] in _CLOSERS and text[-2:-1] in _FINISHED):
        return None
    last_line = text[text.rfind("\n") + 1:]
    if is_code_line(last_line) or _OPENING_KEYWORD.fullmatch(last_line):
        # Code ends as it likes, except inside a statement.
        detail = _code_cut(text, last_line)
        return ("truncated", f"{detail}: {text[-40:]!r}") if detail else None
    # An answer quoted from the prompt (an extractive span) ends where its source does; checked first, as
    # reading comprehension sets are full of short spans.
    if quoted_whole(text, prompt):
        return None
    detail = (_cut_off(text, last_line, rules) or _cut_in_copied_word(text, prompt)
              or headless_last_item(text, last_line) or short_unstopped_last_item(text, last_line)
              or _unfinished_last_sentence(text, last_line, rules) or _subordinate_clause_only(last_line))
    # Tables and rules end as they like; a letter may close on "Best regards,".
    if (not detail or is_table_row(last_line) or set(last_line.strip()) <= set("-=*_#~")
            or (last_line[-1] == "," and _is_sign_off(text, last_line))):
        return None
    return "truncated", f"{detail}: {text[-40:]!r}"


# Statement keywords that cannot end a program, on a line of their own: "for", "def", "import", …
_OPENING_KEYWORD = re.compile(r"\s*(?:for|while|if|elif|def|class|import|from|with|switch|function|var|let|const|"
                              r"lambda)\s*")
# An assignment, a sum or a separator at the end of a statement: the expression goes on ("x = a +"); not i++
# or i--. (Other symbols end statements too: a tag's ">", "import *", a shell's "&", a path's "/".)
_OPERATOR_END = re.compile(r"(?:[=,]|(?<![+])\+|(?<![-])-)\s*$")
_OPENERS, _CLOSERS_CODE = re.compile(r"[(\[{]"), re.compile(r"[)\]}]")


def _code_cut(text: str, last_line: str) -> str | None:
    """What shows that code ending `text` was cut inside a statement: a lone opening keyword after code, a
    bracket left open on the last line, or an operator at its end."""
    if _OPENING_KEYWORD.fullmatch(last_line):
        before = [ln for ln in text[:len(text) - len(last_line)].split("\n") if ln.strip()]
        return f"code ends on {last_line.strip()!r}" if before and is_code_line(before[-1]) else None
    if len(_OPENERS.findall(last_line)) > len(_CLOSERS_CODE.findall(last_line)):
        return "code ends inside a bracket"
    if _OPERATOR_END.search(last_line) and not last_line.rstrip().endswith(("=>", "->")):
        return f"code ends on {last_line.rstrip()[-1]!r}"
    return None


# The last three words of a response.
_TAIL_WORDS = re.compile(r"(?:\S+\s+){2}[A-Za-z]+$")
_LATIN_LETTER = re.compile("[A-Za-z]")
_LAST_LATIN_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]{3,}$")


def _cut_in_copied_word(text: str, prompt: str) -> str | None:
    """A response that copies text from the prompt and ends inside one of its words: "… You will even" where
    the prompt says "You will eventually", "the main goal" of "the main goals"; or that ends on a rare stub
    ("vegeta", "regulariza") of a word the prompt or the response itself writes whole ("vegetation") and never
    on its own."""
    if not _LATIN_LETTER.fullmatch(text[-1]):
        return None
    tail = _TAIL_WORDS.search(text[-200:])
    if prompt and tail and _only_inside_words((tail.group(),), prompt):
        return f"ends inside a word it copies from the prompt ({tail.group()!r}…)"
    word = _LAST_LATIN_WORD.search(text)
    # As written, or with its first letter's case changed by a sentence start ("Regularization", "regulariza").
    stubs = (word.group(), word.group()[0].swapcase() + word.group()[1:]) if word else ()
    written_before = f"{prompt}\n{text[:word.start()]}" if word else ""
    if (word and _only_inside_words(stubs, written_before, word_start=True)
            and _zipf(word.group().lower()) < _RARE_ZIPF):
        return f"ends on {word.group()!r}, the start of a word written whole before"
    return None


def _only_inside_words(parts: tuple[str, ...], prompt: str, word_start: bool = False) -> bool:
    """Whether any of `parts` occurs in `prompt` and each is followed by a Latin letter wherever it does (at the
    start of a word, with `word_start`)."""
    found = False
    for part in parts:
        i = prompt.find(part)
        while i >= 0:
            if not (word_start and i and _LATIN_LETTER.match(prompt, i - 1)):
                if not _LATIN_LETTER.match(prompt, i + len(part)):
                    return False
                found = True
            i = prompt.find(part, i + 1)
    return found


def quoted_whole(text: str, prompt: str) -> bool:
    """An answer copied from the prompt (an extractive span) that ends where a word of it does; a long one
    only where a clause of the prompt ends."""
    if text not in prompt or (_LATIN_LETTER.fullmatch(text[-1]) and _only_inside_words((text,), prompt)):
        return False
    return len(text) < _SPAN_MAX_CHARS or re.search(re.escape(text) + r"[。！？，；：.!?,;:]", prompt) is not None


# Where a sentence ends inside a line: a full stop after a word, then the capital of the next (English); a
# Chinese full stop.
_SENTENCE_BREAK_EN = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")
_SENTENCE_BREAK_ZH = re.compile(r"[。！？]")
# In English only long answers are judged (short ones, and chatty closing lines, often lack the stop); in
# Chinese a last sentence of this many characters, or of more than one clause.
_RUN_ON_MIN_CHARS_ZH, _RUN_ON_MIN_WORDS = 12, 4
# Closing wishes, often left without a stop: "祝你好运", "希望对你有帮助".
_CLOSING_WISH_ZH = re.compile(r"祝|希望|谢谢|感谢|加油")
_ATTRIBUTION = re.compile(r"[\"”'’]\s*[-–—]{1,2}\s*[^\s\"”][^\"”]{0,60}$")


def _unfinished_last_sentence(text: str, last_line: str, rules: QualityRules) -> str | None:
    """A last sentence that ends on a word where the answer's other sentences end on a full stop: earlier in
    its line (a paragraph or a list item), or, for a line of one sentence, in every one of the paragraphs (or
    items of its list) before it, at least `rules.truncation_consistent_lines` of them. Finished prose keeps
    its punctuation to the end. A one-sentence answer, a line after fewer or unpunctuated lines, a short last
    sentence (a closing "Good luck"), a closing hashtag and a quotation's attribution ("… —C.S. Lewis") are not
    judged."""
    if not last_line[-1].isalnum() or re.search(r"#\w+$", last_line) or _ATTRIBUTION.search(last_line):
        return None
    item = LIST_ITEM.match(last_line)
    body = last_line[item.end():] if item else last_line
    # Chinese text may end on a number or a Latin word ("公元前3", "编号为INV123").
    zh = bool(_HAN.search(body[-20:]))
    sentences = (_SENTENCE_BREAK_ZH if zh else _SENTENCE_BREAK_EN).split(body)
    last = sentences[-1].strip()
    if zh:
        long_enough = ((len(last) >= _RUN_ON_MIN_CHARS_ZH or bool(re.search("[，,]", last)))
                       and not _CLOSING_WISH_ZH.match(last))
    else:
        long_enough = len(text) >= rules.truncation_min_chars and len(last.split()) >= _RUN_ON_MIN_WORDS
    # A line of its own counts only when it reads as a sentence: not a log line ("[12:00] INFO …") or a record
    # of fields ("Brand: Samsung, Capacity: 2TB").
    if long_enough and (len(sentences) >= 2 or (
            rules.truncation_consistent_lines and _PROSE_START.match(body) and (item or not _FIELD.match(body))
            and _earlier_lines_punctuated(text[:-len(last_line)], bool(item), rules.truncation_consistent_lines))):
        return "a sentence stops without the full stop the ones before it have"
    return None


_PROSE_START = re.compile(r"\s*[\"“‘'(（]?[A-Za-z\u4e00-\u9fff]")
_FIELD = re.compile(r"\s*[^:：\s][^:：]{0,30}[:：]\s*\S")


def _earlier_lines_punctuated(before: str, item: bool, at_least: int) -> bool:
    """Whether the lines before the last, at least `at_least` of them, all end on a full stop: the list items
    for a last list item, else the prose lines (a line ending on a full stop is prose whatever symbols it
    holds: "面积 = 5 x 3 = 15 平方单位。")."""
    lines = [ln.strip() for ln in before.split("\n") if ln.strip()]
    if item:
        same = [ln for ln in lines if LIST_ITEM.match(ln)]
    else:
        same = [ln for ln in lines if not (LIST_ITEM.match(ln) or is_table_row(ln))
                and (ENDS_SENTENCE.search(ln) or not is_code_line(ln))]
    return len(same) >= at_least and all(ENDS_SENTENCE.search(ln) for ln in same)


def _subordinate_clause_only(last_line: str) -> str | None:
    item = LIST_ITEM.match(last_line)
    body = last_line[item.end():] if item else last_line
    breaks = _SENTENCE_BREAK_ZH if _HAN.match(body[-1:]) else _SENTENCE_BREAK_EN
    opener = lacks_main_clause(breaks.split(body)[-1])
    return f"a clause opened by {opener!r} without its main clause" if opener else None


def _cut_off(text: str, last_line: str, rules: QualityRules) -> str | None:
    """What shows that `text` (stripped, not ending on a full stop) was cut off, or None."""
    if empty_last_item(text, last_line):
        return "ends on an empty list item"
    if last_line[-1] in _TRAILING_CUT:
        return f"ends on {last_line[-1]!r}"
    if _MAY_OPEN.search(last_line) and (bracket := _unclosed(prose(last_line))):
        return f"unclosed {bracket}"
    if text.endswith(("...", "…", "⋯")):
        before = _ELLIPSIS.sub("", text[-300:]).rstrip()
        if (len(text) > rules.truncation_min_chars and before and not LIST_ITEM.match(last_line)
                and not _ENUMERATION.search(before)):
            return "ends with an ellipsis"
        return None
    if _HAN_ENDING.search(text[-12:]):
        clause = _CLAUSE_END.split(text[-200:])[-1]
        word = zh_dangling(clause, any(c in text for c in "。！？"))
        sentence = _SENTENCE_END_ZH.split(text[-200:])[-1]
        if not word and len(sentence) >= _OPEN_ENDING_MIN_CHARS_ZH:
            word = open_ending(clause)
        if not word and sentence.strip() in PRONOUNS_ZH and len(sentence) < len(text):
            return f"ends on a sentence of one word, {sentence.strip()!r}"
        return f"ends mid-clause on {word!r}" if word else None
    m = _LAST_WORD.search(last_line[-40:])
    if not m or m.end(1) != len(last_line[-40:]):
        return None
    word = m.group(1)
    words = last_line.split()
    before = re.sub(r"[\W\d_]+", "", words[-2].lower()) if len(words) > 1 else ""
    # "Vitamin A" and "Portland, OR" end on a letter or an abbreviation, not an article or a conjunction.
    finished_by = DANGLING_EN.get(word.lower())
    dangling = (finished_by is not None and word != "A" and not (word.isupper() and len(word) > 1)
                and before not in finished_by)
    if dangling and len(words) >= 2:
        return f"ends on the dangling word {word!r}"
    # "… the social contract. This can": a sentence of a pronoun and an auxiliary after a finished one.
    if (finished_by is not None and before in finished_by and before in PRONOUNS and len(words) >= 3
            and words[-2][:1].isupper() and words[-3][-1:] in ".!?"):
        return f"ends on the dangling words {' '.join(words[-2:])!r}"
    # "… the second law. This": a sentence that is only the pronoun or question word it opens with.
    if len(words) >= 2 and words[-2][-1:] in ".!?" and word.lower() in SENTENCE_OPENERS:
        return f"ends on a sentence of one word, {word!r}"
    # A capital is a name's mid-sentence ("… by Cirq"), a fragment's only where a sentence starts ("… Gradua").
    starts_sentence = len(words) == 1 or before == "" or words[-2][-1:] in ".!?:"
    if len(words) >= 2 and (word.islower() or starts_sentence) and (
            _is_word_fragment(word) or is_two_letter_stub(word, words[-2])):
        return f"ends mid-word on {word!r}"
    return None


# ---------------------------------------------------------------- doubled answer

_NON_ALNUM = re.compile(r"[\W_]+")


def doubled_answer(response: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    """The whole response written twice: "A. A.", or the same paragraphs again."""
    flat = " ".join(response.split())
    n = len(flat)
    for sep in (" ", ""):
        half, rest = divmod(n - len(sep), 2)
        if rest or half <= 0 or flat[half:half + len(sep)] != sep:
            continue
        first = flat[:half]
        # A copy that is itself one unit over and over ("哈哈哈…") is a loop, which `repetition` reports.
        periodic = (first + sep + first).find(first, 1) < half + len(sep)
        if (first == flat[half + len(sep):] and not periodic
                and len(_NON_ALNUM.sub("", first)) >= rules.doubled_min_chars):
            return "doubled_answer", f"the response is one text written twice: {first[:40]!r}…"
    return None
