"""Postal addresses: street-level addresses in Chinese and English forms.

Only addresses precise enough to find a home are personal: a street with a house number, tied to a place (a
city or district before it in Chinese, a postcode, state or flat number after it in English). A city, a
street name alone, "第3号" or "Route 66" identify nobody and are left alone.
"""
from __future__ import annotations

import re

_HAN = r"[\u4e00-\u9fff]"
# Characters that start the sentence around an address rather than a place name ("我住在北京市…", "寄到…"):
# without this stop list the name before 市 or 区 would swallow the words in front of it.
_NOT_NAME = "在是于到往为的我你他她您住寄送请址从和与及或把给向至有了"
_NAME_CHAR = rf"(?:(?![{_NOT_NAME}]){_HAN})"
_CN_NUMBER = r"(?:\d{1,5}|[一二三四五六七八九十百零〇]{1,5})"
_PROVINCE = (r"(?:北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东"
             r"|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门)"
             r"(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?")
_ADMIN = (rf"(?:{_PROVINCE}|{_NAME_CHAR}{{2,4}}(?:省|自治区))?"
          rf"(?:{_NAME_CHAR}{{1,4}}(?:市|州|盟|地区))?"
          rf"(?:{_NAME_CHAR}{{1,5}}(?:区|县|旗))?"
          rf"(?:{_NAME_CHAR}{{1,5}}(?:镇|乡|街道))?")
# 公路 and 国道 are highways: "州立公路13号" is a route number.
# Right after a district or a town the street name's first character may be one of the stop list
# ("思明区和平街"): that list is only there to find where a name starts.
_STREET = (rf"(?:(?<=[省市州盟区县旗镇乡]){_HAN}{_NAME_CHAR}{{0,7}}?|{_NAME_CHAR}{{1,8}}?)(?:(?<!公)路|街|大道|大街|(?<![国省县])道|巷|弄|胡同)(?:{_CN_NUMBER}段|[东南西北中]段)?"
           rf"{_CN_NUMBER}(?:-\d{{1,4}})?号")
# Building, unit, floor and room after the house number ("SOHO现代城5号楼1201室", "华星时代广场A座1503",
# "中关村大厦1201"); a short estate name may sit between them, and a bare room number may close them.
_UNIT = rf"(?:(?:{_HAN}|[A-Za-z]){{0,8}}?(?:{_CN_NUMBER}|[A-Z])(?:号楼|号院|栋|幢|座|单元|层|楼|室|户|号))"
_ROOM = (rf"(?:(?<=[座栋幢楼元])|(?:{_HAN}|[A-Za-z]){{0,8}}?(?:大厦|中心|广场|大楼|公寓|花园|小区))"
         r"\d{2,5}(?!\d)(?:室|房)?")
CN_ADDRESS = re.compile(rf"(?P<admin>{_ADMIN})(?P<street>{_STREET})(?P<unit>{_UNIT}*(?:{_ROOM})?)")

_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Parkway|Pkwy"
                 r"|Way|Terrace|Ter|Circle|Cir|Highway|Hwy|Square|Sq|Crescent|Close|Row|Walk|Alley|Loop|Trail|Pike"
                 r"|Plaza|Mews|Grove|Gardens")
_EN_UNIT = r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.?\s*#?[A-Za-z0-9-]{1,6})"
_US_STATE = (r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]"
             r"|UT|V[AT]|W[AIVY])")
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
# Australian states and territories with a four-digit postcode ("Toowong QLD 4066"); Canadian provinces with
# a postal code ("Toronto, ON M5V 2T6").
_AU_STATE_POSTCODE = r"(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s+\d{4}"
_CA_PROVINCE_POSTCODE = r"(?:AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT)\s+[A-Z]\d[A-Z]\s?\d[A-Z]\d"
_PLACE = r"[A-Z][A-Za-z'-]+(?:\s[A-Z][A-Za-z'-]+){0,2}"
EN_ADDRESS = re.compile(
    # A house number, or a flat and house number as written in Australia and New Zealand ("12/45").
    r"(?<![\w/-])(?:\d{1,5}[A-Z]?/)?\d{1,6}[A-Z]?\s+"
    r"(?:[NSEW]\.?\s+)?(?:(?:[A-Z][a-z'-]+|\d{1,3}(?:st|nd|rd|th))\.?\s+){1,4}"
    rf"(?:{_STREET_TYPES})\.?(?![\w-])"
    rf"(?P<unit>{_EN_UNIT})?"
    # The place after the street: a town with a state and ZIP code or a UK, Australian or Canadian postcode,
    # or a town alone when a flat number already says that this is somebody's door.
    rf"(?P<place>,\s*{_PLACE}(?:,\s*|\s+)"
    rf"(?:{_US_STATE}\s+\d{{5}}(?:-\d{{4}})?|{_UK_POSTCODE}|{_AU_STATE_POSTCODE}|{_CA_PROVINCE_POSTCODE})(?![\w-])"
    rf"|,\s*{_PLACE},\s*{_US_STATE}(?![\w-])"
    rf"|,\s*{_PLACE}(?=[,.;]|\s*$))?")

