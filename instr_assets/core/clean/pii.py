"""PII and secret detection with validation: regexes only propose candidates, checks decide.

Candidates are checked the way the real identifiers are (ISO 7064 checksum and birth date for mainland IDs,
Luhn for cards, `ipaddress` for IPs, digit counts for phones), so that order numbers, version strings, times
and code do not end up redacted.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

PII_KINDS = ("EMAIL", "PHONE", "CN_ID", "BANK_CARD", "IPV4", "IPV6", "URL_CREDENTIALS", "SECRET")

_PLACEHOLDER = {
    "EMAIL": "<EMAIL>", "PHONE": "<PHONE>", "CN_ID": "<CN_ID>", "BANK_CARD": "<BANK_CARD>",
    "IPV4": "<IP>", "IPV6": "<IP>", "URL_CREDENTIALS": "<URL_CREDENTIALS>", "SECRET": "<SECRET>",
}


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


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_card(s: str) -> bool:
    d = _digits(s)
    # Runs of one digit pass Luhn trivially for some lengths (0000…) and are never real cards.
    return 13 <= len(d) <= 19 and len(set(d)) > 1 and _luhn_ok(d)


_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_ID_CHECK = "10X98765432"


def cn_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a mainland resident ID."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def _valid_cn_id(s: str) -> bool:
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today() and cn_id_check_char(s[:17]) == s[17].upper()


def _valid_ipv4(s: str) -> bool:
    # ipaddress rejects octets over 255 and leading zeros ("01"), which mark version numbers and dates.
    try:
        ipaddress.IPv4Address(s)
    except ValueError:
        return False
    return True


def _valid_ipv6(s: str) -> bool:
    # Fewer than three colons is mostly code (slices like x[1::2], C++ scopes) or trivial forms like ::1
    # that identify nobody; times (12:30:45) and MACs fail the parse.
    if s.count(":") < 3:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


def _valid_intl_phone(s: str) -> bool:
    return 8 <= len(_digits(s)) <= 15 and s[1] != "0" and s.count("(") == s.count(")")


# Image names like icon@2x.png look like addresses but are asset files.
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"}


def _valid_email(s: str) -> bool:
    local, domain = s.rsplit("@", 1)
    labels = domain.split(".")
    return (not local.startswith(".") and not local.endswith(".") and ".." not in local
            and all(label and not label.startswith("-") and not label.endswith("-") for label in labels)
            and labels[-1].lower() not in _FILE_SUFFIXES)


def _has_letter_and_digit(s: str) -> bool:
    # Real keys are random; "sk-your-api-key-goes-here" style placeholders have no digits.
    return any(c.isdigit() for c in s) and any(c.isalpha() for c in s)


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern
    valid: Callable[[str], bool] | None = None
    group: int = 0  # the part of the match that is sensitive (the value of a `password = "..."` line)
    # Something every match contains, cheap to look for: most texts lack it, and then the detector's own
    # pattern (with lookbehinds tried at every position) need not scan them at all.
    hint: re.Pattern | None = None


_PEM = r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(?:.*?-----END \1PRIVATE KEY-----)?"
_SECRET_NAME = (r"api[_-]?key|apikey|client[_-]?secret|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token"
                r"|token|password|passwd|pwd")


# Order is specificity: on two candidates with the same span the earlier detector wins.
_DETECTORS = (
    _Detector("SECRET", re.compile(_PEM, re.S), hint=re.compile("-----BEGIN")),
    _Detector("URL_CREDENTIALS", re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:[^\s/@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
        r"(?::\d+)?"), hint=re.compile("://")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])"), hint=re.compile("AKIA")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{22,255})"), hint=re.compile("gh[pousr]_|github_pat_")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9-])xox[baprs]-[A-Za-z0-9-]{10,}"), hint=re.compile("xox")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), hint=re.compile("AIza")),
    _Detector("SECRET", re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"), _has_letter_and_digit, hint=re.compile("sk-")),
    # Only quoted literals: unquoted right-hand sides are nearly always code (`token = tokenizer.encode(...)`),
    # and values starting with $ { < % are references to a secret, not the secret.
    _Detector("SECRET", re.compile(
        rf"(?i)(?<![A-Za-z0-9])[\"']?(?:{_SECRET_NAME})[\"']?\s*[:=]\s*([\"'])([^\s\"'${{<%][^\s\"']{{7,}})\1"),
        group=2, hint=re.compile("(?i:key|secret|token|password|passwd|pwd)[\"']?\\s*[:=]")),
    _Detector("CN_ID", re.compile(_L + r"[1-8]\d{16}[\dXx]" + _R), _valid_cn_id, hint=re.compile(r"\d{17}")),
    _Detector("PHONE", re.compile(_L + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _R), hint=re.compile(r"1[3-9]\d[ -]?\d{4}")),
    _Detector("PHONE", re.compile(
        _L + r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}" + _R), hint=re.compile(r"\d{3}[ .-]\d{4}")),
    # Separators are required between digit runs so that the pattern cannot backtrack over every split.
    _Detector("PHONE", re.compile(r"(?<![0-9A-Za-z_+])\+\d+(?:[ .-]?\(\d+\)|[ .-]\d+)*" + _R), _valid_intl_phone, hint=re.compile(r"\+\d")),
    # After the phones: "0086-138-1234-5678" can pass Luhn by chance, and its shape says phone.
    _Detector("BANK_CARD", re.compile(_L + r"(?:\d{13,19}|\d{4}([ -])\d{3,6}(?:\1\d{3,6}){1,3})" + _R),
              _valid_card, hint=re.compile(r"\d{13}|\d{4}[ -]\d{3}")),
    _Detector("EMAIL", re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
        r"(?![A-Za-z0-9-])"), _valid_email, hint=re.compile("@")),
    _Detector("IPV4", re.compile(_L + r"(?:\d{1,3}\.){3}\d{1,3}" + _R), _valid_ipv4, hint=re.compile(r"\d\.\d{1,3}\.\d")),
    _Detector("IPV6", re.compile(
        # Bounded to an address's length so that long hex dumps cannot make the engine backtrack for long.
        r"(?<![0-9A-Za-z_:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?:\.\d{1,3}){0,3}(?![0-9A-Za-z_:])"),
        _valid_ipv6, hint=re.compile(":[0-9A-Fa-f]*:")),
)


# One pass for all hints: a text with none of them (most texts) is done after a single scan. The pattern is
# also valid for polars' Rust engine, which prefilters whole columns with it.
ANY_HINT_PATTERN = "|".join(f"(?:{d.hint.pattern})" for d in _DETECTORS)
_ANY_HINT = re.compile(ANY_HINT_PATTERN)


def find_pii(text: str, kinds: Collection[str] | None = None) -> list[PiiMatch]:
    """Validated PII spans in `text`, non-overlapping and sorted by start.

    Where candidates overlap the longest wins (a credentialed URL over the address inside it), and on equal
    spans the more specific kind (a resident ID over the card number its digits also satisfy).
    """
    wanted = set(PII_KINDS if kinds is None else kinds)
    unknown = wanted - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {PII_KINDS}")
    candidates = []
    if not _ANY_HINT.search(text):
        return []
    for rank, det in enumerate(_DETECTORS):
        if det.kind not in wanted or (det.hint is not None and not det.hint.search(text)):
            continue
        for m in det.pattern.finditer(text):
            value = m.group(det.group)
            if det.valid is None or det.valid(value):
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
