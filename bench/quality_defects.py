"""Realistic defects for bench/quality_bench.py: typos, encoding damage, special tokens, truncation. PII values
and their look-alikes are in quality_pii.py, the sentences written around them in quality_texts.py.

Written from what real instruction data looks like, not from the cleaner's detectors (which this module must
never import or read). Every generator takes an explicit random.Random so the bench is reproducible.
"""
from __future__ import annotations

import random
import re

# --------------------------------------------------------------------------------------------- typos
_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_POS = {c: (r, i) for r, row in enumerate(_KEY_ROWS) for i, c in enumerate(row)}


def _neighbours(c: str) -> str:
    """Keys next to `c` on a QWERTY keyboard (same row and the rows above and below)."""
    r, i = _KEY_POS[c]
    out = []
    for rr in (r - 1, r, r + 1):
        if 0 <= rr < 3:
            row = _KEY_ROWS[rr]
            out += [row[j] for j in (i - 1, i, i + 1) if 0 <= j < len(row) and row[j] != c]
    return "".join(out)


# Characters Chinese writers and IMEs confuse: homophones (的/地/得, 在/再 ...) and look-alikes (己/已/巳).
_ZH_CONFUSABLE = ["的地得", "在再", "做作", "已以己", "那哪", "他她它", "像象", "即既", "须需", "带戴", "进近",
                  "是事", "会回", "和合", "其期", "到道", "于与", "意义", "分份", "部步", "型形", "常长", "时实",
                  "发法", "现限", "成城", "力利", "定订", "度渡", "理里", "经精", "很狠", "气汽", "工公", "坐座",
                  "候后", "象向", "权全", "种重", "做座", "练炼", "竟竞", "未末", "人入", "土士", "日曰", "买卖",
                  "历厉", "辨辩", "即及", "副付", "题提", "建见", "物务", "使始", "式试", "心新", "作左"]
_ZH_SWAP = {}
for group in _ZH_CONFUSABLE:
    for c in group:
        _ZH_SWAP.setdefault(c, "")
        _ZH_SWAP[c] += "".join(x for x in group if x != c and x not in _ZH_SWAP[c])
