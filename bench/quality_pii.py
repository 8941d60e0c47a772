"""PII values, secrets and their look-alikes for bench/quality_bench.py, and the sentences or config snippets
that carry them.

Written from what real requests and answers hold (contact lines, shipping addresses, pasted config, curl
commands), never from the cleaner's detectors, which this module must not import or read. Values are drawn at
random (phone numbers from the numbering plans of many regions, via `phonenumbers`); every generator takes an
explicit random.Random so that the bench is reproducible.
"""
from __future__ import annotations

import base64
import json
import random
import string

# --------------------------------------------------------------------------------------------- helpers
_ALNUM = string.ascii_letters + string.digits


def digits(r: random.Random, k: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(k))


def alnum(r: random.Random, k: int, alphabet: str = _ALNUM) -> str:
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
    region = r.choice(["110105", "310104", "440305", "330106", "510107", "420106", "320102", "370202", "610113"])
    body = f"{region}{r.randint(1955, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{digits(r, 3)}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


# --------------------------------------------------------------------------------------------- phones
# Regions whose numbers people write into English and Chinese text; zh leans to mainland, Hong Kong, Taiwan.
PHONE_REGIONS = {"en": ["US", "GB", "CA", "AU", "IN", "DE", "FR", "SG", "IE", "NZ", "ZA", "NG", "PH", "JP"],
                 "zh": ["CN", "CN", "CN", "HK", "TW", "SG", "MO", "US"]}


def random_phone(region: str, r: random.Random):
    """A valid number of `region` (mobile or landline), its last digits drawn at random."""
    import phonenumbers as pn
    kind = r.choice([pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE])
    example = pn.example_number_for_type(region, kind) or pn.example_number(region)
    national = str(example.national_number)
    for _ in range(200):
        k = min(6, len(national) - 3)
        cand = pn.parse(national[:-k] + digits(r, k), region)
        if pn.is_valid_number(cand):
            return cand
    return example


def phone_value(lang: str, with_plus: bool, r: random.Random) -> str:
    """A phone number as people write it: international with "+" (spaced, dashed, E.164, "(0)" kept), or
    without: national forms, digits run together, "00" or a bare country code in front."""
    import phonenumbers as pn
    num = random_phone(r.choice(PHONE_REGIONS[lang]), r)
    intl = pn.format_number(num, pn.PhoneNumberFormat.INTERNATIONAL)
    nat = pn.format_number(num, pn.PhoneNumberFormat.NATIONAL)
    cc, rest = intl.split(" ", 1)
    if with_plus:
        return r.choice([intl, pn.format_number(num, pn.PhoneNumberFormat.E164), intl.replace(" ", "-"),
                         f"{cc} ({nat[0]}){rest}" if nat.startswith("0") else f"{cc}-{rest}", f"({cc}) {rest}"])
    plain = "".join(c for c in nat if c.isdigit())
    dashed = nat.replace(" ", "-") if "(" not in nat else nat
    return r.choice([nat, plain, f"00{cc[1:]} {rest}", f"{cc[1:]} {rest}", dashed])


# --------------------------------------------------------------------------------------------- addresses
_EN_STREET_NAMES = ["Maple", "Oak", "Church", "High", "Station", "Victoria", "King", "Park", "Mill", "Elm",
                    "Washington", "Lincoln", "Queen", "George", "Bridge", "Green", "Cedar", "Sunset", "Harbour"]
_EN_STREET_TYPES = ["Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive", "Dr", "Close", "Way",
                    "Boulevard", "Crescent", "Court", "Place"]
_US_CITIES = [("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Denver", "CO"), ("Columbus", "OH"),
              ("Madison", "WI"), ("Raleigh", "NC"), ("Tucson", "AZ"), ("Boise", "ID")]
