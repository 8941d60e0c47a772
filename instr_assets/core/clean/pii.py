"""PII and secret detection with validation: regexes only propose candidates, checks decide.

Candidates are checked the way the real identifiers are (ISO 7064 checksum and birth date for mainland IDs,
Luhn for cards, `ipaddress` and the address's class for IPs, Google's `phonenumbers` metadata for phones, a
decoded header for JWTs, shape and placeholder tests for secrets), and against the words around them
("version 1.2.3.4", "order 13812345678"), so that order numbers, versions, times, examples and code do not end
up redacted.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

import phonenumbers
import polars as pl

from . import secret_values as sv
from .addresses import CN_ADDRESS, CN_HINT, EN_ADDRESS, EN_HINT, is_cn_address, is_en_address
from .phones import CODE_WORDS, PHONE_HINT, PHONE_PATTERN, digits, text_before, valid_phone

PII_KINDS = ("EMAIL", "PHONE", "CN_ID", "BANK_CARD", "IPV4", "IPV6", "URL_CREDENTIALS", "SECRET", "ADDRESS")

_PLACEHOLDER = {
    "EMAIL": "<EMAIL>", "PHONE": "<PHONE>", "CN_ID": "<CN_ID>", "BANK_CARD": "<BANK_CARD>",
    "IPV4": "<IP>", "IPV6": "<IP>", "URL_CREDENTIALS": "<URL_CREDENTIALS>", "SECRET": "<SECRET>",
    "ADDRESS": "<ADDRESS>",
}

# What an IP address is, as far as personal data goes: only a public address can point at someone's machine.
IP_CLASSES = ("public", "private", "loopback", "link_local", "netmask", "documentation", "well_known", "reserved")


@dataclass(frozen=True)
class PiiRules:
    kinds: tuple[str, ...] = PII_KINDS
    # IP address classes that count as personal (see IP_CLASSES); the rest (192.168.x, 127.0.0.1,
    # 255.255.255.0, 203.0.113.x, 8.8.8.8 ...) are infrastructure and examples, not people.
    ip_classes: frozenset[str] = frozenset({"public"})
    # Regions whose national numbering (no "+") is tried for phones in text without and with Han characters.
    phone_regions: tuple[str, ...] = ("US", "GB")
    phone_regions_cjk: tuple[str, ...] = ("CN",)
    # Tried next, for a number no region above could even hold (a possible length and prefix there): a number
    # in one of their shapes that they call invalid is a reserved or fictional one (07700 900461), not some
    # other country's. These all dial nationally with a trunk 0, and a number is read as theirs only when
    # written with it.
    phone_regions_more: tuple[str, ...] = ("IE", "DE", "NL", "FR", "AU", "NZ", "IN", "JP", "KR", "NG", "ZA", "BR")


DEFAULT_PII_RULES = PiiRules()


def validate_pii_rules(rules: PiiRules) -> None:
    for name, given, known in (("kinds", rules.kinds, PII_KINDS), ("ip_classes", rules.ip_classes, IP_CLASSES)):
        if set(given) - set(known):
            raise ValueError(f"pii {name}: unknown {sorted(set(given) - set(known))}; known: {known}")
    regions = phonenumbers.SUPPORTED_REGIONS
    bad = [r for r in (*rules.phone_regions, *rules.phone_regions_cjk, *rules.phone_regions_more) if r not in regions]
    if bad:
        raise ValueError(f"pii phone regions: unknown {bad}")


@dataclass(frozen=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    text: str


# Boundaries are ASCII-only on purpose: Python's \b treats Han characters as word characters, which would
# hide "请拨打13812345678联系我". The second halves keep numbers from being cut out of decimals or dotted runs.
_L = r"(?<![0-9A-Za-z_])(?<!\d[.,])"
_R = r"(?![0-9A-Za-z_])(?![.,]\d)"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# A number named as a code (an order, a serial): one in ten such numbers passes Luhn.
_CODE_BEFORE = re.compile(rf"(?i)(?:{CODE_WORDS})\s*(?:no\.?|number|id|#|号码?)?\s*(?:is|was|为|是)?\s*[#:：]?\s*$")
# Issuer prefixes of payment cards (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro).
_CARD_ISSUER = re.compile(r"4|5|6|3[0456789]|2(?:2[2-9]|[3-6]\d|7[0-2])")


def _valid_card(m: re.Match, rules: PiiRules) -> bool:
    d = digits(m.group())
    # Runs of one digit pass Luhn trivially for some lengths (0000…) and are never real cards; an issuer's
    # prefix rules out millisecond timestamps (17…) and dated order numbers (2024…); 978/979 open ISBN-13s.
    return (13 <= len(d) <= 19 and len(set(d)) > 1 and _CARD_ISSUER.match(d) is not None and _luhn_ok(d)
            and not (len(d) == 13 and d.startswith(("978", "979"))) and not _CODE_BEFORE.search(text_before(m)))


_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_ID_CHECK = "10X98765432"


def cn_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a mainland resident ID."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def _valid_cn_id(m: re.Match, rules: PiiRules) -> bool:
    s = re.sub(r"[ -]", "", m.group())
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today() and cn_id_check_char(s[:17]) == s[17].upper()


_DOC_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                     "2001:db8::/32"))
# Public resolvers: they serve everyone and so identify no one.
_WELL_KNOWN = frozenset(ipaddress.ip_address(a) for a in (
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222", "208.67.220.220",
    "114.114.114.114", "114.114.115.115", "223.5.5.5", "223.6.6.6", "119.29.29.29", "180.76.76.76",
    "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001"))


def ip_class(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """One of IP_CLASSES."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        inverted = ~int(address) & 0xFFFFFFFF
        if address.packed[0] == 255 and inverted & (inverted + 1) == 0:  # ones then zeros: 255.255.255.0
            return "netmask"
    if any(address in net for net in _DOC_NETS):
        return "documentation"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address in _WELL_KNOWN:
        return "well_known"
    if address.is_private and not address.is_reserved and not address.is_unspecified:
        return "private"
    return "public" if address.is_global and not address.is_multicast else "reserved"