# What every address contains, for the cheap prefilter (valid in Python's and polars' Rust regex syntax): a
# street word and its house number (路88号) for Chinese; for English a street word after a lower-case letter
# and a space, and something after it (a valid English address goes on to its place or flat). No \b: a
# Unicode word boundary drops polars' engine off its fast path for the whole combined pattern (60 µs/row
# instead of 0.6).
CN_HINT = r"[路街道巷弄同][\d-]{1,9}号|[路街道巷弄同][一二三四五六七八九十百零〇]{1,5}号|段\d{1,5}号"
EN_HINT = rf"[a-z]\s(?:{_STREET_TYPES})[^A-Za-z]"


# How encyclopedias and listings place a building ("博物馆位于…", "坐落于…", "a restaurant located at …"):
# the address of a landmark or a business, not of a person, unless the sentence is about the writer or the
# reader ("我家位于…", "ship it to …").
_LANDMARK_CUE = re.compile(r"(?i)(?:位于|坐落于|座落于|坐落在|座落在|坐落|座落|地处|设于|located at"
                           r"|located on|situated at)[\u4e00-\u9fff ]{0,10}$")
_PERSONAL_CUE = re.compile(r"(?i)[我您你]|收货|收件|寄|住|(?<![a-z])(?:my|our|i|we|me|us|your|ship|deliver|send|mail)"
                           r"(?![a-z])")


# A public place or a public body named right before an address, or described right after it, is what stands
# there: "车站机关地址：…", "Rowan Avenue Elementary School, 600 S Rowan Ave, …", "为…路168号的私人屋苑". Homes
# are "小区", "公寓", "花园" and rooms in "大厦", so those do not count, nor does a company ("公司在…"), which may be
# a one-person business at home.
_PUBLIC_PLACE_ZH = ("车站|地铁站|机场|(?<!香)港|码头|大学|学院|学校|中学|小学|幼儿园|医院|商场|购物中心|商店|超市"
                    "|酒店|宾馆|饭店|餐厅|博物馆|美术馆|图书馆|纪念馆|展览馆|体育馆|体育场|剧院|公园|寺|庙|教堂|会堂"
                    "|银行|机构|协会|基金会|政府|法院|大使馆|领事馆|总部|办事处|工厂|市场|屋苑|景区")
_PUBLIC_PLACE_EN = (r"School|University|College|Academy|Hospital|Clinic|Station|Airport|Museum|Library|Park|Church"
                    r"|Cathedral|Temple|Mosque|Cemetery|Mortuary|Hotel|Mall|Center|Centre|Stadium|Arena|Theat(?:er|re)"
                    r"|Restaurant|Caf[eé]|Store|Market|Bank|Headquarters|Zoo|Aquarium|Gallery")
# Before: the place earlier in the same sentence ("车站机关地址：", "…会堂，位于…交口（原…，"), or at the end of
# the sentence before a bare label ("…乌石港之名由此而来。地址："); in English, named just before a comma.
_PLACE_BEFORE = re.compile(rf"(?:{_PUBLIC_PLACE_ZH})(?:[^。！？\n]{{0,80}}|[^。！？\n]{{0,40}}[。！？]\s*[馆站校]?地?址[:：])$"
                           rf"|(?:{_PUBLIC_PLACE_EN}),\s*$")
_PLACE_AFTER = re.compile(rf"的?[\u4e00-\u9fff]{{0,6}}?(?:{_PUBLIC_PLACE_ZH}|村|购物)")
_PLACE_WINDOW = 80


def _landmark(m: re.Match) -> bool:
    before = m.string[max(0, m.start() - 40):m.start()]
    if _PERSONAL_CUE.search(before):
        return False
    if _LANDMARK_CUE.search(before) or _PLACE_AFTER.match(m.string, m.end()):
        return True
    wide = m.string[max(0, m.start() - _PLACE_WINDOW):m.start()]
    return bool(_PLACE_BEFORE.search(wide)) and not _PERSONAL_CUE.search(wide)


def is_en_address(m: re.Match) -> bool:
    """An EN_ADDRESS match counts with its flat number, with a place that has a postcode or a state, or with
    a town alone when its house number is no year ("In 2019 Oxford Street, London saw ..." is no address);
    never when introduced as a landmark's or a business's location."""
    if _landmark(m):
        return False
    if m.group("unit") or m.group("place") and re.search(r"\d|,\s*[A-Z]{2}$", m.group("place")):
        return True
    number = int(re.match(r"\d+", m.group()).group())
    return bool(m.group("place")) and not 1800 <= number <= 2099


def is_cn_address(m: re.Match) -> bool:
    """A CN_ADDRESS match counts when its street and number are placed (a city or district before them) or
    lead to a door (a building, unit or room after them), and are not introduced as a landmark's location."""
    return bool(m.group("admin") or m.group("unit")) and not _landmark(m)