_UK_TOWNS = ["Leeds", "Bristol", "Manchester", "Norwich", "Cardiff", "York", "Brighton", "Glasgow"]
_AU_TOWNS = [("Parramatta", "NSW"), ("Fitzroy", "VIC"), ("Toowong", "QLD"), ("Fremantle", "WA")]
_CA_TOWNS = [("Toronto", "ON"), ("Halifax", "NS"), ("Calgary", "AB"), ("Victoria", "BC")]
_CN_PLACES = [("广东省", "深圳市", "南山区"), ("浙江省", "杭州市", "西湖区"), ("江苏省", "南京市", "鼓楼区"),
              ("四川省", "成都市", "武侯区"), ("", "北京市", "朝阳区"), ("", "上海市", "浦东新区"), ("湖北省", "武汉市", "洪山区"),
              ("山东省", "青岛市", "市南区"), ("河南省", "郑州市", "金水区"), ("", "重庆市", "渝中区"), ("福建省", "厦门市", "思明区")]
_CN_ROADS = ["科技园南路", "文三路", "中山北路", "人民南路", "建国路", "张江路", "珞喻路", "解放大道", "滨海大道", "和平街",
             "长江东路", "学院路"]
_CN_ESTATES = ["阳光花园", "锦绣华庭", "翠苑小区", "金地名郡", "幸福里", "碧桂园", "万科城"]


def _uk_postcode(r: random.Random) -> str:
    up = string.ascii_uppercase
    return f"{r.choice(up)}{r.choice(up)}{r.randint(1, 20)} {r.randint(1, 9)}{r.choice(up)}{r.choice(up)}"


def address_value(lang: str, r: random.Random) -> str:
    """A postal address in one of several national shapes (US, UK, Canada, Australia; mainland China in
    long and short forms, with estates, buildings and rooms)."""
    if lang == "zh":
        prov, city, dist = r.choice(_CN_PLACES)
        road = f"{r.choice(_CN_ROADS)}{r.randint(1, 999)}号"
        estate = r.choice(_CN_ESTATES)
        tail = r.choice([f"{estate}{r.randint(1, 30)}栋{r.randint(1, 3)}单元{r.randint(1, 30)}0{r.randint(1, 9)}室",
                         f"{r.randint(1, 40)}楼{r.randint(1, 20):02d}室", f"{estate}{r.randint(1, 20)}号楼", ""])
        sep = r.choice(["", " ", "，"])
        lead = r.choice([prov + city + dist, city + dist, dist])
        return f"{lead}{road}{sep if tail else ''}{tail}"
    number, street = r.randint(2, 4999), f"{r.choice(_EN_STREET_NAMES)} {r.choice(_EN_STREET_TYPES)}"
    shape = r.randrange(4)
    if shape == 0:
        city, st = r.choice(_US_CITIES)
        unit = r.choice(["", f", Apt {r.randint(1, 40)}{r.choice('ABCD')}", f" #{r.randint(100, 999)}"])
        return f"{number} {street}{unit}, {city}, {st} {digits(r, 5)}"
    if shape == 1:
        flat = r.choice(["", f"Flat {r.randint(1, 30)}, "])
        return f"{flat}{r.randint(1, 300)} {street}, {r.choice(_UK_TOWNS)} {_uk_postcode(r)}"
    if shape == 2:
        town, st = r.choice(_AU_TOWNS)
        return f"{r.randint(1, 80)}/{r.randint(1, 400)} {street}, {town} {st} {r.randint(2000, 6999)}"
    town, prov = r.choice(_CA_TOWNS)
    up = string.ascii_uppercase
    postcode = f"{r.choice(up)}{r.randint(0, 9)}{r.choice(up)} {r.randint(0, 9)}{r.choice(up)}{r.randint(0, 9)}"
    return f"{number} {street}, {town}, {prov} {postcode}"