# A dotted quad right after one of these is a version ("version 1.2.3.4", "固件 3.1.4.2").
_VERSION_BEFORE = re.compile(r"(?i)(?<![A-Za-z])(?:version|ver\.?|release|build|firmware|patch|update|upgrade|kernel|v"
                             r"|python|java|jdk|node|ruby|php|perl|gcc|cuda|driver|sdk|chrome|firefox|windows|android"
                             r"|ios|macos|ubuntu|debian|centos|版本号?|版本[为是]|固件|内核|更新|[升更]新?[到至]|升级[到至]?"
                             r"|安装)\s*[:：#]?\s*$")
_VERSION_AFTER = re.compile(r"(?i)\s*(?:版|version|release|build)")


def _valid_ip(m: re.Match, rules: PiiRules) -> bool:
    text = m.group()
    # Fewer than three colons is mostly code (slices like x[1::2], C++ scopes) or trivial forms like ::1;
    # ipaddress rejects octets over 255 and leading zeros ("01"), which mark versions and dates.
    if ":" in text and text.count(":") < 3:
        return False
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # Four one-digit parts are a section number, a version or a formula ("3.1.4.2"), not a host.
    one_digit_parts = re.fullmatch(r"\d\.\d\.\d\.\d", text)
    return (ip_class(address) in rules.ip_classes and not one_digit_parts
            and not _VERSION_BEFORE.search(text_before(m)) and not _VERSION_AFTER.match(m.string, m.end()))


# Image names like icon@2x.png look like addresses but are asset files.
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"}


# Mailboxes of machines and roles, which belong to no person.
_ROLE_MAILBOX = re.compile(r"(?i)no-?reply|do-?not-?reply|postmaster|mailer-daemon|hostmaster|webmaster|abuse")


