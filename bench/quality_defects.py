"""Realistic defects for bench/quality_bench.py: typos, encoding damage, special tokens, truncation, PII values
and their look-alikes. The sentences written around them are in quality_texts.py.

Written from what real instruction data looks like, not from the cleaner's detectors (which this module must
never import or read). Every generator takes an explicit random.Random so the bench is reproducible.
"""
from __future__ import annotations

import base64
import json
import random
import re
import string

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


def mojibake(text: str, kind: str, r: random.Random) -> str:
    """`text` damaged the way real pipelines damage it."""
    raw = text.encode("utf-8")
    if kind == "utf8_as_cp1252":
        return _sloppy_cp1252(raw)
    if kind == "utf8_as_latin1":
        return raw.decode("latin-1")
    if kind == "utf8_as_gbk":
        return raw.decode("gb18030", errors="replace")
    if kind == "kun_jin_kao":  # U+FFFD written as UTF-8 then read as GBK: the classic 锟斤拷
        broken = "".join("\ufffd" if HAN.match(c) and r.random() < 0.3 else c for c in text)
        return broken.encode("utf-8").decode("gbk", errors="replace")
    if kind == "replacement_chars":  # every non-ASCII character lost on the way, as after a bad re-encode
        out = "".join("\ufffd" if not c.isascii() else c for c in text)
        if out == text:  # pure ASCII: lose the apostrophes, as with curly quotes that did not survive
            out = text.replace("'", "\ufffd")
        return out
    raise ValueError(kind)


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


# Words and characters after which no sentence ends: a text stopping there is cut off, not merely missing its
# final period (which a clean answer may well lack).
_EN_OPEN_WORDS = {"the", "a", "an", "of", "to", "and", "or", "with", "for", "in", "on", "that", "which", "because",
                  "is", "are", "was", "by", "as", "from", "at", "but", "your", "their", "its", "this", "will", "can"}
# (Single characters such as 在 or 和 are left out: 存在, 温和 end sentences.)
_ZH_OPEN = ("，", "、", "把", "被", "因为", "但是", "如果", "所以", "并且", "而且", "比如", "通过", "包括", "以及",
            "由于", "例如")


def _open_cut(head: str, nxt: str, zh: bool) -> bool:
    """Whether `head` (the text kept) plainly stops mid-sentence, `nxt` being the character cut away."""
    if zh:
        return head.endswith(_ZH_OPEN) and bool(HAN.match(nxt))
    if head.endswith(","):
        return True
    word = re.search(r"[A-Za-z]+$", head)
    if word and nxt.isalpha():  # mid-word: 3+ letters kept, 2+ cut away
        return len(word.group()) >= 3 and len(re.match(r"[A-Za-z]*", nxt + "x").group()) >= 2
    last = re.search(r"([A-Za-z]+)\s*$", head)
    return nxt == " " and last is not None and last.group(1).lower() in _EN_OPEN_WORDS


def truncate(resp: str, zh: bool, lo: float, hi: float, r: random.Random) -> str | None:
    """`resp` cut where it plainly stops mid-sentence (mid-word, after "the", "of", a comma; after ，, 因为, 以及),
    somewhere in [lo, hi) of its length. None when no such cut exists."""
    n = len(resp)
    cuts = [i for i in range(max(1, int(n * lo)), int(n * hi)) if _open_cut(resp[:i], resp[i], zh)]
    if not cuts:
        return None
    return resp[:r.choice(cuts)].rstrip()


# --------------------------------------------------------------------------------------------- PII
def _digits(r: random.Random, k: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(k))


def _alnum(r: random.Random, k: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(r.choice(alphabet) for _ in range(k))


def luhn_complete(prefix: str) -> str:
    """prefix + the Luhn check digit."""
    total = 0
    for i, d in enumerate(reversed(prefix)):
        v = int(d) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return prefix + str((10 - total % 10) % 10)


def cn_resident_id(r: random.Random) -> str:
    """An 18-character mainland resident ID with a valid ISO 7064 MOD 11-2 check character."""
    region = r.choice(["110105", "310104", "440305", "330106", "510107", "420106", "320102", "370202"])
    body = f"{region}{r.randint(1955, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{_digits(r, 3)}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


def _valid_phone(r: random.Random, region: str, national: str) -> str:
    import phonenumbers  # a real number is one the numbering plan allows; the library knows the plans
    while True:
        num = phonenumbers.parse(national.format(*[r.choice(string.digits) for _ in range(12)]), region)
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL), \
                phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _jwt(r: random.Random) -> str:
    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
    payload = {"sub": _digits(r, 8), "name": r.choice(["alice", "wang.lei", "jdoe"]), "iat": 1700000000 + r.randrange(10**7)}
    signature = _alnum(r, 43, string.ascii_letters + string.digits + "-_")
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}.{signature}"