# --------------------------------------------------------------------------------------------- secrets
def _jwt(r: random.Random) -> str:
    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
    payload = {"sub": digits(r, 8), "name": r.choice(["alice", "wang.lei", "jdoe", "m.garcia"]),
               "iat": 1700000000 + r.randrange(10**7)}
    if r.random() < 0.5:
        payload["role"] = r.choice(["admin", "user", "editor"])
    alg = r.choice(["HS256", "RS256", "ES256"])
    signature = alnum(r, 43 if alg != "RS256" else 342, _ALNUM + "-_")
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}.{signature}"


def api_key(r: random.Random) -> str:
    up = string.ascii_uppercase + string.digits
    return r.choice([
        lambda: "sk_live_" + alnum(r, 24), lambda: "rk_live_" + alnum(r, 24), lambda: "hf_" + alnum(r, 34),
        lambda: "ghp_" + alnum(r, 36), lambda: "github_pat_" + alnum(r, 22) + "_" + alnum(r, 59),
        lambda: "AKIA" + alnum(r, 16, up), lambda: "sk-proj-" + alnum(r, 48, _ALNUM + "-_"),
        lambda: "sk-" + alnum(r, 48), lambda: "xoxb-" + digits(r, 12) + "-" + digits(r, 13) + "-" + alnum(r, 24),
        lambda: "AIza" + alnum(r, 35, _ALNUM + "-_"), lambda: "glpat-" + alnum(r, 20, _ALNUM + "-_"),
    ])()


def secret_string(r: random.Random) -> str:
    """A password or secret as people set them: random symbols, hex, base64, or a word-and-digits passphrase."""
    return r.choice([
        lambda: alnum(r, r.randint(12, 28), _ALNUM + "!#%&*+-@^"),
        lambda: alnum(r, r.choice([32, 40, 64]), "0123456789abcdef"),
        lambda: base64.b64encode(bytes(r.randrange(256) for _ in range(r.choice([24, 32])))).decode(),
        lambda: r.choice(["Summer", "Dragon", "Coffee", "Tiger", "Purple"]) + r.choice(["!", "@", "#", "_"])
        + digits(r, r.randint(3, 6)) + r.choice(["", "x", "Qq"]),
    ])()


_SECRET_KEYS = ["DB_PASSWORD", "SECRET_KEY", "API_TOKEN", "AWS_SECRET_ACCESS_KEY", "STRIPE_SECRET_KEY",
                "JWT_SECRET", "REDIS_PASSWORD", "SMTP_PASSWORD", "CLIENT_SECRET", "MYSQL_ROOT_PASSWORD",
                "OPENAI_API_KEY", "ADMIN_PASS", "webhook_secret", "auth_token", "password"]
_PLAIN_SETTINGS = [("DB_HOST", "db.internal"), ("PORT", "5432"), ("DEBUG", "false"), ("APP_ENV", "production"),
                   ("LOG_LEVEL", "info"), ("DB_USER", "app"), ("REGION", "eu-west-1"), ("WORKERS", "4")]


def kv_secret_snippet(r: random.Random) -> tuple[str, str]:
    """(snippet, secret value): a secret set as KEY=value among plain settings, written as a .env file, a shell
    export, YAML, JSON, an INI section, a docker-compose environment list or a Python settings module."""
    key, value = r.choice(_SECRET_KEYS), secret_string(r)
    if r.random() < 0.5:
        key = key.lower()
    others = r.sample(_PLAIN_SETTINGS, r.randint(1, 3))
    items = others + [(key, value)]
    r.shuffle(items)
    style = r.randrange(7)
    if style == 0:  # .env
        body = "\n".join(f"{k}={v}" for k, v in items)
    elif style == 1:  # shell
        q = r.choice(["", "'", '"'])
        body = "\n".join(f"export {k}={q}{v}{q}" for k, v in items)
    elif style == 2:  # YAML
        body = "\n".join(f"  {k.lower()}: {v}" for k, v in items)
        body = r.choice(["config:", "database:", "env:"]) + "\n" + body
    elif style == 3:  # JSON
        body = json.dumps({k: v for k, v in items}, indent=2)
    elif style == 4:  # INI
        body = "[default]\n" + "\n".join(f"{k.lower()} = {v}" for k, v in items)
    elif style == 5:  # docker-compose
        body = "    environment:\n" + "\n".join(f"      - {k}={v}" for k, v in items)
    else:  # Python settings
        body = "\n".join(f"{k.upper()} = {v!r}" for k, v in items)
    return body, value


