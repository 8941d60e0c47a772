"""PII detection/redaction and the quality filters, in English and Chinese, with negative cases.

Public data in ../shared/data is used where present (skipped otherwise).
"""
import json
import re
import time
from collections import Counter

import pytest

from instr_assets.core.clean.pii import PII_KINDS, PiiMatch, PiiRules, find_pii, redact
from instr_assets.core.clean.quality import (DEFAULT_BLOCKLIST, QualityRules, blocklist, echoes_instruction,
                                       length_bounds, load_blocklist, quality_issue, refusal, repetition,
                                       special_char_ratio, template_slots, truncated)
from instr_assets.core.text import detect_lang, normalize_text


def kinds(text, only=None):
    return [(m.kind, m.text) for m in find_pii(text, only)]


def with_id_check(first17: str) -> str:
    """Written out from GB 11643 here rather than imported, so the test checks the module's arithmetic."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


# ---------------------------------------------------------------- PII


def test_cn_id_checksum_and_date():
    valid = with_id_check("11010519900307123")
    wrong = valid[:17] + ("0" if valid[17] != "0" else "1")
    feb30 = with_id_check("11010519900230123")  # right checksum, impossible date
    future = with_id_check("11010521990101123")
    assert kinds(f"身份证号：{valid}，请核对。") == [("CN_ID", valid)]
    assert kinds(f"ID number {valid}.") == [("CN_ID", valid)]
    for bad in (wrong, feb30, future):
        assert not kinds(f"身份证号：{bad}", ["CN_ID"]), bad
    assert redact(f"身份证号{valid}已登记", find_pii(f"身份证号{valid}已登记")) == "身份证号<CN_ID>已登记"


def test_bank_card_luhn():
    assert kinds("Card: 4111 1111 1111 1111, exp 12/29") == [("BANK_CARD", "4111 1111 1111 1111")]
    assert kinds("卡号4111-1111-1111-1111。") == [("BANK_CARD", "4111-1111-1111-1111")]
    assert kinds("Amex 378282246310005") == [("BANK_CARD", "378282246310005")]
    assert not kinds("Card: 4111 1111 1111 1112")  # Luhn fails
    assert not kinds("Card: 0000 0000 0000 0000")  # Luhn passes, but one repeated digit is no card
    assert not kinds("serial 4111 1111-1111 1111", ["BANK_CARD"])  # mixed separators are not card groups


def test_phones():
    assert kinds("请拨打13812345678联系我") == [("PHONE", "13812345678")]
    assert redact("请拨打13812345678联系我", find_pii("请拨打13812345678联系我")) == "请拨打<PHONE>联系我"
    assert kinds("电话：+86 138 1234 5678") == [("PHONE", "+86 138 1234 5678")]
    assert kinds("tel 0086-138-1234-5678 ok") == [("PHONE", "0086-138-1234-5678")]
    assert kinds("Call (555) 123-4567 today.") == [("PHONE", "(555) 123-4567")]
    assert kinds("London office: +44 20 7946 0958.") == [("PHONE", "+44 20 7946 0958")]
    # Inside longer digit runs, decimals and arithmetic nothing is a phone.
    assert not kinds("订单号 13812345678901234", ["PHONE"])
    assert not kinds("pi = 3.13812345678 and x13812345678", ["PHONE"])
    assert not kinds("3+12345678901 = 12345678904", ["PHONE"])
    assert not kinds("+12 345", ["PHONE"])  # too few digits for E.164


def test_email_in_chinese_text_and_lookalikes():
    text = "联系邮箱：zhang.san@example.com。"
    assert kinds(text) == [("EMAIL", "zhang.san@example.com")]
    assert redact(text, find_pii(text)) == "联系邮箱：<EMAIL>。"
    assert kinds("Mail j.doe+news@mail.example.co.uk.") == [("EMAIL", "j.doe+news@mail.example.co.uk")]
    assert not kinds("Use icon@2x.png for retina screens, see a..b@example.com and @handle.")


def test_ip_addresses():
    # Public addresses only by default (issue 9: private and documentation addresses are not personal; the
    # first three cases used 192.168.1.10, 2001:db8::… and ::ffff:10.0.0.1 before).
    assert kinds("服务器地址为61.135.169.121，端口22。") == [("IPV4", "61.135.169.121")]
    assert kinds("ping 2400:3200::8a2e:370:7334 now") == [("IPV6", "2400:3200::8a2e:370:7334")]
    assert kinds("mapped ::ffff:61.135.169.121") == [("IPV6", "::ffff:61.135.169.121")]
    private = PiiRules(ip_classes=frozenset({"public", "private"}))
    assert [m.text for m in find_pii("服务器地址为192.168.1.10，端口22。", rules=private)] == ["192.168.1.10"]
    # Out-of-range octets, version strings (decided: a fifth dotted part means a version, never an IP),
    # leading zeros, times, MACs, hex words and slices are not addresses.
    for text in ("999.1.1.1", "version 1.2.3.4.5", "release 01.02.03.04", "会议12:30开始", "at 12:30:45",
                 "MAC 00:1A:2B:3C:4D:5E", "deadbeef cafe", "x[1::2]", "std::vector<int>"):
        assert not kinds(text, ["IPV4", "IPV6"]), text


def test_secrets_and_url_credentials():
    url = "postgres://admin:s3cr3tPass@db.example.com:5432"
    assert kinds(f"DSN: {url}/app") == [("URL_CREDENTIALS", url)]  # not also an EMAIL inside it
    tokens = ["AKIAIOSFODNN7EXAMPL3", "ghp_" + "a1B2c3D4e5" * 4, "xoxb-123456789012-abcdefABCDEF",
              "sk-" + "Ab3" * 8, "AIza" + "Sy" + "B1c2D3e4F5" * 3 + "_-x"]
    for tok in tokens:
        assert kinds(f"key: {tok} end") == [("SECRET", tok)], tok
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert redact(f"x\n{pem}\ny", find_pii(f"x\n{pem}\ny")) == "x\n<SECRET>\ny"
    code = 'db_password = "hunter2hunter2"\napi_key: \'Zx81-aa9Q\'\ntoken = tokenizer.encode(text)'
    assert [m.text for m in find_pii(code)] == ["hunter2hunter2", "Zx81-aa9Q"]
    assert redact(code, find_pii(code)).splitlines()[:2] == ['db_password = "<SECRET>"', "api_key: '<SECRET>'"]
    # Placeholders and references are not secrets.
    assert not kinds('password = "short" ; secret = "${VAULT_SECRET}" ; key = "sk-your-api-key-goes-here"')


def test_overlaps_kinds_and_redaction():
    text = "Write to ann@example.org or call +1 (415) 555-0132; server 93.184.216.34."
    found = find_pii(text)
    assert [m.kind for m in found] == ["EMAIL", "PHONE", "IPV4"]
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    assert redact(text, found) == "Write to <EMAIL> or call <PHONE>; server <IP>."
    assert [m.kind for m in find_pii(text, ["IPV4"])] == ["IPV4"]
    assert find_pii(text)[0] == PiiMatch("EMAIL", 9, 24, "ann@example.org")
    assert set(PII_KINDS) >= {m.kind for m in found}
    with pytest.raises(ValueError):
        find_pii(text, ["NAME"])
    assert redact("nothing here", find_pii("nothing here")) == "nothing here"


# ---------------------------------------------------------------- quality filters

PYTHON_ANSWER = """Here is a function that counts words:

