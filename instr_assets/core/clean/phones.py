"""Phone numbers in text: the candidate pattern, its cheap hint, and the checks that decide.

Split from pii.py. A candidate is a phone when its shape says so by itself (a mainland mobile, a formatted
North American number), when it carries a calling code ("+44 …", "0044 …", "(+49) 30 …"), when Google's
`phonenumbers` metadata calls it valid in one of the configured regions, or when a phone word right before it
announces it ("Tel: …", "call me at …", "电话：…"). Words that name it as a code or an amount veto all of these.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers

if TYPE_CHECKING:
    from .pii import PiiRules

HAN = re.compile(r"[\u4e00-\u9fff]")

# Words right before a number that name it as a code (an order, a serial, a student number), for cards
# and phones alike: one in ten such numbers passes Luhn, and many have a mobile's length.
CODE_WORDS = "order|invoice|tracking|serial|isbn|issn|timestamp|订单|单号|编号|运单|快递|工号|学号|序列号|时间戳"


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def text_before(m: re.Match, n: int = 24) -> str:
    return m.string[max(0, m.start() - n):m.start()]


# Separators are required between digit groups so that the pattern cannot backtrack over every split. A
# calling code may open it as "+49", "0049" or in brackets, "(+49)".
PHONE_PATTERN = re.compile(
    r"(?<![0-9A-Za-z_+])(?<!\d[.,])(?=\(?\+?\(?(?:\d[ .()-]{0,2}){7})(?:\+|00|\(\+\d{1,4}\)[ .-]?)?"
    r"(?:\(\d{1,5}\)[ .-]?\d{1,12}|\d{1,15})(?:[ .-](?:\(\d{1,5}\)[ .-]?)?\d{1,12}){0,5}"
    r"(?![0-9A-Za-z_])(?![.,]\d)")

# A word that says the number right after it is a phone: the label of a contact line ("Tel:", "WhatsApp:",
# "电话：") or a request to call ("call me at", "text me on", "拨打"), with at most a linking word between.
_PHONE_CUE = (r"(?:\b(?:(?:tel|phone|telephone|mobile|cell|fax|whatsapp|hotline|(?:office|phone|direct|home|work)"
              r" line)(?: (?:no\.?|number|#))?(?: (?:is|at|on))?"
              r"|(?:call|ring|text|reach|contact) (?:me|us|him|her|them)(?: (?:at|on))?|dial)\s*[:：]?"
              r"|(?:电话|手机|致电|拨打|热线|传真|微信|手机号|电话号码?|联系电话)(?:是|为|/微信)?\s*[:：]?)")
_PHONE_CUE_BEFORE = re.compile(rf"(?i){_PHONE_CUE}\s*$")

# The phone shapes supported: international, unbroken runs, North American, grouped mainland mobiles,
# national numbers with a trunk 0 ("020 7946 0958", "(010) 6552 9988", "01632 960123"), and any short grouped
# number right after a phone cue ("Tel: 8120-7693"). Year ranges such as "2019-2020" or "100 000" must not
# flag a text by themselves.
PHONE_HINT = (r"\+\d|\d{7}|\d{3}[ .)-]\s?\d{3}[ .-]\d{4}|1[3-9]\d[ -]\d{4}|0\d{1,4}[ )-]\s?\d{3,4}[ -]\d{4}"
              r"|0\d{2,5}[ -]\d{2,8}|00\d{1,3}[ -]\d|[1-9]\d{0,2} \d{2,4} \d{2,4}"
              r"|(?:电话|手机|号码)\D{0,6}[2-9]\d{2,3}[ -]?\d{4}"
              # after a cue: a label ("Tel: 8120-7693"), "call me at (022) 18539", "line is …", "电话0912 …"
              r"|[A-Za-z][:：] ?\(?\d{2,5}[ )-]\d|(?:me|us) (?:at|on) \(?\d|line is \(?\d"
              r"|(?:电话|手机|拨打|微信)[:：]?\(?\d{2,4}[ )-]")

# Words right before a number that make it something other than a phone: a code, an account, an amount.
_NOT_PHONE_BEFORE = re.compile(
    rf"(?i)(?:{CODE_WORDS}|account|acct|amount|total|price|balance|sum|cost|\$|¥|￥|€|£|usd|rmb|cny"
    r"|账号|帐号|账户|金额|总额|余额|合计|共计|总计|价格|售价|交易|流水)\s*(?:no\.?|number|id|#|号码?)?\s*(?:is|was|为|是)?"
    r"\s*[#:：]?\s*$")
_MONEY_AFTER = re.compile(r"\s*(?:元|块|万|亿|美元|dollars?|usd|rmb|yuan|euros?)", re.I)
_PHONE_WORD_BEFORE = re.compile(r"(?i)(?:phone|tel|call|mobile|cell|fax|whatsapp|contact|dial|hotline|reach"
                                r"|(?:my|your|his|her|our|their)\s+number|电话|手机|致电|拨打|联系|热线|传真|号码)")
# A mainland local number without its area code ("电话 6234 5678"), taken only where a phone word announces it.
_CN_LOCAL = re.compile(r"[2-9]\d{2,3}[ -]?\d{4}")
_DATE_SHAPE = re.compile(r"(?:19|20)\d\d([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2(?:19|20)\d\d")
# A clock time right after the candidate ("2015-03-07 12" of "2015-03-07 12:34:56"): the run is a timestamp.
_TIME_AFTER = re.compile(r":[0-5]\d")
_CN_MOBILE = re.compile(r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}")
_NANP_FORMATTED = re.compile(r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}")


# Digits that fill in for a number in examples and forms: counting up from the start (123-456-7890,
# (123) 456-7891). (Runs of one digit are not: 6888 8888 is a sought-after real number.)
_FILLER_DIGITS = re.compile(r"^0?1234567")


def valid_phone(m: re.Match, rules: PiiRules) -> bool:
    value = m.group()
    number = digits(value)
    if (not 7 <= len(number) <= 15 or value.count("(") != value.count(")") or _DATE_SHAPE.match(value)
            or _TIME_AFTER.match(m.string, m.end()) or _FILLER_DIGITS.search(number)):
        return False
    before = text_before(m)
    if _NOT_PHONE_BEFORE.search(before) or _MONEY_AFTER.match(m.string, m.end()):
        return False
    # Shapes that say phone by themselves: a mainland mobile, a formatted North American number.
    if _CN_MOBILE.fullmatch(value) or _NANP_FORMATTED.fullmatch(value):
        return True
    if "." in value:  # dotted runs are addresses, versions and dates; only the formatted NANP shape is a phone
        return False
    if value.startswith(("+", "00", "(+")):
        calling_code_first = "+" + re.sub(r"^(?:\(\+(\d+)\)|\+|00)", r"\1", value)
        return _phone_valid_in(calling_code_first, None)
    written, announced = bool(re.search(r"[ .()-]", value)), bool(_PHONE_WORD_BEFORE.search(before))
    if written and _country_code_first(value):
        return True
    cjk = bool(HAN.search(m.string))
    first = rules.phone_regions_cjk if cjk else rules.phone_regions
    if _PHONE_CUE_BEFORE.search(before):
        return _announced_phone(value, first)
    # A national number must be written as one (grouped, or with a trunk 0 / parentheses) or be announced.
    if not (written or announced):
        return False
    if cjk and announced and "CN" in first and _CN_LOCAL.fullmatch(value):
        return True
    regions = [r for r in first if _trunk_prefix_ok(value, r)]
    if any(_phone_valid_in(value, region) for region in regions):
        return True
    return not any(_phone_possible_in(value, region) for region in regions) and any(
        _phone_valid_in(value, region) for region in rules.phone_regions_more if _trunk_prefix_ok(value, region))


def _announced_phone(value: str, first_regions: tuple[str, ...]) -> bool:
    """A number right after a phone cue ("Tel: 8120-7693", "call me at (022) 18539") is a phone whichever
    country numbers it that way, short local numbers included, unless one of the first regions hands out
    numbers that start as it does and calls this one invalid: a reserved or fictional number there ("Her
    mobile: 07700 900461", Ofcom's range for drama)."""
    regions = [r for r in first_regions if _trunk_prefix_ok(value, r)]
    if any(_phone_valid_in(value, region) for region in regions):
        return True
    return not any(_prefix_in_use(digits(value), region) for region in regions)


# Endings tried on a number's first half to see whether its region hands out numbers that start so.
_SAMPLE_ENDINGS = ("2345678901", "5678901234", "3141592653")


def _prefix_in_use(number: str, region: str) -> bool:
    half = len(number) // 2
    return any(_phone_valid_in(number[:half] + ending[:len(number) - half], region) for ending in _SAMPLE_ENDINGS)


def _country_code_first(value: str) -> bool:
    """An international number written without its "+" ("234 2033 41 5975", "65 6129 7782"): a first group
    of one to three digits that is a calling code under which the rest is a valid number. Groups of three
    after the first are thousands ("12 345 678"), not a phone."""
    groups = [g for g in re.split(r"[ ()-]+", value) if g]
    return (len(groups) >= 3 and len(groups[0]) <= 3 and not all(len(g) == 3 for g in groups[1:])
            and _phone_valid_in("+" + value, None))


def _trunk_prefix_ok(value: str, region: str) -> bool:
    # Where national numbers are dialled with a trunk prefix (0 in GB and CN), a number written nationally
    # starts with it: "(123) 456-7891" is no London number.
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
    return not prefix or prefix == "1" or digits(value).startswith(prefix)


def _phone_valid_in(value: str, region: str | None) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
    except phonenumbers.NumberParseException:
        return False


def _phone_possible_in(value: str, region: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(value, region))
    except phonenumbers.NumberParseException:
        return False