_FIRST = ["james", "maria", "li.wei", "zhang.min", "olivia", "chen_jie", "david", "wangfang", "sarah.k", "tom88"]
_DOMAINS = ["gmail.com", "outlook.com", "163.com", "qq.com", "yahoo.co.uk", "acme-corp.com", "pku.edu.cn", "proton.me"]
_STREETS = ["Maple Street", "Oak Avenue", "Sunset Blvd", "Elm Road", "Cedar Lane", "Washington Ave", "Lake Drive"]
_CITIES = [("Springfield", "IL", "627"), ("Austin", "TX", "787"), ("Portland", "OR", "972"), ("Denver", "CO", "802"),
           ("Columbus", "OH", "432"), ("Madison", "WI", "537")]
_CN_PLACES = [("广东省", "深圳市", "南山区"), ("浙江省", "杭州市", "西湖区"), ("江苏省", "南京市", "鼓楼区"),
              ("四川省", "成都市", "武侯区"), ("", "北京市", "朝阳区"), ("", "上海市", "浦东新区"), ("湖北省", "武汉市", "洪山区")]
_CN_ROADS = ["科技园南路", "文三路", "中山北路", "人民南路", "建国路", "张江路", "珞喻路"]


def _public_ipv4(r: random.Random) -> str:
    while True:
        a = r.randint(1, 223)
        if a not in (10, 100, 127, 169, 172, 192, 198, 203):  # skip private, CGNAT, loopback, link-local, doc
            return f"{a}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _public_ipv6(r: random.Random) -> str:
    head = r.choice(["2a03:2880", "2604:a880", "2400:cb00", "240e:3b7", "2409:8c54"])
    return head + ":" + ":".join(f"{r.randrange(1, 0xffff):x}" for _ in range(6))


def _api_key(r: random.Random) -> str:
    up = string.ascii_uppercase + string.digits
    return r.choice([
        lambda: "sk_live_" + _alnum(r, 24),
        lambda: "hf_" + _alnum(r, 34),
        lambda: "ghp_" + _alnum(r, 36),
        lambda: "AKIA" + _alnum(r, 16, up),
        lambda: "sk-proj-" + _alnum(r, 48, string.ascii_letters + string.digits + "-_"),
        lambda: "xoxb-" + _digits(r, 12) + "-" + _digits(r, 13) + "-" + _alnum(r, 24),
        lambda: "AIza" + _alnum(r, 35, string.ascii_letters + string.digits + "-_"),
    ])()


def pii_value(kind: str, lang: str, r: random.Random) -> str:
    """A random, valid-looking value of one PII kind."""
    if kind == "email":
        return f"{r.choice(_FIRST)}{r.randint(1, 99)}@{r.choice(_DOMAINS)}"
    if kind == "phone_plus":
        if lang == "zh":
            prefix = r.choice(["138", "139", "186", "159", "177", "199"])
            return r.choice(["+86 ", "+86-", "+86"]) + prefix + _digits(r, 8)
        region, shape = r.choice([("US", "({}{}{}) {}{}{}-{}{}{}{}"), ("GB", "07{}{}{} {}{}{}{}{}{}"),
                                  ("GB", "020 {}{}{}{} {}{}{}{}")])
        return _valid_phone(r, region, shape)[1]
    if kind == "phone_no_plus":
        if lang == "zh":
            m = r.choice(["135", "138", "150", "188", "176", "191"]) + _digits(r, 8)
            return r.choice([m, f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}-{m[3:7]}-{m[7:]}", "86" + m])
        return _valid_phone(r, "US", "({}{}{}) {}{}{}-{}{}{}{}")[0]
    if kind == "cn_id":
        v = cn_resident_id(r)
        return f"{v[:6]} {v[6:14]} {v[14:]}" if r.random() < 0.25 else v
    if kind == "card":
        prefix, length = r.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("62", 16), ("6228", 19)])
        card = luhn_complete(prefix + _digits(r, length - len(prefix) - 1))
        return r.choice([card, " ".join(card[i:i + 4] for i in range(0, len(card), 4))])
    if kind == "ipv4":
        return _public_ipv4(r)
    if kind == "ipv6":
        return _public_ipv6(r)
    if kind == "cred_url":
        user, host = r.choice(["admin", "deploy", "svc_app"]), r.choice(["db", "ci", "files"])
        domain = r.choice(["myshop.io", "acme-corp.com", "lab.example.net"])
        return f"{r.choice(['postgres', 'https', 'mysql', 'ftp'])}://{user}:{_alnum(r, 12)}@{host}.{domain}/prod"
    if kind == "api_key":
        return _api_key(r)
    if kind == "bearer":
        return _alnum(r, 40, string.ascii_letters + string.digits + "-_.")
    if kind == "jwt":
        return _jwt(r)
    if kind == "kv_secret":
        return _alnum(r, r.randint(14, 32), string.ascii_letters + string.digits + "!#%&*+-")
    if kind == "address":
        if lang == "zh":
            p, c, d = r.choice(_CN_PLACES)
            room = f"{r.randint(1, 30)}栋{r.randint(1, 30)}0{r.randint(1, 9)}室"
            return f"{p}{c}{d}{r.choice(_CN_ROADS)}{r.randint(1, 999)}号{room}"
        city, st, z = r.choice(_CITIES)
        return f"{r.randint(10, 9999)} {r.choice(_STREETS)}, {city}, {st} {z}{_digits(r, 2)}"
    raise ValueError(kind)