# --------------------------------------------------------------------------------------------- values
_FIRST = ["james", "maria", "li.wei", "zhang.min", "olivia", "chen_jie", "david", "wangfang", "sarah.k", "tom88",
          "a.kumar", "nguyen.t", "j.smith", "liuyang", "priya", "m_rossi"]
_DOMAINS = ["gmail.com", "outlook.com", "163.com", "qq.com", "yahoo.co.uk", "acme-corp.com", "pku.edu.cn",
            "proton.me", "hotmail.com", "126.com", "foxmail.com", "company.de", "uni-heidelberg.de", "icloud.com"]


def _public_ipv4(r: random.Random) -> str:
    while True:
        a = r.randint(1, 223)
        if a not in (10, 100, 127, 169, 172, 192, 198, 203):  # skip private, CGNAT, loopback, link-local, doc
            return f"{a}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _public_ipv6(r: random.Random) -> str:
    head = r.choice(["2a03:2880", "2604:a880", "2400:cb00", "240e:3b7", "2409:8c54", "2001:4860", "2a01:4f8"])
    groups = [f"{r.randrange(1, 0xffff):x}" for _ in range(6)]
    if r.random() < 0.4:  # the compressed form
        return head + "::" + ":".join(groups[:r.randint(1, 3)])
    return head + ":" + ":".join(groups)


def pii_value(kind: str, lang: str, r: random.Random) -> str:
    """A random, valid-looking value of one PII kind (kv_secret: see kv_secret_snippet)."""
    if kind == "email":
        user = r.choice(_FIRST) + r.choice(["", str(r.randint(1, 99)), str(r.randint(1970, 2005))])
        return f"{user}@{r.choice(_DOMAINS)}"
    if kind in ("phone_plus", "phone_no_plus"):
        return phone_value(lang, kind == "phone_plus", r)
    if kind == "cn_id":
        v = cn_resident_id(r)
        return f"{v[:6]} {v[6:14]} {v[14:]}" if r.random() < 0.25 else v
    if kind == "card":
        prefix, length = r.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("62", 16), ("6228", 19)])
        card = luhn_complete(prefix + digits(r, length - len(prefix) - 1))
        return r.choice([card, " ".join(card[i:i + 4] for i in range(0, len(card), 4)),
                         "-".join(card[i:i + 4] for i in range(0, len(card), 4))])
    if kind == "ipv4":
        return _public_ipv4(r)
    if kind == "ipv6":
        return _public_ipv6(r)
    if kind == "cred_url":
        user, host = r.choice(["admin", "deploy", "svc_app", "root", "postgres"]), r.choice(["db", "ci", "files", "mq"])
        domain = r.choice(["myshop.io", "acme-corp.com", "lab.example.net", "prod.internal", "aliyuncs.com"])
        scheme = r.choice(["postgres", "postgresql", "https", "mysql", "ftp", "mongodb+srv", "redis", "amqp"])
        return f"{scheme}://{user}:{secret_string(r).replace('@', '').replace('/', '')}@{host}.{domain}/prod"
    if kind == "api_key":
        return api_key(r)
    if kind == "bearer":
        return alnum(r, r.randint(32, 64), _ALNUM + "-_.")
    if kind == "jwt":
        return _jwt(r)
    if kind == "address":
        return address_value(lang, r)
    raise ValueError(kind)


PII_KINDS = ("email", "phone_plus", "phone_no_plus", "cn_id", "card", "ipv4", "ipv6", "cred_url", "api_key",
             "bearer", "jwt", "kv_secret", "address")