# Full-width punctuation typed as its ASCII twin or a neighbour (a switched IME), and back.
_ZH_PUNCT = {"，": ",、", "。": ".，", "；": ";，", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
             "“": "\"", "”": "\"", "、": "，", ",": "，", ".": "。"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _typo_en(text: str, i: int, r: random.Random) -> str:
    c = text[i]
    low = c.lower()
    near = _neighbours(low) if low in _KEY_POS else "e"
    pick = r.choice(near)
    pick = pick.upper() if c.isupper() else pick
    op = r.random()
    if op < 0.4:  # hit the key next to the right one
        return text[:i] + pick + text[i + 1:]
    if op < 0.65:  # dropped letter
        return text[:i] + text[i + 1:]
    if op < 0.8:  # extra key hit alongside
        return text[:i] + c + pick + text[i + 1:]
    if i + 1 < len(text) and text[i + 1].isalpha():  # two letters swapped
        return text[:i] + text[i + 1] + c + text[i + 2:]
    return text[:i] + c + c + text[i + 1:]  # doubled letter


def _typo_zh(text: str, i: int, r: random.Random) -> str:
    c = text[i]
    if c in _ZH_SWAP and r.random() < 0.85:
        return text[:i] + r.choice(_ZH_SWAP[c]) + text[i + 1:]
    if c in _ZH_PUNCT:
        return text[:i] + r.choice(_ZH_PUNCT[c]) + text[i + 1:]
    op = r.random()
    if op < 0.5:
        return text[:i] + text[i + 1:]  # dropped character
    if op < 0.75 and i + 1 < len(text) and HAN.match(text[i + 1]):
        return text[:i] + text[i + 1] + c + text[i + 2:]  # two characters swapped
    return text[:i] + c + c + text[i + 1:]  # doubled character


def typo_positions(text: str, zh: bool) -> list[int]:
    """Where a typo can land: letters (en); Han characters and punctuation (zh), confusable ones preferred."""
    if zh:
        return [i for i, c in enumerate(text) if HAN.match(c) or c in _ZH_PUNCT]
    return [i for i, c in enumerate(text) if c.isascii() and c.isalpha()]


def add_typos(text: str, k: int, zh: bool, r: random.Random) -> str:
    """`text` with k typos at distinct places, applied right to left so earlier positions stay valid."""
    where = typo_positions(text, zh)
    if zh:  # most real Chinese typos are IME homophone picks: weight confusable characters up
        where = [i for i in where if text[i] in _ZH_SWAP or text[i] in _ZH_PUNCT] * 3 + where
    chosen = list(dict.fromkeys(r.sample(where, min(len(where), k * 3))))[:k]  # k distinct, in random order
    for i in sorted(chosen, reverse=True):
        text = _typo_zh(text, i, r) if zh else _typo_en(text, i, r)
    return text


def edit_count(n_chars: int, rate: float, r: random.Random) -> int:
    """round(rate * n) with random rounding of the fraction, at least one."""
    x = rate * n_chars
    return max(1, int(x) + (r.random() < x - int(x)))


_SENT_SPLIT = re.compile(r"(?<=[.!?。！？])\s*")


def sentences(text: str) -> list[str]:
    return [s for s in _SENT_SPLIT.split(text) if s.strip()]


def join_sentences(parts: list[str], zh: bool) -> str:
    return ("" if zh else " ").join(p.strip() for p in parts)


# --------------------------------------------------------------------------------------------- encoding damage
def _sloppy_cp1252(data: bytes) -> str:
    """Bytes read as Windows-1252 the way browsers do it: the five undefined bytes pass through as latin-1."""
    return "".join(bytes([b]).decode("cp1252", errors="strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
                   else chr(b) for b in data)


def smarten(text: str) -> str:
    """Typographic punctuation as a word processor writes it (curly quotes and apostrophes, dashes, an
    ellipsis character): English text gets its non-ASCII characters, and so its mojibake, this way."""
    text = re.sub(r"(?<=\w)'(?=\w)", "’", text)
    text = re.sub(r'"([^"\n]{1,200})"', "“\\1”", text)
    text = re.sub(r"(?<=\w) - (?=\w)", " – ", text)
    return text.replace("...", "…")


def _damage(text: str, kind: str, r: random.Random) -> str:
    raw = text.encode("utf-8")
    if kind == "utf8_as_cp1252":
        return _sloppy_cp1252(raw)
    if kind == "utf8_as_latin1":
        return raw.decode("latin-1")
    if kind == "utf8_as_gbk":
        return raw.decode("gb18030", errors="replace")
    if kind == "kun_jin_kao":  # U+FFFD written as UTF-8 then read as GBK: the classic 锟斤拷
        broken = "".join("\ufffd" if not c.isascii() and r.random() < 0.3 else c for c in text)
        return broken.encode("utf-8").decode("gbk", errors="replace")
    if kind == "replacement_chars":  # non-ASCII characters lost on the way, as after a lossy re-encode
        return "".join("\ufffd" if not c.isascii() else c for c in text)
    raise ValueError(kind)


def damage_span(text: str, r: random.Random) -> tuple[int, int]:
    """Where the damage lands: the whole text, or a stretch of it (a sentence or a run of lines), as when one
    pasted piece went through the wrong codec."""
    if r.random() < 0.4 or len(text) < 40:
        return 0, len(text)
    a = r.randrange(0, len(text) // 2)
    b = r.randrange(a + min(30, len(text) - a), len(text) + 1)
    return a, b


def mojibake(text: str, kind: str, r: random.Random) -> tuple[str, str]:
    """(damaged, clean): `text` damaged the way real pipelines damage it, over the whole text or a span of it.
    English text without non-ASCII characters is first typeset (smarten), so that `clean` is what the row
    held before the damage; damaged == clean when the span held nothing the codec could mangle."""
    clean = text if any(not c.isascii() for c in text) else smarten(text)
    a, b = damage_span(clean, r)
    if not any(not c.isascii() for c in clean[a:b]):
        a, b = 0, len(clean)
    return clean[:a] + _damage(clean[a:b], kind, r) + clean[b:], clean


# --------------------------------------------------------------------------------------------- special tokens, truncation
SPECIAL_TOKENS = ["<|im_end|>", "</s>", "<|endoftext|>", "<|im_start|>", "<s>", "[INST]", "<|eot_id|>",
                  "<|assistant|>", "<|user|>", "<|start_header_id|>"]


def with_special_token(resp: str, token: str, r: random.Random) -> str:
    """The token left in the text the way chat exports leave it: at the end, mid-text, or as a turn header."""
    how = r.randrange(3)
    if how == 0:
        return resp + token
    if how == 1:
        parts = sentences(resp)
        k = r.randrange(1, len(parts)) if len(parts) > 1 else 1
        return " ".join(parts[:k]) + token + "\n" + " ".join(parts[k:])
    return f"{token}assistant\n{resp}" if "start" in token else f"{token} {resp}"


_SENT_END = re.compile(r"[.!?。！？…\"”’)）」』]\s*$")
_EN_TOKEN = re.compile(r"[A-Za-z]+|\d+|\s+|[^\sA-Za-z\d]")


def _token_cuts(text: str, zh: bool, r: random.Random) -> list[int]:
    """Offsets where a length limit can stop a generation: between tokens, and inside longer words the way
    subword tokenizers split them (en); after any character (zh)."""
    if zh:
        return list(range(1, len(text)))
    cuts = []
    for m in _EN_TOKEN.finditer(text):
        cuts.append(m.start())
        if m.group().isalpha() and len(m.group()) >= 6:  # a subword piece boundary inside a long word
            cuts.append(m.start() + r.randint(2, len(m.group()) - 3))
    return cuts


def truncate(resp: str, zh: bool, lo: float, hi: float, r: random.Random) -> tuple[str, str] | None:
    """(cut text, where it stops): `resp` stopped at a random token position in [lo, hi) of its length, as a
    length limit stops a generation: mid-word, between words or after a comma (en), mid-sentence or after a
    comma (zh), but not right after a sentence end (there the answer reads complete and the cut cannot be
    told). None when no such cut exists."""
    n = len(resp)
    cuts = [i for i in _token_cuts(resp, zh, r) if n * lo <= i < n * hi and resp[:i].strip()
            and not _SENT_END.search(resp[:i]) and not resp[:i].rstrip().endswith(("\n", ":", "："))]
    if not cuts:
        return None
    i = r.choice(cuts)
    head = resp[:i].rstrip()
    where = ("mid_word" if resp[i - 1].isalpha() and resp[i].isalpha() and not zh else
             "after_comma" if head.endswith((",", "，", "、", ";", "；")) else
             "mid_sentence" if zh else "between_words")
    return head, where