PII_KINDS = ("email", "phone_plus", "phone_no_plus", "cn_id", "card", "ipv4", "ipv6", "cred_url", "api_key",
             "bearer", "jwt", "kv_secret", "address")
# How a person drops the value into a request or an answer; {v} is the value.
SECRET_KINDS = {"api_key", "bearer", "jwt", "kv_secret", "cred_url"}


def _isbn13(r: random.Random) -> str:
    body = "978" + r.choice(["7", "0", "1"]) + _digits(r, 8)
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:7]}-{body[7:12]}-{check}"


def decoy_value(kind: str, r: random.Random) -> str:
    """A string shaped like PII that is not personal data or a secret."""
    if kind == "ip_loopback":
        return r.choice(["127.0.0.1", "127.0.0.1:8000", "localhost:5432", "::1"])
    if kind == "ip_private":
        return r.choice([f"192.168.{r.randint(0, 5)}.{r.randint(2, 254)}", f"10.0.{r.randint(0, 9)}.{r.randint(2, 254)}",
                         f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(2, 254)}"])
    if kind == "netmask":
        return r.choice(["255.255.255.0", "255.255.0.0", "255.255.255.128", "0.0.0.0"])
    if kind == "ip_documentation":
        return r.choice([f"192.0.2.{r.randint(1, 254)}", f"198.51.100.{r.randint(1, 254)}",
                         f"203.0.113.{r.randint(1, 254)}", f"2001:db8::{r.randrange(1, 0xffff):x}", "fe80::1"])
    if kind == "version_4part":
        return r.choice([f"{r.randint(100, 126)}.0.{r.randint(6000, 6500)}.{r.randint(1, 200)}",  # a browser build
                         f"10.0.{r.randint(17000, 22631)}.{r.randint(100, 3999)}",  # a Windows build
                         ".".join(str(r.randint(0, 20)) for _ in range(4))])
    if kind == "git_ssh":
        host, org = r.choice(["github.com", "gitlab.com", "gitee.com"]), r.choice(["torvalds", "pallets", "my-team"])
        return f"git@{host}:{org}/{r.choice(['linux', 'flask', 'infra-tools'])}.git"
    if kind == "long_amount":
        order = f"20{r.randint(20, 25)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{_digits(r, 6)}"
        # an amount, an order number, epoch milliseconds
        return r.choice([f"{r.randint(2, 9)}{_digits(r, 10)}", order, f"17{r.randint(0, 2)}{_digits(r, 10)}"])
    if kind == "placeholder_key":
        return r.choice(["YOUR_API_KEY_HERE", "sk-xxxxxxxxxxxxxxxxxxxxxxxx", "<your-api-key>", "your_token_here",
                         "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "REPLACE_WITH_YOUR_SECRET", "${OPENAI_API_KEY}"])
    if kind == "isbn":
        return _isbn13(r)
    if kind == "date":
        y, m, d = r.randint(2010, 2025), r.randint(1, 12), r.randint(1, 28)
        return r.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{y}年{m}月{d}日"])
    if kind == "time":
        h, m = r.randint(0, 23), r.randint(0, 59)
        stamp = f"20{r.randint(18, 25)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}T{h:02d}:{m:02d}:00Z"
        return r.choice([f"{h:02d}:{m:02d}:{r.randint(0, 59):02d}", stamp])
    if kind == "hex_hash":
        return _alnum(r, r.choice([7, 32, 40, 64]), "0123456789abcdef")
    raise ValueError(kind)


DECOY_KINDS = ("ip_loopback", "ip_private", "netmask", "ip_documentation", "version_4part", "git_ssh",
               "long_amount", "placeholder_key", "isbn", "date", "time", "hex_hash")