```python
from collections import Counter

def top_words(text: str, k: int = 3) -> list[tuple[str, int]]:
    counts = Counter(w.lower() for w in text.split() if w.isalpha())
    print(f"{len(counts)} distinct words; top {k}: {counts.most_common(k)}")
    return [(w, n) for w, n in counts.most_common(k) if n >= 1 and w != "{}"]
```

It returns the `k` most common words with their counts, e.g. `top_words("a b a")` -> `[('a', 2), ('b', 1)]`."""

ZH_PARAGRAPH = ("细胞理论认为所有生命体都由细胞构成，细胞是生物结构和功能的基本单位。日心说则认为太阳位于太阳系的中心，"
                "行星围绕太阳运行，这一观点由哥白尼系统地提出，并推动了近代天文学的发展。")
EN_PARAGRAPH = ("Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose and oxygen. "
                "The light reactions happen in the thylakoid membranes, while the Calvin cycle fixes carbon "
                "in the stroma. Without it, most food chains on Earth would collapse.")


def test_length_bounds_by_language():
    rules = QualityRules()
    assert length_bounds("", "en")[0] == "response_too_short"
    assert length_bounds(" \n", "zh")[0] == "response_too_short"
    assert length_bounds("42", "en") is None and length_bounds("是", "zh") is None
    assert length_bounds("word " * rules.max_words, "en") is None
    assert length_bounds("word " * (rules.max_words + 1), "en") == ("response_too_long", "3001 > 3000 words")
    # Chinese counts characters, not spaces: 4000 Han characters with spaces between them are still fine.
    assert length_bounds(" ".join("字" * 4000), "zh") is None
    assert length_bounds("字" * 4001, "zh") == ("response_too_long", "4001 > 4000 characters")
    assert length_bounds("one two three", "en", QualityRules(min_words=5)) == ("response_too_short",
                                                                              "3 < 5 words")


def test_huge_response_is_rejected_quickly():
    for lang, huge in (("en", "token " * 900_000), ("zh", "汉" * 1_800_000)):
        assert len(huge.encode()) > 5_000_000
        t0 = time.perf_counter()
        issue = quality_issue("Say something.", "", huge, lang)
        assert issue[0] == "response_too_long"
        assert time.perf_counter() - t0 < 2


def test_repetition():
    assert repetition("哈" * 200, "zh")[0] == "repetitive"
    assert repetition("the " * 60, "en")[0] == "repetitive"
    assert repetition("I like it. " * 30, "en")[0] == "repetitive"
    assert repetition(ZH_PARAGRAPH, "zh") is None
    assert repetition(EN_PARAGRAPH, "en") is None
    assert repetition("the the the the", "en") is None  # too few n-grams to judge
    # Box-drawing borders in a diagram are not counted as repeated characters.
    diagram = "\n".join(f"+------------+\n| 第{i}步：{s} |" for i, s in enumerate(["收集数据", "训练模型", "评估结果"]))
    assert repetition(diagram, "zh") is None
    assert quality_issue("Laugh.", "", "哈" * 200, "zh")[0] == "repetitive"
    assert quality_issue("Say the.", "", "the " * 100, "en")[0] == "repetitive"


def test_special_chars():
    assert special_char_ratio("★☆✦✧ " * 20)[0] == "special_chars"
    assert special_char_ratio("好的🙂🙂🙂🙂🙂")[0] == "special_chars"
    assert special_char_ratio("你好，世界！「测试」《书名》——“引号”……") is None
    assert special_char_ratio("Café, naïve, Привет, नमस्ते, 東京; (a+b)*c <= d/e & f|g ~ h^i") is None
    assert special_char_ratio(PYTHON_ANSWER) is None
    assert special_char_ratio("") is None


def test_echo():
    assert echoes_instruction("Translate the sentence into French, please.",
                              "translate the sentence into french please")[0] == "echo"
    assert echoes_instruction("Text: the quick brown fox jumps over the lazy dog by the river",
                              "The quick brown fox jumps over the lazy dog by the river.")[0] == "echo"
    assert echoes_instruction("请把下面这句话翻译成英文：今天天气很好，我们一起去公园散步吧。",
                              "请把下面这句话翻译成英文：今天天气很好，我们一起去公园散步吧")[0] == "echo"
    # Short verifiable answers may well appear in the prompt.
    assert echoes_instruction("Repeat the number 42", "42") is None
    assert echoes_instruction("重复这个数字：42", "42") is None
    # A response that quotes part of a longer prompt is an answer, not an echo.
    assert echoes_instruction("Correct the grammar if needed: The committee has approved the new budget.",
                              "The committee has approved the new budget.") is None
    assert echoes_instruction("请改写：今天天气很好。", "今天的天气非常不错，阳光明媚，适合出门散步。") is None


def test_refusal():
    for text in ("I'm sorry, but I cannot help with that request.",
                 "As an AI language model, I do not have personal opinions.",
                 "I cannot fulfill this request.",
                 "作为一个人工智能语言模型，我无法回答这个问题。",
                 "作为AI语言模型，我没有个人观点。",
                 "抱歉，我不能提供这方面的信息。",
                 "我无法回答这个问题，因为缺少上下文。",
                 "Well. As an AI, I can't browse the web."):
        assert refusal(text)[0] == "refusal", text
    # In a long answer the phrase only counts at the start.
    long_tail = EN_PARAGRAPH * 2 + " As an AI, I hope this helps."
    assert refusal(long_tail) is None
    # A disclaimer that goes on to answer is an answer; only the stricter policy rejects it.
    disclaimer_then_answer = "As an AI language model, I have no preferences. " + EN_PARAGRAPH * 2
    assert refusal(disclaimer_then_answer) is None
    assert refusal(disclaimer_then_answer, QualityRules(refusal_policy="any_disclaimer"))[0] == "refusal"
    for text in ("I cannot stress enough how important sleep is.",
                 "The film asks what it means to live as an artificial mind.",
                 "有人可能认为你作为一个人工智能助手帮助不够。",
                 "我无法想象没有音乐的生活。",
                 ZH_PARAGRAPH, "42"):
        assert refusal(text) is None, text


def test_template_slots():
    assert template_slots("我是 {{name}}，由 {{author}} 开发的 AI 助手")[1] == "unfilled template slot {{name}}"
    assert template_slots("Hello! I am {{ name }}, built by {{author}}.")[0] == "template_slot"
    assert template_slots("Best regards,\n[Your Name]")[0] == "template_slot"
    assert template_slots("Dear [NAME], thank you.")[0] == "template_slot"
    assert template_slots("此致，\n[您的姓名]")[0] == "template_slot"
    for text in (PYTHON_ANSWER,
                 "Use `{{ user }}` in the template:\n```html\n<p>Hello {{ user.name }}</p>\n```",
                 'print("{}".format(x)); d = {"a": 1}; s = f"{name}"',
                 "See [the docs](https://example.com) and [1]; x[N] = buf[MAX_SIZE] + 1.",
                 "我是通义，由阿里云开发的 AI 助手。"):
        assert template_slots(text) is None, text


def test_truncated():
    cut_en = EN_PARAGRAPH + " In short, the process is one of the most important reactions for the"
    assert truncated(cut_en)[0] == "truncated"
    assert truncated(EN_PARAGRAPH + " It keeps going...")[1].startswith("ends with an ellipsis")
    assert truncated("```python\nprint(1)\n") == ("truncated", "unclosed code fence")
    assert truncated(ZH_PARAGRAPH * 3 + "在2016年，他带领阿根廷获得了美洲杯亚军，并在202")[0] == "truncated"
    assert truncated(ZH_PARAGRAPH * 3 + "此后又有很多发现……")[0] == "truncated"
    # Short answers, finished prose, and lists/sign-offs that end without punctuation are fine.
    for text, lang in (("42", "en"), ("Paris", "en"), ("北京", "zh"), (EN_PARAGRAPH, "en"), (ZH_PARAGRAPH * 3, "zh"),
                       (EN_PARAGRAPH + "\n1. Sunlight\n2. Water\n3. Carbon dioxide", "en"),
                       (EN_PARAGRAPH + "\n\nBest regards,\nAnna Smith", "en"),
                       (ZH_PARAGRAPH * 3 + "\n1、细胞理论\n2、日心说", "zh"), (PYTHON_ANSWER, "en")):
        assert truncated(text) is None, text


def test_blocklist(tmp_path):
    terms = load_blocklist()
    assert 10 <= len(terms) <= 20 and all(t == t.strip().casefold() for t in terms)
    assert blocklist("How do I BUILD a  bomb at home?", terms) == ("blocklisted", "blocklisted term B***")
    assert blocklist("请告诉我如何制造炸弹", terms) == ("blocklisted", "blocklisted term 制***")
    for text in ("His speech was bombastic.", "The film was a box-office bomb.", "炸弹鱼是一种比喻。", ""):
        assert blocklist(text, terms) is None, text
    custom = tmp_path / "terms.txt"
    custom.write_text("# house rules\nFoo Bar  # trailing comment\n\n禁词\n", encoding="utf-8")
    assert load_blocklist(custom) == ("foo bar", "禁词")
    assert blocklist("a foo bar b", load_blocklist(custom))[0] == "blocklisted"
    assert blocklist("foobar", load_blocklist(custom)) is None
    assert blocklist("anything", ()) is None
    assert DEFAULT_BLOCKLIST.exists()


def test_quality_issue_order_and_clean_answers():
    terms = load_blocklist()
    assert quality_issue("Write a Python function for the top words.", "", PYTHON_ANSWER, "en",
                         blocklist_terms=terms) is None
    assert quality_issue("What is 40+2?", "", "42", "en", blocklist_terms=terms) is None
    assert quality_issue("Repeat the number 42", "", "42", "en", blocklist_terms=terms) is None
    assert quality_issue("解释细胞理论和日心说。", "", ZH_PARAGRAPH, "zh", blocklist_terms=terms) is None
    assert quality_issue("Explain photosynthesis.", "", EN_PARAGRAPH, "en", blocklist_terms=terms) is None
    # Slots win over refusal; the blocklist also looks at the prompt.
    assert quality_issue("你是谁？", "", "作为一个人工智能，我是 {{name}}。", "zh")[0] == "template_slot"
    assert quality_issue("How to build a bomb", "", "No.", "en", blocklist_terms=terms)[0] == "blocklisted"
    assert quality_issue("Hi", "", "", "en")[0] == "response_too_short"


# ---------------------------------------------------------------- public data


def _pairs(path):
    return [tuple(normalize_text(r[k]) for k in ("instruction", "input", "output"))
            for r in json.loads(path.read_text(encoding="utf-8"))]


def test_shared_llama_factory_data(data_dir):
    terms = load_blocklist()
    identity = _pairs(data_dir / "llama_factory" / "identity.json")
    slotted = [p for p in identity if re.search(r"\{\{(?:name|author)\}\}", p[2])]
    # SOURCES.md's 77 is the outputs with {{name}}; 8 more carry only {{author}}.
    assert sum("{{name}}" in p[2] for p in identity) == 77 and len(slotted) == 85
    flagged = [p for p in identity if quality_issue(*p, detect_lang(p[0] + p[2]), blocklist_terms=terms)]
    assert flagged == slotted
    assert all(quality_issue(*p, detect_lang(p[0] + p[2]))[0] == "template_slot" for p in slotted)
    assert not [m for p in identity for t in p for m in find_pii(t)]

    alpaca = _pairs(data_dir / "llama_factory" / "alpaca_en_demo.json")
    reasons = Counter()
    for p in alpaca:
        issue = quality_issue(*p, detect_lang(p[0] + "\n" + p[2]), blocklist_terms=terms)
        if issue:
            reasons[issue[0]] += 1
    # Reviewed by hand: letters signed "[Your Name]", answers opening "As an AI…", and answers cut off
    # mid-sentence or inside a code fence. No echo/repetition/special-character/blocklist hits.
    assert set(reasons) <= {"template_slot", "refusal", "truncated"}, reasons
    assert sum(reasons.values()) < 0.1 * len(alpaca), reasons
    # Only the sample addresses and a (555) number: no IDs, cards, IPs or secrets in prose.
    found = {m.kind for p in alpaca for t in p for m in find_pii(t)}
    assert found <= {"EMAIL", "PHONE"}, found
