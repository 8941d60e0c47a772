"""Tests on a candidate secret's value: is it a real key or password, or a placeholder, an example, a name
from code? The detectors in pii.py find where a value sits (after `Bearer`, after `API_KEY=`, with a vendor
prefix); these decide whether the value itself is secret-shaped.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter

# Values that stand in for a secret in docs and templates: YOUR_API_KEY_HERE, sk-xxxx…, ********, ${TOKEN},
# <your-token>, %APP_SECRET%, changeme, my-secret-key, P@ssw0rd.
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)your|here$|(?-i:(.)\1{3,}|xxx|XXX)|changeme|change_me|placeholder|dummy|redacted|example|sample|insert"
    r"|replace|fake|secret|passw|p[a@4]ssw[o0]rd|api[_-]?key|token|<|>|\$\{|\{\{|%\(|^%\w+%$|\.\.\.|…")
_DUMMY_WORDS = {"admin", "root", "test", "qwerty", "letmein", "default", "abc", "abcdef", "user", "foo", "bar",
                "demo", "pass", "key", "guest", "welcome"}
# Unquoted values that are code, not literals: names, attribute chains, numbers, keywords.
_CODE_VALUE = re.compile(r"[A-Za-z_]+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[\d.,_]+|(?i:true|false|null|none|nil)")


def is_placeholder(value: str) -> bool:
    """A value written to be replaced (or a dummy such as admin123), not a secret. A placeholder word counts
    only written in one case or capitalised: in random characters "FAkE" or "ToKeN" turn up by chance."""
    words = (m.group() for m in _PLACEHOLDER_VALUE.finditer(value))
    written = any(w in (w.lower(), w.upper(), w.capitalize()) for w in words)
    return written or re.sub(r"[\d\W_]+", "", value.lower()) in _DUMMY_WORDS


def entropy_bits(value: str) -> float:
    """Shannon entropy per character of `value`."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def case_scrambled(value: str) -> bool:
    """Random letters switch case all the time; names in code switch once a word ("TokenizerFast")."""
    letters = [c for c in value if c.isalpha()]
    switches = sum(a.isupper() != b.isupper() for a, b in zip(letters, letters[1:]))
    return len(letters) >= 12 and switches >= len(letters) / 4


def _has_digit_and_letter(value: str) -> bool:
    return bool(re.search(r"\d", value)) and bool(re.search("[A-Za-z]", value))


def literal_secret(value: str, min_len: int = 8) -> bool:
    """A literal after a secret's name that looks chosen or random: long enough, two or more character
    classes with a digit or a symbol among them (or letters of scrambled case), varied characters, neither a
    placeholder nor a name from code (`token = tokenizer`, `secret = 12345678`)."""
    scrambled = case_scrambled(value)
    if len(value) < min_len or is_placeholder(value) or _CODE_VALUE.fullmatch(value) and not scrambled:
        return False
    classes = [bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]", "[^A-Za-z0-9]")]
    return sum(classes) >= 2 and (classes[2] or classes[3] or scrambled) and entropy_bits(value) >= 2.5


def spoken_secret(value: str) -> bool:
    """A password told in a sentence: prose says "the password is case-sensitive", so it must also hold a
    digit and a letter."""
    return literal_secret(value) and _has_digit_and_letter(value)


def prefixed_key(value: str) -> bool:
    """A key whose vendor prefix (sk-, hf_, glpat-) already says key: real ones mix letters and digits or
    letters of scrambled case, where "sk-your-api-key-goes-here" has neither."""
    return not is_placeholder(value) and (_has_digit_and_letter(value) or case_scrambled(value))


def bearer_token(value: str) -> bool:
    """The value after "Bearer": a dotted one is a token (Google's ya29.…), not an attribute chain."""
    return (not is_placeholder(value) and (bool(re.search(r"\d", value)) or case_scrambled(value))
            and bool(re.search("[A-Za-z]", value)) and entropy_bits(value) >= 3.0)


def not_placeholder(value: str) -> bool:
    return not is_placeholder(value)


def jwt_header_ok(value: str) -> bool:
    """The first segment of a JWT decodes (base64url) to a JSON object naming its algorithm."""
    head = value.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


def url_password(value: str) -> bool:
    """The password of a credentialed URL (scheme://user:password@host) is no placeholder."""
    password = value.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    return not is_placeholder(password) and password.lower() not in ("pass", "pwd", "pw", "secret")
