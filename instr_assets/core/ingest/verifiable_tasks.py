"""Verifiable instruction tasks (English and Chinese) whose answers are computed, not written.

Every task carries a short canonical answer in ``output`` so a model's reply can be scored
with :func:`exact_match` instead of a judge.  ``operands_json`` keeps the raw operands so
the answer can be recomputed independently (tests, audits).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, NamedTuple

import polars as pl

TASK_KINDS = ("arithmetic", "unit_conversion", "date_arithmetic", "string_manipulation", "list_manipulation")
LANGS = ("en", "zh")

SCHEMA = {
    "instruction": pl.Utf8,
    "input": pl.Utf8,
    "output": pl.Utf8,
    "lang": pl.Utf8,
    "task_kind": pl.Utf8,
    "difficulty": pl.Utf8,
    "template_id": pl.Utf8,
    "operands_json": pl.Utf8,
}

# Each template is (instruction, input); both are str.format patterns over the task's fields.
Template = tuple[str, str]


class _Task(NamedTuple):
    template_id: str
    instruction: str
    input: str
    output: str
    difficulty: str
    operands: dict


def _make_task(rng, templates, template_key, lang, fields, output, difficulty, operands) -> _Task:
    options = templates[template_key][lang]
    idx = rng.randrange(len(options))
    instruction, input_text = options[idx]
    return _Task(
        template_id=f"{template_key}.{lang}.{idx}",
        instruction=instruction.format(**fields),
        input=input_text.format(**fields),
        output=output,
        difficulty=difficulty,
        operands=operands,
    )


def format_decimal(value: Decimal) -> str:
    """Canonical number: at most 2 decimals (half-up), no trailing zeros, no "-0"."""
    text = format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --------------------------------------------------------------------------- arithmetic

_ARITH_TEMPLATES: dict[str, dict[str, list[Template]]] = {
    "arithmetic.binary": {
        "en": [
            ("What is {a} {word} {b}? Answer with the number only.", ""),
            ("Calculate {expr}. Respond with only the resulting integer.", ""),
            ("Evaluate the expression below. Answer with the number only.", "{expr}"),
        ],
        "zh": [
            ("计算 {a} {word} {b} 等于多少？只回答数字。", ""),
            ("请算出 {expr} 的结果，只需回答数字，不要解释。", ""),
            ("求下列算式的值，只回答数字。", "{expr}"),
        ],
    },
    "arithmetic.expr": {
        "en": [
            ("What is the value of {expr}? Answer with the number only.", ""),
            ("Evaluate {expr} using the usual order of operations. Reply with the number only.", ""),
            ("Compute the expression below. Answer with the number only.", "{expr}"),
        ],
        "zh": [
            ("计算 {expr} 等于多少？只回答数字。", ""),
            ("按照四则运算顺序，求 {expr} 的值。只回答数字。", ""),
            ("请计算下面的算式，只回答数字。", "{expr}"),
        ],
    },
    "arithmetic.remainder": {
        "en": [
            ("What is the remainder when {a} is divided by {b}? Answer with the number only.", ""),
            ("Divide {a} by {b}. What is the remainder? Reply with the number only.", ""),
            ("Give the remainder of the integer division below. Answer with the number only.", "{a} ÷ {b}"),
        ],
        "zh": [
            ("{a} 除以 {b} 的余数是多少？只回答数字。", ""),
            ("用 {a} 除以 {b}，余数是几？只需回答数字。", ""),
            ("求下面整数除法的余数，只回答数字。", "{a} ÷ {b}"),
        ],
    },
    "arithmetic.quotient": {
        "en": [
            ("What is the whole-number quotient of {a} divided by {b}, ignoring the remainder? Answer with the number only.", ""),
            ("How many whole times does {b} go into {a}? Answer with the number only.", ""),
            ("Give the integer quotient (drop the remainder) of the division below. Answer with the number only.", "{a} ÷ {b}"),
        ],
        "zh": [
            ("{a} 除以 {b} 的整数商是多少（不计余数）？只回答数字。", ""),
            ("{a} 里面最多包含几个 {b}？只回答数字。", ""),
            ("求下面除法的整数商，余数舍去，只回答数字。", "{a} ÷ {b}"),
        ],
    },
}

_OP_WORDS = {
    "en": {"+": "plus", "-": "minus", "×": "times", "÷": "divided by"},
    "zh": {"+": "加", "-": "减", "×": "乘以", "÷": "除以"},
}

# Multi-step forms for "hard"; evaluated with Python semantics after swapping × for *.
_EXPR_FORMS = (
    "({a} + {b}) × {c}",
    "{a} × {b} - {c}",
    "{a} + {b} × {c}",
    "({a} - {b}) × {c}",
    "{a} × ({b} + {c})",
    "({a} + {b}) × ({c} - {d})",
)


def _eval_expr(expr: str) -> int:
    """Evaluate our own +, -, × expressions (never user text), so eval is safe here."""
    return int(eval(expr.replace("×", "*"), {"__builtins__": {}}))  # noqa: S307


def _gen_arithmetic(rng: random.Random, lang: str) -> _Task:
    difficulty = rng.choice(("easy", "medium", "hard"))
    if difficulty == "hard" and rng.random() < 0.7:
        form = rng.choice(_EXPR_FORMS)
        vals = {k: rng.randint(2, 50) for k in "abcd"}
        # a >= b and c > d keep the parenthesised differences non-negative.
        if vals["a"] < vals["b"]:
            vals["a"], vals["b"] = vals["b"], vals["a"]
        if vals["c"] <= vals["d"]:
            vals["c"], vals["d"] = vals["d"] + 1, vals["c"]
        expr = form.format(**vals)
        answer = _eval_expr(expr)
        return _make_task(rng, _ARITH_TEMPLATES, "arithmetic.expr", lang, {"expr": expr}, str(answer),
                          difficulty, {"op": "expr", "expr": expr})

    if difficulty == "easy":
        op = rng.choice("+-")
        a, b = rng.randint(1, 99), rng.randint(1, 99)
    elif difficulty == "hard":
        op, a, b = "×", rng.randint(100, 999), rng.randint(11, 99)
    else:
        op = rng.choice(("+", "-", "×", "÷", "remainder", "quotient"))
        if op in "+-":
            a, b = rng.randint(100, 9999), rng.randint(100, 9999)
        elif op == "×":
            a, b = rng.randint(11, 99), rng.randint(2, 9)
        elif op == "÷":
            b = rng.randint(2, 12)
            a = b * rng.randint(2, 50)
        else:
            b = rng.randint(3, 12)
            a = b * rng.randint(2, 30) + rng.randint(1, b - 1)
    if op == "-" and a < b:
        a, b = b, a

    if op in ("remainder", "quotient"):
        answer = a % b if op == "remainder" else a // b
        key = f"arithmetic.{op}"
        fields = {"a": a, "b": b}
    else:
        answer = {"+": a + b, "-": a - b, "×": a * b, "÷": a // b}[op]
        key = "arithmetic.binary"
        fields = {"a": a, "b": b, "word": _OP_WORDS[lang][op], "expr": f"{a} {op} {b}"}
    return _make_task(rng, _ARITH_TEMPLATES, key, lang, fields, str(answer), difficulty, {"op": op, "a": a, "b": b})


# --------------------------------------------------------------------------- unit conversion

_UNIT_NAMES = {
    "km": ("kilometers", "千米"),
    "m": ("meters", "米"),
    "cm": ("centimeters", "厘米"),
    "kg": ("kilograms", "千克"),
    "g": ("grams", "克"),
    "h": ("hours", "小时"),
    "min": ("minutes", "分钟"),
    "L": ("liters", "升"),
    "mL": ("milliliters", "毫升"),
}

# (larger unit, smaller unit, how many smaller units make one larger unit)
UNIT_FACTORS = (("km", "m", 1000), ("m", "cm", 100), ("kg", "g", 1000), ("h", "min", 60), ("L", "mL", 1000))

_UNIT_TEMPLATES: dict[str, dict[str, list[Template]]] = {
    "unit_conversion.linear": {
        "en": [
            ('Convert {value} {from_name} to {to_name}. Answer only in the form "<number> {to_sym}", '
             "rounded to at most 2 decimal places.", ""),
            ('How many {to_name} are in {value} {from_name}? Reply only with "<number> {to_sym}" '
             "(at most 2 decimal places).", ""),
            ('Express the quantity below in {to_name}. Give only the result as "<number> {to_sym}", '
             "rounded to at most 2 decimal places.", "{value} {from_sym}"),
        ],
        "zh": [
            ("把 {value} {from_name}换算成{to_name}。只回答结果，格式为“数值 {to_sym}”，最多保留两位小数。", ""),
            ("{value} {from_name}等于多少{to_name}？只回答“数值 {to_sym}”，最多保留两位小数。", ""),
            ("将下面的量换算为{to_name}，只回答“数值 {to_sym}”，最多保留两位小数。", "{value} {from_sym}"),
        ],
    },
    "unit_conversion.temperature": {
        "en": [
            ('Convert {value} °C to Fahrenheit. Answer only in the form "<number> °F", '
             "rounded to at most 2 decimal places.", ""),
            ('What is {value} degrees Celsius in degrees Fahrenheit? Reply only with "<number> °F" '
             "(at most 2 decimal places).", ""),
            ('Convert the temperature below to Fahrenheit. Give only the result as "<number> °F", '
             "rounded to at most 2 decimal places.", "{value} °C"),
        ],
        "zh": [
            ("把 {value} 摄氏度换算成华氏度。只回答结果，格式为“数值 °F”，最多保留两位小数。", ""),
            ("{value} °C 等于多少华氏度？只回答“数值 °F”，最多保留两位小数。", ""),
            ("将下面的温度换算为华氏度，只回答“数值 °F”，最多保留两位小数。", "{value} °C"),
        ],
    },
}


def _gen_unit_conversion(rng: random.Random, lang: str) -> _Task:
    difficulty = rng.choice(("easy", "medium", "hard"))
    if difficulty == "hard" and rng.random() < 0.5:
        value = Decimal(rng.randint(-40, 120))
        answer = f"{format_decimal(value * 9 / 5 + 32)} °F"
        return _make_task(rng, _UNIT_TEMPLATES, "unit_conversion.temperature", lang,
                          {"value": format_decimal(value)}, answer, difficulty,
                          {"value": format_decimal(value), "from": "°C", "to": "°F"})

    big, small, factor = rng.choice(UNIT_FACTORS)
    if difficulty == "easy":
        from_unit, to_unit, value = big, small, Decimal(rng.randint(1, 50))
    elif difficulty == "medium" and rng.random() < 0.5:
        # Fractional input into the smaller unit, e.g. 2.5 km -> 2500 m.
        from_unit, to_unit = big, small
        value = Decimal(rng.choice([k for k in range(11, 200) if k % 10])) / 10
    elif difficulty == "medium":
        # Upward conversion chosen so the result is exact within 2 decimals.
        from_unit, to_unit = small, big
        value = Decimal(rng.randint(1, 400) * (factor // math.gcd(factor, 100)))
    else:
        # Upward conversion that needs rounding; exact .005 ties are skipped because
        # half-up vs. half-even would make the reference debatable.
        big, small, factor = rng.choice([u for u in UNIT_FACTORS if 100 % u[2]])
        from_unit, to_unit = small, big
        while True:
            value = Decimal(rng.randint(1, 10000))
            hundredths = value * 100 / factor
            if hundredths % 1 not in (0, Decimal("0.5")):
                break

    result = value * factor if from_unit == big else value / factor
    lang_idx = LANGS.index(lang)
    fields = {
        "value": format_decimal(value),
        "from_name": _UNIT_NAMES[from_unit][lang_idx],
        "to_name": _UNIT_NAMES[to_unit][lang_idx],
        "from_sym": from_unit,
        "to_sym": to_unit,
    }
    return _make_task(rng, _UNIT_TEMPLATES, "unit_conversion.linear", lang, fields,
                      f"{format_decimal(result)} {to_unit}", difficulty,
                      {"value": format_decimal(value), "from": from_unit, "to": to_unit})


# --------------------------------------------------------------------------- dates

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "zh": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
}

_DATE_TEMPLATES: dict[str, dict[str, list[Template]]] = {
    "date_arithmetic.add": {
        "en": [
            ("What date is {n} days after {d}? Answer with the date only, in YYYY-MM-DD format.", ""),
            ("If today is {d}, what date will it be in {n} days? Reply with only the date (YYYY-MM-DD).", ""),
            ("Add {n} days to the date below. Answer with the resulting date only, formatted YYYY-MM-DD.", "{d}"),
        ],
        "zh": [
            ("{d} 再过 {n} 天是哪一天？只回答日期，格式为 YYYY-MM-DD。", ""),
            ("如果今天是 {d}，那么 {n} 天后是哪一天？只回答日期（YYYY-MM-DD）。", ""),
            ("给下面的日期加上 {n} 天，只回答得到的日期，格式为 YYYY-MM-DD。", "{d}"),
        ],
    },
    "date_arithmetic.subtract": {
        "en": [
            ("What date is {n} days before {d}? Answer with the date only, in YYYY-MM-DD format.", ""),
            ("If today is {d}, what was the date {n} days ago? Reply with only the date (YYYY-MM-DD).", ""),
            ("Subtract {n} days from the date below. Answer with the resulting date only, formatted YYYY-MM-DD.", "{d}"),
        ],
        "zh": [
            ("{d} 的 {n} 天前是哪一天？只回答日期，格式为 YYYY-MM-DD。", ""),
            ("如果今天是 {d}，那么 {n} 天前是哪一天？只回答日期（YYYY-MM-DD）。", ""),
            ("从下面的日期减去 {n} 天，只回答得到的日期，格式为 YYYY-MM-DD。", "{d}"),
        ],
    },
    "date_arithmetic.weekday": {
        "en": [
            ("What day of the week is {d}? Answer with the weekday name only (e.g. Monday).", ""),
            ("On which weekday does {d} fall? Reply with only the English weekday name.", ""),
            ("Name the day of the week of the date below. Answer with the weekday name only.", "{d}"),
        ],
        "zh": [
            ("{d} 是星期几？只回答“星期X”，例如“星期一”。", ""),
            ("请问 {d} 是星期几？只需回答星期几（如“星期三”），不要解释。", ""),
            ("下面这个日期是星期几？只回答“星期一”到“星期日”中的一个。", "{d}"),
        ],
    },
    "date_arithmetic.between": {
        "en": [
            ("How many days are there from {start} to {end}? Answer with the number only.", ""),
            ("Compute the number of days between {start} and {end}. Reply with the integer only.", ""),
            ("How many days apart are the two dates below? Answer with the number only.", "{start} and {end}"),
        ],
        "zh": [
            ("从 {start} 到 {end} 一共相隔多少天？只回答数字。", ""),
            ("{start} 和 {end} 之间相差几天？只回答数字。", ""),
            ("下面两个日期相隔多少天？只回答数字。", "{start} 和 {end}"),
        ],
    },
}

_DATE_START = dt.date(2000, 1, 1)
_DATE_SPAN_DAYS = (dt.date(2030, 12, 31) - _DATE_START).days


def _gen_date_arithmetic(rng: random.Random, lang: str) -> _Task:
    difficulty = rng.choice(("easy", "medium", "hard"))
    base = _DATE_START + dt.timedelta(days=rng.randint(0, _DATE_SPAN_DAYS))
    day_range = {"easy": (1, 10), "medium": (11, 120), "hard": (121, 1000)}[difficulty]
    ops = {"easy": ("add", "subtract"), "medium": ("add", "subtract", "between"),
           "hard": ("add", "subtract", "between", "weekday")}[difficulty]
    op = rng.choice(ops)

    if op == "weekday":
        return _make_task(rng, _DATE_TEMPLATES, "date_arithmetic.weekday", lang, {"d": base.isoformat()},
                          WEEKDAYS[lang][base.weekday()], difficulty, {"op": op, "date": base.isoformat()})
    if op == "between":
        # Medium gaps stay short (<= 60 days) so the step count, not just the size, grows with difficulty.
        low, high = (2, 60) if difficulty == "medium" else (61, 1000)
        end = base + dt.timedelta(days=rng.randint(low, high))
        fields = {"start": base.isoformat(), "end": end.isoformat()}
        return _make_task(rng, _DATE_TEMPLATES, "date_arithmetic.between", lang, fields,
                          str((end - base).days), difficulty, {"op": op, **fields})
    n = rng.randint(*day_range)
    result = base + dt.timedelta(days=n if op == "add" else -n)
    return _make_task(rng, _DATE_TEMPLATES, f"date_arithmetic.{op}", lang, {"d": base.isoformat(), "n": n},
                      result.isoformat(), difficulty, {"op": op, "date": base.isoformat(), "days": n})


# --------------------------------------------------------------------------- strings

_EN_WORDS = (
    "apple", "banana", "cherry", "dragon", "engine", "forest", "garden", "harbor", "island", "jungle",
    "kettle", "lemon", "mirror", "needle", "orange", "pepper", "quartz", "rabbit", "silver", "tunnel",
    "umbrella", "violin", "window", "yellow", "zebra", "anchor", "bottle", "candle", "desert", "eleven",
    "feather", "giraffe", "hammer", "igloo", "jacket", "kitten", "ladder", "mountain", "notebook", "ocean",
    "pillow", "question", "rocket", "saddle", "teacher", "unicorn", "village", "wallet", "balloon", "coffee",
    "committee", "mississippi", "bookkeeper", "assessment", "necessary", "parallel", "possession",
    "strawberry", "butterfly", "elephant", "penguin", "tomato", "potato", "cucumber", "letter", "summer",
    "winter", "bubble", "puzzle", "river", "cat", "dog", "sun", "moon", "star", "tree", "book", "door", "map",
    "keyboard", "computer", "language", "algorithm", "database", "pipeline", "sentence", "library",
)
_ZH_WORDS = (
    "人工智能", "机器学习", "春天", "夏天", "秋天", "冬天", "北京", "上海", "长城", "熊猫",
    "图书馆", "火车站", "咖啡", "苹果", "香蕉", "西瓜", "朋友", "老师", "学生", "医生",
    "电脑", "手机", "飞机", "自行车", "太阳", "月亮", "星星", "大海", "高山", "河流",
    "天气", "今天", "明天", "早上", "晚上", "快乐", "努力", "学习", "工作", "旅行",
    "音乐", "电影", "画画", "跑步", "游泳", "吃饭", "睡觉", "读书", "写字", "唱歌",
    "中国", "世界", "城市", "乡村", "花园", "公园", "小猫", "小狗", "蝴蝶", "彩虹",
)
# Non-Chinese tokens mixed into "hard" counting phrases so the model has to skip them.
_ASCII_TOKENS = ("AI", "5G", "app", "3", "100", "GPU", "wifi", "QQ", "2024", "OK")

_STRING_TEMPLATES: dict[str, dict[str, list[Template]]] = {
    "string_manipulation.reverse": {
        "en": [
            ('Reverse the letters of the word "{text}". Answer with the reversed word only.', ""),
            ('Write "{text}" backwards. Reply with only the result.', ""),
            ("Spell the word below in reverse order. Answer with the reversed string only.", "{text}"),
        ],
        "zh": [
            ("把“{text}”倒过来写，只回答倒序后的文字。", ""),
            ("请将“{text}”中字的顺序颠倒过来，只输出结果。", ""),
            ("将下面这段文字按字倒序排列，只回答结果。", "{text}"),
        ],
    },
    "string_manipulation.upper": {
        "en": [
            ('Convert "{text}" to uppercase. Answer with the converted word only.', ""),
            ('Write the word "{text}" in all capital letters. Reply with only the result.', ""),
            ("Rewrite the word below in uppercase. Answer with the result only.", "{text}"),
        ],
        "zh": [
            ("把英文单词 {text} 转换成全部大写，只回答转换后的单词。", ""),
            ("请将 {text} 的所有字母改成大写，只输出结果。", ""),
            ("将下面的英文单词转换为大写字母，只回答结果。", "{text}"),
        ],
    },
    "string_manipulation.count_letter": {
        "en": [
            ('How many times does the letter "{letter}" appear in "{text}"? Answer with the number only.', ""),
            ("Count the occurrences of the letter '{letter}' in \"{text}\". Reply with the number only.", ""),
            ('Count how many times the letter "{letter}" occurs in the text below. Answer with the number only.',
             "{text}"),
        ],
        "zh": [
            ("字母 {letter} 在“{text}”中出现了几次？只回答数字。", ""),
            ("请数一数“{text}”里有几个字母 {letter}，只回答数字。", ""),
            ("下面的文字中字母 {letter} 出现了多少次？只回答数字。", "{text}"),
        ],
    },
    "string_manipulation.count_zh": {
        "zh": [
            ("“{text}”中有多少个汉字？只回答数字。", ""),
            ("请数一数“{text}”一共包含几个汉字（字母和数字不算），只回答数字。", ""),
            ("下面这段文字中有多少个汉字？字母和数字不算，只回答数字。", "{text}"),
        ],
    },
    "string_manipulation.first_n": {
        "en": [
            ('What are the first {n} characters of "{text}"? Answer with those characters only.', ""),
            ('Give the first {n} letters of the word "{text}". Reply with only those letters.', ""),
            ("Write only the first {n} characters of the word below.", "{text}"),
        ],
        "zh": [
            ("“{text}”的前 {n} 个字是什么？只回答这几个字。", ""),
            ("请写出“{text}”开头的 {n} 个字，只回答这几个字。", ""),
            ("只写出下面这段文字的前 {n} 个字，不要写别的。", "{text}"),
        ],
    },
    "string_manipulation.last_n": {
        "en": [
            ('What are the last {n} characters of "{text}"? Answer with those characters only.', ""),
            ('Give the last {n} letters of the word "{text}". Reply with only those letters.', ""),
            ("Write only the last {n} characters of the word below.", "{text}"),
        ],
        "zh": [
            ("“{text}”的最后 {n} 个字是什么？只回答这几个字。", ""),
            ("请写出“{text}”末尾的 {n} 个字，只回答这几个字。", ""),
            ("只写出下面这段文字的最后 {n} 个字，不要写别的。", "{text}"),
        ],
    },
}


def count_chinese_chars(text: str) -> int:
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")


def _zh_phrase(rng: random.Random, n_words: int) -> str:
    return "".join(rng.sample(_ZH_WORDS, n_words))


def _gen_string_manipulation(rng: random.Random, lang: str) -> _Task:
    zh_ops = ("reverse", "upper", "count_letter", "count_zh", "first_n", "last_n")
    op = rng.choice(zh_ops if lang == "zh" else tuple(o for o in zh_ops if o != "count_zh"))
    fields: dict = {}

    if op == "upper":
        text = rng.choice(_EN_WORDS)
        answer, difficulty = text.upper(), "easy"
    elif op == "count_letter":
        # A multi-word phrase adds scanning across word boundaries, hence "hard".
        n_words = rng.choice((1, 1, 2, 3))
        text = " ".join(rng.sample(_EN_WORDS, n_words))
        # Mostly ask for a letter that occurs; sometimes one that does not (answer 0).
        letter = rng.choice(text.replace(" ", "")) if rng.random() < 0.85 else rng.choice("abcdefghijklmnopqrstuvwxyz")
        fields["letter"] = letter
        answer, difficulty = str(text.count(letter)), "medium" if n_words == 1 else "hard"
    elif op == "count_zh":
        parts = list(rng.sample(_ZH_WORDS, rng.randint(2, 4)))
        mixed = rng.random() < 0.5
        if mixed:
            for token in rng.sample(_ASCII_TOKENS, rng.randint(1, 2)):
                parts.insert(rng.randint(0, len(parts)), token)
        text = "".join(parts)
        answer, difficulty = str(count_chinese_chars(text)), "hard" if mixed else "medium"
    else:
        text = rng.choice(_EN_WORDS) if lang == "en" else _zh_phrase(rng, rng.randint(1, 2))
        if op == "reverse":
            answer = text[::-1]
            difficulty = "easy" if len(text) <= 4 else "medium" if len(text) <= 7 else "hard"
        else:
            n = rng.randint(1, len(text) - 1)
            fields["n"] = n
            answer = text[:n] if op == "first_n" else text[-n:]
            difficulty = "easy" if n <= 2 else "medium"

    fields["text"] = text
    return _make_task(rng, _STRING_TEMPLATES, f"string_manipulation.{op}", lang, fields, answer, difficulty,
                      {"op": op, **fields})


# --------------------------------------------------------------------------- lists

_EN_LIST_FMT = "Answer with the list only, formatted like [1, 2, 3]."
_ZH_LIST_FMT = "只回答列表，格式如 [1, 2, 3]。"

_LIST_TEMPLATES: dict[str, dict[str, list[Template]]] = {
    "list_manipulation.sort_asc": {
        "en": [
            (f"Sort the numbers {{lst}} in ascending order. {_EN_LIST_FMT}", ""),
            (f"Arrange {{lst}} from smallest to largest. {_EN_LIST_FMT}", ""),
            (f"Sort the list below in ascending order. {_EN_LIST_FMT}", "{lst}"),
        ],
        "zh": [
            (f"把列表 {{lst}} 按从小到大的顺序排序。{_ZH_LIST_FMT}", ""),
            (f"请将 {{lst}} 中的数字升序排列。{_ZH_LIST_FMT}", ""),
            (f"将下面的列表按升序排序。{_ZH_LIST_FMT}", "{lst}"),
        ],
    },
    "list_manipulation.sort_desc": {
        "en": [
            (f"Sort the numbers {{lst}} in descending order. {_EN_LIST_FMT}", ""),
            (f"Arrange {{lst}} from largest to smallest. {_EN_LIST_FMT}", ""),
            (f"Sort the list below in descending order. {_EN_LIST_FMT}", "{lst}"),
        ],
        "zh": [
            (f"把列表 {{lst}} 按从大到小的顺序排序。{_ZH_LIST_FMT}", ""),
            (f"请将 {{lst}} 中的数字降序排列。{_ZH_LIST_FMT}", ""),
            (f"将下面的列表按降序排序。{_ZH_LIST_FMT}", "{lst}"),
        ],
    },
    "list_manipulation.reverse": {
        "en": [
            (f"Reverse the order of the list {{lst}}. {_EN_LIST_FMT}", ""),
            (f"Write the elements of {{lst}} in reverse order. {_EN_LIST_FMT}", ""),
            (f"Reverse the list below (do not sort it). {_EN_LIST_FMT}", "{lst}"),
        ],
        "zh": [
            (f"把列表 {{lst}} 的顺序倒过来。{_ZH_LIST_FMT}", ""),
            (f"请将 {{lst}} 中的元素按相反的顺序写出。{_ZH_LIST_FMT}", ""),
            (f"将下面的列表反转（不要排序）。{_ZH_LIST_FMT}", "{lst}"),
        ],
    },
    "list_manipulation.dedupe": {
        "en": [
            (f"Remove the duplicates from {{lst}}, keeping the first occurrence of each number in order. {_EN_LIST_FMT}", ""),
            (f"List each distinct number of {{lst}} once, in order of first appearance. {_EN_LIST_FMT}", ""),
            (f"Remove repeated numbers from the list below, keeping the original order. {_EN_LIST_FMT}", "{lst}"),
        ],
        "zh": [
            (f"去掉列表 {{lst}} 中的重复数字，保留每个数字第一次出现的位置和顺序。{_ZH_LIST_FMT}", ""),
            (f"请对 {{lst}} 去重，按首次出现的顺序保留每个数字。{_ZH_LIST_FMT}", ""),
            (f"删除下面列表中重复的数字，保持原有顺序。{_ZH_LIST_FMT}", "{lst}"),
        ],
    },
    "list_manipulation.max": {
        "en": [
            ("What is the largest number in {lst}? Answer with the number only.", ""),
            ("Find the maximum of {lst}. Reply with the number only.", ""),
            ("Give the maximum value of the list below. Answer with the number only.", "{lst}"),
        ],
        "zh": [
            ("列表 {lst} 中最大的数是多少？只回答数字。", ""),
            ("请找出 {lst} 中的最大值，只回答数字。", ""),
            ("下面列表中的最大值是多少？只回答数字。", "{lst}"),
        ],
    },
    "list_manipulation.min": {
        "en": [
            ("What is the smallest number in {lst}? Answer with the number only.", ""),
            ("Find the minimum of {lst}. Reply with the number only.", ""),
            ("Give the minimum value of the list below. Answer with the number only.", "{lst}"),
        ],
        "zh": [
            ("列表 {lst} 中最小的数是多少？只回答数字。", ""),
            ("请找出 {lst} 中的最小值，只回答数字。", ""),
            ("下面列表中的最小值是多少？只回答数字。", "{lst}"),
        ],
    },
    "list_manipulation.sum": {
        "en": [
            ("What is the sum of the numbers in {lst}? Answer with the number only.", ""),
            ("Add up all the numbers in {lst}. Reply with the total only.", ""),
            ("Compute the sum of the list below. Answer with the number only.", "{lst}"),
        ],
        "zh": [
            ("列表 {lst} 中所有数字的和是多少？只回答数字。", ""),
            ("请把 {lst} 中的数字全部加起来，只回答总和。", ""),
            ("求下面列表中所有数字之和，只回答数字。", "{lst}"),
        ],
    },
}


def format_list(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _gen_list_manipulation(rng: random.Random, lang: str) -> _Task:
    difficulty = rng.choice(("easy", "medium", "hard"))
    length, low, high = {"easy": (rng.randint(3, 5), 0, 20), "medium": (rng.randint(6, 8), 0, 99),
                         "hard": (rng.randint(9, 12), -50, 150)}[difficulty]
    op = rng.choice(("sort_asc", "sort_desc", "reverse", "dedupe", "max", "min", "sum"))
    if op == "dedupe":
        # Draw from a pool smaller than the list so repeats are guaranteed to exist.
        pool = rng.sample(range(low, high + 1), max(2, length * 2 // 3))
        values = [rng.choice(pool) for _ in range(length)]
        while len(set(values)) == len(values):
            values[rng.randrange(length)] = values[0]
    else:
        values = [rng.randint(low, high) for _ in range(length)]

    answer = {
        "sort_asc": lambda: format_list(sorted(values)),
        "sort_desc": lambda: format_list(sorted(values, reverse=True)),
        "reverse": lambda: format_list(values[::-1]),
        "dedupe": lambda: format_list(dict.fromkeys(values)),
        "max": lambda: str(max(values)),
        "min": lambda: str(min(values)),
        "sum": lambda: str(sum(values)),
    }[op]()
    return _make_task(rng, _LIST_TEMPLATES, f"list_manipulation.{op}", lang, {"lst": format_list(values)}, answer,
                      difficulty, {"op": op, "values": values})


_GENERATORS: dict[str, Callable[[random.Random, str], _Task]] = {
    "arithmetic": _gen_arithmetic,
    "unit_conversion": _gen_unit_conversion,
    "date_arithmetic": _gen_date_arithmetic,
    "string_manipulation": _gen_string_manipulation,
    "list_manipulation": _gen_list_manipulation,
}

# Retries per requested task before concluding the template/operand space is exhausted.
_MAX_ATTEMPTS_PER_TASK = 50


def generate_verifiable_tasks(n_per_kind_per_lang: int, seed: int, langs=LANGS) -> pl.DataFrame:
    """``n_per_kind_per_lang`` unique tasks for every kind x language, deterministic in ``seed``."""
    if n_per_kind_per_lang < 0:
        raise ValueError("n_per_kind_per_lang must be >= 0")
    unknown = set(langs) - set(LANGS)
    if unknown:
        raise ValueError(f"unsupported langs: {sorted(unknown)}")

    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    rows = []
    for kind in TASK_KINDS:
        for lang in langs:
            made = 0
            for _ in range(n_per_kind_per_lang * _MAX_ATTEMPTS_PER_TASK):
                if made == n_per_kind_per_lang:
                    break
                task = _GENERATORS[kind](rng, lang)
                if (task.instruction, task.input) in seen:
                    continue
                seen.add((task.instruction, task.input))
                rows.append({
                    "instruction": task.instruction,
                    "input": task.input,
                    "output": task.output,
                    "lang": lang,
                    "task_kind": kind,
                    "difficulty": task.difficulty,
                    "template_id": task.template_id,
                    "operands_json": json.dumps(task.operands, ensure_ascii=False),
                })
                made += 1
            if made < n_per_kind_per_lang:
                raise ValueError(f"could only make {made} unique {kind}/{lang} tasks; lower n_per_kind_per_lang")
    return pl.DataFrame(rows, schema=SCHEMA)


# --------------------------------------------------------------------------- scoring

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# A comma between digits followed by exactly three digits is a thousands separator ("1,500 m").
_THOUSANDS_SEP = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def normalize_answer(text: str, case_sensitive: bool = False) -> str:
    """Canonical form for exact matching; forgiving only of presentation, never of content.

    Letter case is presentation for most answers, but content when the task is to change it (upper-casing).
    """
    text = unicodedata.normalize("NFKC", text)  # full-width digits, brackets, commas -> ASCII
    text = " ".join(text.split())
    if not case_sensitive:
        text = text.translate(_ASCII_LOWER)
    text = text.rstrip(".。 ")
    # Lists ("[1,234]") are comma-separated numbers, so only strip separators outside them.
    if "[" not in text:
        text = _THOUSANDS_SEP.sub("", text)
    # Models write lists as "[1,2,3]" as often as "[1, 2, 3]".
    return re.sub(r"\s*,\s*", ", ", text)


def exact_match(prediction: str, reference: str, case_sensitive: bool = False) -> bool:
    """Whole reply matches, or its first non-empty line does (answer followed by an explanation)."""
    ref = normalize_answer(reference, case_sensitive)
    if normalize_answer(prediction, case_sensitive) == ref:
        return True
    lines = [line for line in prediction.strip().splitlines() if line.strip()]
    return bool(lines) and normalize_answer(lines[0], case_sensitive) == ref