def _valid_email(m: re.Match, rules: PiiRules) -> bool:
    local, domain = m.group().rsplit("@", 1)
    if _ROLE_MAILBOX.fullmatch(local):
        return False
    labels = domain.split(".")
    after = m.string[m.end():m.end() + 2]
    # git@github.com:org/repo.git and ssh://git@host/... name a login on a host, not a mailbox.
    scp_path = after[:1] == ":" and after[1:2] not in ("", " ", "\n", "\t")
    return (not local.startswith(".") and not local.endswith(".") and ".." not in local
            and all(label and not label.startswith("-") and not label.endswith("-") for label in labels)
            and labels[-1].lower() not in _FILE_SUFFIXES and not scp_path and not text_before(m, 3).endswith("://"))


def _value_test(test: Callable[[str], bool]) -> Callable[[re.Match, PiiRules], bool]:
    """A detector's validator from a test of the matched value: the pattern's last group where it has groups
    (the part after a name), else the whole match."""
    return lambda m, rules: test(m.group(m.lastindex or 0))


def _valid_address(m: re.Match, rules: PiiRules) -> bool:
    return is_cn_address(m) if m.re is CN_ADDRESS else is_en_address(m)


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern
    valid: Callable[[re.Match, PiiRules], bool] | None
    # Something every match contains, cheap to look for (in Python's and polars' Rust regex syntax): most
    # texts lack it, and then the detector's own pattern (with lookbehinds tried at every position) need not
    # scan them at all.
    hint: re.Pattern
    group: int = 0  # the part of the match that is sensitive (the value of a `password = "..."` line)
    # When set, the pattern runs only within this many characters of each hint, inside its line: patterns that
    # start with a name of unknown length (a street, a KEY) would otherwise be tried at every position of
    # long texts.
    reach: int | None = None

    def spans(self, text: str, hints: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Where to run the pattern: the whole text, or merged windows around the hints (their spans in `text`)."""
        if self.reach is None:
            return [(0, len(text))]
        spans: list[tuple[int, int]] = []
        for start, end in hints:
            lo = max(text.rfind("\n", 0, start) + 1, start - self.reach)
            line_end = text.find("\n", end)
            hi = min(len(text) if line_end < 0 else line_end, end + self.reach)
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
            else:
                spans.append((lo, hi))
        return spans


_PEM = r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(?:.*?-----END \1PRIVATE KEY-----)?"
# A name that says its value is a secret, as the whole name or its last words: API_KEY, AWS_SECRET_ACCESS_KEY,
# db_password, GITHUB_TOKEN; not max_tokens, TOKEN_LIMIT or password_hash.
_SECRET_NAME = (r"(?<![A-Za-z0-9])(?:api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?"
                r"|(?:client[_-]?)?secret(?:[_-]?(?:access[_-]?)?key)?|private[_-]?key"
                r"|(?:access|auth|refresh|api|bot|session|bearer)?[_-]?token|password|passwd|passphrase|pwd|pass)")
# Words before the secret's name in an env or YAML key (DB_, AWS_SECRET_); only used where the name is
# anchored (line start, after a space), since unanchored it would be tried at every letter.
_NAME_PREFIX = r"(?:[A-Za-z0-9]+[_.-])*"
_SECRET_NAME_HINT = r"(?i:key|secret|token|pass|password|passwd|pwd|phrase)[\"']?\]?\s*[:=]"


# Prefixes of vendors' tokens: GitLab (personal, deploy, runner, trigger, feed, OAuth, agent ...), npm, PyPI,
# Shopify, Stripe webhooks, DigitalOcean, Grafana, Linear, Postman, SendGrid, Databricks, Doppler, Atlassian,
# HashiCorp Vault, Replicate, Groq, Perplexity, xAI, Figma, Notion.
_VENDOR_PREFIX = (r"gl(?:pat|dt|rt|ptt|ft|soat|cbt|oas|imt|agent)-|npm_|pypi-|shp(?:at|ss|ca|pa)_|whsec_"
                  r"|do[opr]_v1_|glc_|glsa_|lin_api_|PMAK-|SG\.|dapi|dp\.(?:pt|st|ct|sa)\.|ATATT|hvs\.|r8_|gsk_"
                  r"|pplx-|xai-|figd_|ntn_")
_NOT_PLACEHOLDER = _value_test(sv.not_placeholder)
_PREFIXED_KEY = _value_test(sv.prefixed_key)
_LITERAL = _value_test(sv.literal_secret)

# Order is specificity: on two candidates with the same span the earlier detector wins.
_DETECTORS = (
    _Detector("SECRET", re.compile(_PEM, re.S), None, hint=re.compile("-----BEGIN")),
    _Detector("URL_CREDENTIALS", re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:[^\s/@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
        r"(?::\d+)?"), _value_test(sv.url_password), hint=re.compile("://")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"), _NOT_PLACEHOLDER,
              hint=re.compile("AKIA|ASIA")),
    _Detector("SECRET", re.compile(r"(?i)\baws.{0,24}?secret.{0,24}?[\s:=：\"']([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
              _LITERAL, group=1, hint=re.compile("AWS|[Aa]ws_")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{22,255})"),
              _NOT_PLACEHOLDER, hint=re.compile("gh[pousr]_|github_pat_")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9-])(?:xox[baprs]|xapp)-[A-Za-z0-9-]{10,}"), _NOT_PLACEHOLDER,
              hint=re.compile("xox|xapp-")),
    _Detector("SECRET", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}"), _NOT_PLACEHOLDER,
              hint=re.compile(r"hooks\.slack")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), _NOT_PLACEHOLDER,
              hint=re.compile("AIza")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[0-9A-Za-z]{16,}"), _NOT_PLACEHOLDER,
              hint=re.compile("k_live_|k_test_")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])"), _PREFIXED_KEY,
              hint=re.compile("hf_")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"), _PREFIXED_KEY, hint=re.compile("sk-")),
    # Other vendors' token families, known by their prefixes (GitLab, npm, PyPI, Shopify, DigitalOcean, ...).
    _Detector("SECRET", re.compile(
        rf"(?<![A-Za-z0-9_.-])(?:{_VENDOR_PREFIX})[A-Za-z0-9_-]{{16,}}(?:\.[A-Za-z0-9_-]{{8,}})*"),
        _PREFIXED_KEY, hint=re.compile(_VENDOR_PREFIX)),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
              _value_test(sv.jwt_header_ok), hint=re.compile("eyJ")),
    _Detector("SECRET", re.compile(r"(?i)(?:\bbearer|\bauthorization:\s*(?:basic|token))\s+([A-Za-z0-9._~+/-]{12,}=*)"),
              _value_test(sv.bearer_token), group=1, hint=re.compile("(?i:bearer|authorization)")),
    # Passwords on a command line: --password=x, mysql -px.
    _Detector("SECRET", re.compile(r"(?:--password[= ]|\bmysql\w*\b[^\n]{0,80}?\s-p)([^\s\"'`]{6,})"), _LITERAL,
              group=1, hint=re.compile("--password|mysql")),
    # A quoted literal after a secret's name. Values starting with $ { < are references to a secret.
    _Detector("SECRET", re.compile(
        rf"(?i)[\"']?{_SECRET_NAME}[\"']?\]?\s*[:=]\s*([\"'])([^\s\"'${{<][^\s\"']{{7,}})\1"),
        _LITERAL, group=2, hint=re.compile(_SECRET_NAME_HINT), reach=240),
    # An unquoted value: a line of an env file, YAML or shell (`password: x`, `export KEY=x`), or `KEY=x`
    # written tight inside a sentence. Only where the value ends the statement, so that calls and indexing
    # (`token = tokenizer.encode(x)`, `password = input()`) are not candidates, and only when the value is
    # shaped like a chosen or random literal rather than a name from code. The value is ASCII: Chinese text
    # that runs on without a space ("KEY=x文章：…") is the sentence's.
    _Detector("SECRET", re.compile(
        rf"(?im)(?:^[ \t]*(?:[-*][ \t]+)?(?:export\s+|set\s+)?{_NAME_PREFIX}{_SECRET_NAME}[ \t]*[:=][ \t]*"
        rf"|(?:^|(?<=[\s`])){_NAME_PREFIX}{_SECRET_NAME}=)"
        # (Case-sensitive: ignoring case, "k" and "s" would match the Kelvin sign and the long s out of ASCII.)
        r"((?-i:[^\s\"'`,;()\[\]{}<>$=\x80-\U0010ffff][^\s\"'`,;()\[\]{}<>\x80-\U0010ffff]{5,}))"
        r"(?=\s|$|[,;)\]\"'`]|(?-i:[\x80-\U0010ffff]))"),
        _LITERAL, group=1, hint=re.compile(_SECRET_NAME_HINT), reach=240),
    # A password told in prose: "my password is Xy7#pQ2m", "密码是Xy7#pQ2m", "密码：Xy7#pQ2m" (an English
    # "password: x" in prose is mostly a generated example). Trailing punctuation is the sentence's.
    _Detector("SECRET", re.compile(
        r"(?:(?i:password|passcode|passphrase)\s+(?:is|was)\s+|(?:密码|口令|密钥|秘钥)\s*(?:是|为|[:：])\s*)[\"'“]?"
        r"([!-~]{5,63}?[A-Za-z0-9#$%&*@^~+=_-])(?=[.,;:!?)\"'”’]*(?:[^!-~]|$))"),
        _value_test(sv.spoken_secret), group=1,
        hint=re.compile(r"(?i:password|passcode|passphrase)\s+(?:is|was)|密码|口令|密钥|秘钥"), reach=80),
    _Detector("CN_ID", re.compile(_L + r"[1-8]\d{5}([ -]?)(?:\d{8}|\d{4}\1\d{4})\1\d{3}[\dXx]" + _R), _valid_cn_id,
              hint=re.compile(r"\d{17}|\d{6}[ -]\d{4}"), reach=40),
    _Detector("PHONE", PHONE_PATTERN, valid_phone, hint=re.compile(PHONE_HINT), reach=64),
    # After the phones: "0086-138-1234-5678" can pass Luhn by chance, and its shape says phone.
    _Detector("BANK_CARD", re.compile(_L + r"(?:\d{13,19}|\d{4}([ -])\d{3,6}(?:\1\d{3,6}){1,3})" + _R),
              _valid_card, hint=re.compile(r"\d{13}|\d{4}[ -]\d{4,6}[ -]\d{4}"), reach=64),
    _Detector("EMAIL", re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
        r"(?![A-Za-z0-9-])"), _valid_email, hint=re.compile("@")),
    _Detector("IPV4", re.compile(_L + r"(?:\d{1,3}\.){3}\d{1,3}" + _R), _valid_ip, hint=re.compile(r"\d\.\d{1,3}\.\d"),
              reach=24),
    _Detector("IPV6", re.compile(
        # Bounded to an address's length so that long hex dumps cannot make the engine backtrack for long.
        r"(?<![0-9A-Za-z_:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?:\.\d{1,3}){0,3}(?![0-9A-Za-z_:])"),
        _valid_ip, hint=re.compile(":[0-9A-Fa-f]*:"), reach=48),
    _Detector("ADDRESS", CN_ADDRESS, _valid_address, hint=re.compile(CN_HINT), reach=48),
    _Detector("ADDRESS", EN_ADDRESS, _valid_address, hint=re.compile(EN_HINT), reach=96),
)


# One pass for all hints: a text with none of them (most texts) is done after a single scan. The pattern is
# also valid for polars' Rust engine, which prefilters whole columns with it.
ANY_HINT_PATTERN = "|".join(f"(?:{d.hint.pattern})" for d in _DETECTORS)
_ANY_HINT = re.compile(ANY_HINT_PATTERN)


def _wanted(kinds: Collection[str]) -> set[str]:
    unknown = set(kinds) - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {PII_KINDS}")
    return set(kinds)


def find_pii(text: str, kinds: Collection[str] | None = None, rules: PiiRules = DEFAULT_PII_RULES) -> list[PiiMatch]:
    """Validated PII spans in `text`, non-overlapping and sorted by start; `kinds` narrows `rules.kinds`.

    Where candidates overlap the longest wins (a credentialed URL over the address inside it), and on equal
    spans the more specific kind (a resident ID over the card number its digits also satisfy).
    """
    wanted = _wanted(rules.kinds if kinds is None else kinds)
    if not _ANY_HINT.search(text):
        return []
    return _find(text, {r: [m.span() for m in d.hint.finditer(text)] if d.reach is not None else ()
                        for r, d in enumerate(_DETECTORS) if d.kind in wanted and d.hint.search(text)}, rules)


def find_pii_series(texts: pl.Series, rules: PiiRules = DEFAULT_PII_RULES) -> dict[int, list[PiiMatch]]:
    """{row: matches} for the cells of `texts` that hold PII: find_pii on each cell, but with the hints looked
    for by polars' engine, all at once over the column and then each detector's over the few cells flagged
    (one Python regex scan per detector per cell would cost more than the detectors themselves)."""
    wanted = _wanted(rules.kinds)
    at = texts.str.contains(ANY_HINT_PATTERN).arg_true()
    flagged = texts.gather(at)
    detectors = [(r, d.hint.pattern) for r, d in enumerate(_DETECTORS) if d.kind in wanted]
    windowed = {p for r, p in detectors if _DETECTORS[r].reach is not None}
    patterns = list(dict.fromkeys(p for _, p in detectors))
    # One polars query for all the hints: whether each cell holds it, and for the windowed detectors where
    # (the same leftmost-first matches as Python's finditer, the hints having no look-around; Python's engine
    # would scan each text once more per hint).
    cell = pl.col("text")
    hint_columns = flagged.to_frame("text").select(
        (cell.str.extract_all(p) if p in windowed else cell.str.contains(p)).alias(str(k))
        for k, p in enumerate(patterns))
    hints_of = {p: hint_columns[str(k)].to_list() for k, p in enumerate(patterns)}
    found = {}
    for j, (row, text) in enumerate(zip(at.to_list(), flagged.to_list())):
        hints = {r: _spans_of(text, hints_of[p][j]) if p in windowed else () for r, p in detectors if hints_of[p][j]}
        matches = _find(text, hints, rules)
        if matches:
            found[row] = matches
    return found


def _spans_of(text: str, hits: list[str]) -> list[tuple[int, int]]:
    """The spans of consecutive non-overlapping regex matches `hits` in `text`: each is the first occurrence of
    its text after the one before, since the pattern would have matched that occurrence first."""
    spans, pos = [], 0
    for hit in hits:
        start = text.find(hit, pos)
        pos = start + len(hit)
        spans.append((start, pos))
    return spans


def _find(text: str, hints: Mapping[int, Iterable[tuple[int, int]]], rules: PiiRules) -> list[PiiMatch]:
    """The validated, non-overlapping matches of the detectors whose hint `text` holds: {rank: the hints' spans}
    (used by the detectors that run near their hints only)."""
    candidates = []
    for rank, spans in hints.items():
        det = _DETECTORS[rank]
        for lo, hi in det.spans(text, spans):
            for m in det.pattern.finditer(text, lo, hi):
                if det.valid is None or det.valid(m, rules):
                    candidates.append((m.start(det.group), m.end(det.group), rank, det.kind))
    candidates.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))
    taken: list[PiiMatch] = []
    for start, end, _, kind in candidates:
        if all(end <= t.start or start >= t.end for t in taken):
            taken.append(PiiMatch(kind, start, end, text[start:end]))
    return sorted(taken, key=lambda t: t.start)


def redact(text: str, matches: Collection[PiiMatch]) -> str:
    """`text` with each (non-overlapping) match replaced by its kind's placeholder, e.g. <EMAIL>, <IP>."""
    parts, pos = [], 0
    for m in sorted(matches, key=lambda m: m.start):
        parts += [text[pos:m.start], _PLACEHOLDER[m.kind]]
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


def redact_values(text: str, found: Mapping[str, str]) -> str:
    """`text` with every standalone occurrence of a found value (value -> kind) replaced by its kind's
    placeholder: a secret detected in one field of a pair is redacted where it is repeated without the context
    that made it detectable (a key quoted bare in the answer)."""
    if not found or not any(v in text for v in found):
        return text
    values = sorted(found, key=len, reverse=True)
    pattern = re.compile(r"(?<![0-9A-Za-z_])(?:" + "|".join(map(re.escape, values)) + r")(?![0-9A-Za-z_])")
    return pattern.sub(lambda m: _PLACEHOLDER[found[m.group()]], text)