SECRET_KINDS = {"api_key", "bearer", "jwt", "kv_secret", "cred_url"}


def _isbn13(r: random.Random) -> str:
    body = "978" + r.choice(["7", "0", "1"]) + digits(r, 8)
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:7]}-{body[7:12]}-{check}"


def decoy_value(kind: str, r: random.Random) -> str:
    """A string shaped like PII that is not personal data or a secret."""
    if kind == "ip_loopback":
        return r.choice(["127.0.0.1", f"127.0.0.1:{r.choice([3000, 5000, 8000, 8080, 8888])}", "localhost:5432",
                         "::1", f"http://127.0.0.1:{r.randint(1024, 9999)}/"])
    if kind == "ip_private":
        return r.choice([f"192.168.{r.randint(0, 5)}.{r.randint(2, 254)}",
                         f"10.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(2, 254)}",
                         f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(2, 254)}",
                         f"192.168.{r.randint(0, 5)}.0/24"])
    if kind == "netmask":
        return r.choice(["255.255.255.0", "255.255.0.0", "255.255.255.128", "0.0.0.0", "255.255.255.252",
                         "255.255.240.0"])
    if kind == "ip_documentation":
        return r.choice([f"192.0.2.{r.randint(1, 254)}", f"198.51.100.{r.randint(1, 254)}",
                         f"203.0.113.{r.randint(1, 254)}", f"2001:db8::{r.randrange(1, 0xffff):x}", "fe80::1"])
    if kind == "version_4part":
        return r.choice([f"{r.randint(100, 126)}.0.{r.randint(6000, 6500)}.{r.randint(1, 200)}",  # a browser build
                         f"10.0.{r.randint(17000, 22631)}.{r.randint(100, 3999)}",  # a Windows build
                         ".".join(str(r.randint(0, 20)) for _ in range(4))])
    if kind == "git_ssh":
        host = r.choice(["github.com", "gitlab.com", "gitee.com", "bitbucket.org"])
        org = r.choice(["torvalds", "pallets", "my-team", "acme"])
        return f"git@{host}:{org}/{r.choice(['linux', 'flask', 'infra-tools', 'web'])}.git"
    if kind == "long_amount":
        order = f"20{r.randint(20, 25)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{digits(r, 6)}"
        # an amount, an order number, epoch milliseconds
        return r.choice([f"{r.randint(2, 9)}{digits(r, 10)}", order, f"17{r.randint(0, 2)}{digits(r, 10)}"])
    if kind == "placeholder_key":
        return r.choice(["YOUR_API_KEY_HERE", "sk-xxxxxxxxxxxxxxxxxxxxxxxx", "<your-api-key>", "your_token_here",
                         "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "REPLACE_WITH_YOUR_SECRET", "${OPENAI_API_KEY}",
                         "<YOUR_TOKEN>", "sk_test_xxxxxxxxxxxx"])
    if kind == "isbn":
        return _isbn13(r)
    if kind == "date":
        y, m, d = r.randint(2010, 2025), r.randint(1, 12), r.randint(1, 28)
        return r.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{y}年{m}月{d}日", f"{m}/{d}/{y}"])
    if kind == "time":
        h, m = r.randint(0, 23), r.randint(0, 59)
        stamp = f"20{r.randint(18, 25)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}T{h:02d}:{m:02d}:00Z"
        return r.choice([f"{h:02d}:{m:02d}:{r.randint(0, 59):02d}", stamp])
    if kind == "hex_hash":
        return alnum(r, r.choice([7, 12, 32, 40, 64]), "0123456789abcdef")
    raise ValueError(kind)


DECOY_KINDS = ("ip_loopback", "ip_private", "netmask", "ip_documentation", "version_4part", "git_ssh",
               "long_amount", "placeholder_key", "isbn", "date", "time", "hex_hash")
