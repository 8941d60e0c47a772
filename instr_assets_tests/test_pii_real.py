"""PII precision and recall on a hand-written dev set of realistic positives and look-alikes (English and
Chinese), redaction of a found value across a whole pair, and the detectors on the real public data.

The dev set is written for these tests and is kept apart from bench/quality_bench.py's planted set.
"""
import json
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.clean.cleaning import clean_pairs
from instr_assets.core.clean.pii import (ANY_HINT_PATTERN, PII_KINDS, PiiRules, find_pii, find_pii_series, ip_class,
                                         redact_values, validate_pii_rules)

from test_clean_augment_split import unify_alpaca, unify_yaml

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4ODQyMTciLCJuYW1lIjoiTGkgTGVpIiwiaWF0IjoxNzE2MjM5MDIyfQ"
       ".Qm9wX3Rva2VuX3NpZ25hdHVyZV9mb3JfdGVzdGluZ18xMjM")

# (kind, text, the exact sensitive span)
POSITIVES = [
    # phones: national and international, with and without "+"
    ("PHONE", "Call me at 415-555-0132 after 6pm.", "415-555-0132"),
    ("PHONE", "My cell is (212) 555-0187, text first.", "(212) 555-0187"),
    ("PHONE", "phone 4155550132", "4155550132"),
    ("PHONE", "Our London desk: 020 7946 0958.", "020 7946 0958"),
    ("PHONE", "Reach Priya on +91 98765 43210 for the visa letter.", "+91 98765 43210"),
    ("PHONE", "WhatsApp: +49 30 901820", "+49 30 901820"),
    ("PHONE", "tel 0086-138-1234-5678 ok", "0086-138-1234-5678"),
    ("PHONE", "请拨打13812345678联系我", "13812345678"),
    ("PHONE", "客服电话：010-62345678，工作日9点到18点。", "010-62345678"),
    ("PHONE", "手机号 139 1234 5678，微信同号。", "139 1234 5678"),
    ("PHONE", "深圳办公室电话0755-8888 6666", "0755-8888 6666"),
    ("PHONE", "联系人：王女士 +86 21 6888 8888", "+86 21 6888 8888"),
    # secrets
    ("SECRET", "curl -H 'Authorization: Bearer 8f3kL9qPz2XvB7nM4tR1wY6u' https://api.example.com", "8f3kL9qPz2XvB7nM4tR1wY6u"),
    ("SECRET", f"Use the token {JWT} for the staging API.", JWT),
    ("SECRET", "stripe.api_key = sk_live_51HqLyjWDarjtT1zdp7dc9aQ", "sk_live_51HqLyjWDarjtT1zdp7dc9aQ"),
    ("SECRET", "STRIPE_SECRET=rk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("SECRET", "huggingface-cli login --token hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567", "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567"),
    ("URL_CREDENTIALS", "git clone https://x:ghp_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ@github.com/me/p",
     "https://x:ghp_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ@github.com"),
    ("SECRET", "token: github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("SECRET", "aws_access_key_id = AKIA4Q7RZ2WXPLM3N8TB", "AKIA4Q7RZ2WXPLM3N8TB"),
    ("SECRET", "AWS secret key: 7Hq2mZk9Lr4Tw8Xv1Bn6Cy3Ds5Fg0Jp2Qa7Wt9Ke", "7Hq2mZk9Lr4Tw8Xv1Bn6Cy3Ds5Fg0Jp2Qa7Wt9Ke"),
    ("SECRET", "export AWS_SECRET_ACCESS_KEY=wJa1rXUtnFEMIK7MDENGbPxRfiCYz9KEY12345678", "wJa1rXUtnFEMIK7MDENGbPxRfiCYz9KEY12345678"),
    ("SECRET", "SLACK_BOT_TOKEN=xoxb-2841-99201-aZ7qW3rT9yU1", "xoxb-2841-99201-aZ7qW3rT9yU1"),
    ("SECRET", "maps key AIzaSyB1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R", "AIzaSyB1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R"),
    ("SECRET", "openai.api_key = 'sk-proj-4fT9kQ2mZ7xW1bN8vR3yL6pH'", "sk-proj-4fT9kQ2mZ7xW1bN8vR3yL6pH"),
    ("SECRET", "把 OPENAI_API_KEY=sk-9aB8cD7eF6gH5iJ4kL3mN2oP 写进 .env 文件", "sk-9aB8cD7eF6gH5iJ4kL3mN2oP"),
    ("SECRET", "API_KEY=a8F3kd92LmQz7Xp", "a8F3kd92LmQz7Xp"),
    ("SECRET", "database:\n  host: db.internal\n  password: hunter2x!\n", "hunter2x!"),
    ("SECRET", "DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("SECRET", "- client_secret: 9f8e7d6c5b4a3210fedc", "9f8e7d6c5b4a3210fedc"),
    # identifiers, addresses on the network, cards, mail
    ("CN_ID", "身份证号：110105 19900307 1239，请核对。", "110105 19900307 1239"),
    ("CN_ID", "ID no. 110105-1990-0307-1239", "110105-1990-0307-1239"),
    ("IPV6", "地址是2400:3200::1，请检查。", "2400:3200::1"),
    ("IPV6", "服务器（2400:da00::6666）宕机了", "2400:da00::6666"),
    ("IPV4", "The attacker came from 61.135.169.121 last night.", "61.135.169.121"),
    ("IPV4", "我家的公网IP是114.247.50.2。", "114.247.50.2"),
    ("EMAIL", "Send the CV to li.na@163.com.", "li.na@163.com"),
    ("BANK_CARD", "卡号 6222 0212 3456 7894 已绑定", "6222 0212 3456 7894"),
    # postal addresses
    ("ADDRESS", "收货地址：北京市朝阳区建国路88号SOHO现代城5号楼1201室，电话见备注。", "北京市朝阳区建国路88号SOHO现代城5号楼1201室"),
    ("ADDRESS", "我住在上海市浦东新区世纪大道100号。", "上海市浦东新区世纪大道100号"),
    ("ADDRESS", "寄到广东省深圳市南山区科技园路1号3栋2单元502室", "广东省深圳市南山区科技园路1号3栋2单元502室"),
    ("ADDRESS", "Ship it to 1600 Amphitheatre Parkway, Mountain View, CA 94043.", "1600 Amphitheatre Parkway, Mountain View, CA 94043"),
    ("ADDRESS", "Holmes lived at 221B Baker Street, London NW1 6XE for years.", "221B Baker Street, London NW1 6XE"),
    ("ADDRESS", "My address is 123 Main St., Apt 4B, Springfield, IL 62704.", "123 Main St., Apt 4B, Springfield, IL 62704"),
    ("ADDRESS", "Mail it to 42 Elm Road, Suite 300, Austin, TX 78701 please", "42 Elm Road, Suite 300, Austin, TX 78701"),
    ("ADDRESS", "收件人：张三，地址：浙江省杭州市西湖区文三路478号华星时代广场A座1503，谢谢",
     "浙江省杭州市西湖区文三路478号华星时代广场A座1503"),
    ("ADDRESS", "新家在台北市信义区信义路五段7号", "台北市信义区信义路五段7号"),
    ("ADDRESS", "我家在成都市武侯区人民南路四段12号院3栋1单元201室。", "成都市武侯区人民南路四段12号院3栋1单元201室"),
    ("ADDRESS", "Write to 10 Downing Street, London SW1A 2AA.", "10 Downing Street, London SW1A 2AA"),
    ("ADDRESS", "We moved to 742 Evergreen Terrace, Springfield.", "742 Evergreen Terrace, Springfield"),
    ("ADDRESS", "Deliver to 350 5th Avenue, New York, NY 10118.", "350 5th Avenue, New York, NY 10118"),
    # more phones, secrets and identifiers as people write them
    ("PHONE", "Toll-free: 1-800-555-0199.", "1-800-555-0199"),
    ("PHONE", "Ring +44 (0)20 7946 0958 any time.", "+44 (0)20 7946 0958"),
    ("PHONE", "Text me at 13912345678 when you land.", "13912345678"),
    ("PHONE", "HK office +852 2345 6789", "+852 2345 6789"),
    ("PHONE", "东京分公司：+81 3-1234-5678", "+81 3-1234-5678"),
    ("PHONE", "dial 0044 20 7946 0958 from abroad", "0044 20 7946 0958"),
    ("SECRET", "我的密码是Xy7#pQ2m，请保管好。", "Xy7#pQ2m"),
    ("SECRET", "WiFi 密码：Lk8@vQ3zP1", "Lk8@vQ3zP1"),
    ("SECRET", "Sorry, my password is hunter2x! so please reset it.", "hunter2x"),
    ("SECRET", 'const client = new Client({ apiKey: "q7Lm2Xv9Tk4Rz8Wb" });', "q7Lm2Xv9Tk4Rz8Wb"),
    ("SECRET", "headers = {'Authorization': 'Bearer 4a7f9c2e8b1d6a3f5e0c9b8d7a6f5e4c'}", "4a7f9c2e8b1d6a3f5e0c9b8d7a6f5e4c"),
    ("CN_ID", "证件号码11010519900307101x无误", "11010519900307101x"),
    ("IPV6", "Our VPS is at 2408:8756:c52:1aec:0:ff:b013:5a11.", "2408:8756:c52:1aec:0:ff:b013:5a11"),
    ("IPV4", "ssh root@61.135.169.121:2222 failed", "61.135.169.121"),
    ("EMAIL", "请发邮件到 wang_wei88@qq.com，谢谢", "wang_wei88@qq.com"),
    ("SECRET", "Authorization: Bearer ya29.a0AfH6SMBx9Kq3Lm7Zp2Tr8Wv", "ya29.a0AfH6SMBx9Kq3Lm7Zp2Tr8Wv"),
    ("SECRET", "mysql -u root -pS3cur3Pa55w0rd! mydb", "S3cur3Pa55w0rd!"),
    ("SECRET", "管理员口令为Adm1n#2024x", "Adm1n#2024x"),
    ("PHONE", "我的手机是186-1234-5678，有事打我", "186-1234-5678"),
    ("PHONE", "If you are in France, dial +33 1 42 68 53 00.", "+33 1 42 68 53 00"),
    ("CN_ID", "身份证：440305 1985 1231 123X", "440305 1985 1231 123X"),
    ("IPV6", "连接到[2409:8a00:1:2::3]:443失败", "2409:8a00:1:2::3"),
    ("ADDRESS", "Our new flat: 15 Park Lane, Flat 3, Leeds", "15 Park Lane, Flat 3, Leeds"),
    ("ADDRESS", "我家位于北京市朝阳区建国路88号，欢迎来玩。", "北京市朝阳区建国路88号"),
    ("ADDRESS", "My office is located at 77 Mass Ave, Cambridge, MA 02139.", "77 Mass Ave, Cambridge, MA 02139"),
    ("ADDRESS", "I'm at 1 Infinite Loop, Cupertino, CA 95014 now", "1 Infinite Loop, Cupertino, CA 95014"),
    ("BANK_CARD", "Visa 4111-1111-1111-1111 exp 09/27", "4111-1111-1111-1111"),
    ("BANK_CARD", "信用卡：6212261202012345675 请于月底还款", "6212261202012345675"),
    ("URL_CREDENTIALS", "DATABASE_URL=postgres://app:Vx9kP2mQ7z@10.0.3.4:5432/prod", "postgres://app:Vx9kP2mQ7z@10.0.3.4:5432"),
    ("EMAIL", "CC: Dr. Anne Müller <anne.mueller@uni-heidelberg.de>", "anne.mueller@uni-heidelberg.de"),
    ("PHONE", "家里电话 6234 5678，晚上打。", "6234 5678"),
    ("PHONE", "Sure, my number is 2125550187.", "2125550187"),
    ("SECRET", "DB_PASS=Zx9Kq3Lm7Zp2", "Zx9Kq3Lm7Zp2"),
    ("SECRET", "app.config['SECRET_KEY'] = 'Zx9Kq3Lm7Zp2Tr8Wv'", "Zx9Kq3Lm7Zp2Tr8Wv"),
    ("ADDRESS", "地址：杭州市西湖区文一西路969号", "杭州市西湖区文一西路969号"),
    ("ADDRESS", "公司在四川省成都市高新区天府大道中段1268号", "四川省成都市高新区天府大道中段1268号"),
    ("ADDRESS", "北京市海淀区中关村大街27号中关村大厦1201", "北京市海淀区中关村大街27号中关村大厦1201"),
    ("PHONE", "微信同号8613912345678，随时联系", "8613912345678"),
    ("SECRET", "Authorization: Bearer QwErTyUiOpAsDfGhJkLzXcVb", "QwErTyUiOpAsDfGhJkLzXcVb"),
    ("SECRET", "SMTP_PASSWORD=%k8Lq!2Vz#Tm", "%k8Lq!2Vz#Tm"),
]

# (the kind it could be mistaken for, text): none of these is personal or secret.
DECOYS = [
    ("IPV4", "Open http://127.0.0.1:8000 in your browser."),
    ("IPV4", "Set the router to 192.168.1.1 and the DHCP range to 192.168.1.100-192.168.1.200."),
    ("IPV4", "子网掩码填255.255.255.0，网关填10.0.0.1。"),
    ("IPV4", "Docker uses 172.17.0.2 by default; link-local 169.254.10.20 means DHCP failed."),
    ("IPV4", "In the docs, 192.0.2.15 and 203.0.113.7 and 198.51.100.42 are examples."),
    ("IPV4", "Upgrade to version 1.2.3.4 before Friday."),
    ("IPV4", "Windows 10 build v10.0.19041.1 is affected."),
    ("IPV4", "固件版本 3.1.4.2 已发布"),
    ("IPV4", "Use 8.8.8.8 or 114.114.114.114 as the DNS server."),
    ("IPV4", "bind to 0.0.0.0 and ping 224.0.0.1"),
    ("IPV6", "监听地址是::1，文档示例为2001:db8::1，请勿使用。"),
    ("IPV6", "fe80::1ff:fe23:4567:890a is the link-local address"),
    ("IPV6", "slice x[1::2] and std::vector<int> and 12:30:45"),
    ("EMAIL", "git clone git@github.com:org/repo.git"),
    ("EMAIL", "git remote add origin git@gitlab.com:team/app.git"),
    ("EMAIL", "ssh://git@github.com/org/repo.git"),
    ("EMAIL", "Use icon@2x.png for retina screens."),
    ("PHONE", "The total is $12345678901 after tax."),
    ("PHONE", "订单号 13812345678 已发货"),
    ("PHONE", "本次交易金额12345678901元"),
    ("PHONE", "Order #4155550132 shipped yesterday."),
    ("PHONE", "Unix time 1617181920 is in April 2021."),
    ("PHONE", "The population was 331449281 in 2020."),
    ("PHONE", "Meeting on 2023-10-01, then 2024.03.15."),
    ("PHONE", "ISBN 978-0-306-40615-7"),
    ("PHONE", "3+12345678901 = 12345678904"),
    ("PHONE", "pi = 3.1415926535"),
    ("PHONE", "The account balance 1,234,567,890 is fine."),
    ("SECRET", "Replace YOUR_API_KEY_HERE with your key."),
    ("SECRET", "openai.api_key = 'sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"),
    ("SECRET", "curl -H 'Authorization: Bearer <your-token>' https://api.example.com"),
    ("SECRET", "password: ********"),
    ("SECRET", "API_TOKEN=${TOKEN}"),
    ("SECRET", "admin password: changeme"),
    ("SECRET", "token = tokenizer.encode(x)"),
    ("SECRET", "password = input()"),
    ("SECRET", "max_tokens: 4096\nTOKEN_LIMIT=8000"),
    ("SECRET", "api_key = os.environ"),
    ("SECRET", 'SECRET_KEY = "your-secret-key"'),
    ("SECRET", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "DB_PASSWORD=password123"),
    ("SECRET", "The token embeddings are added to the position embeddings."),
    ("SECRET", "Here is a randomly generated password: rT8$jLpZ. Keep it safe."),
    ("SECRET", "Bearer tokens are sent in the Authorization header."),
    ("SECRET", "header eyJhbGciOi.not-a-jwt.at-all-here"),
    ("CN_ID", "订单编号 110105 19900307 1238"),
    ("BANK_CARD", "ISBN 9780747542155"),
    ("ADDRESS", "Main Street is closed for the parade."),
    ("ADDRESS", "北京市是中国的首都。"),
    ("ADDRESS", "请看第3号文件。"),
    ("ADDRESS", "Get your kicks on Route 66."),
    ("ADDRESS", "In 2019 Oxford Street was pedestrianised."),
    ("ADDRESS", "他在上海市工作，3号线很方便。"),
    ("ADDRESS", "我知道3号会下雨。"),
    ("ADDRESS", "The company moved to Mountain View, CA in 2004."),
    ("ADDRESS", "清华大学位于北京市海淀区双清路30号。"),
    ("ADDRESS", "The 5 Best Street Foods in Bangkok"),
    ("ADDRESS", "In 2019 Oxford Street, London saw record crowds."),
    ("ADDRESS", "沿着长安街一直走，在3号路口右转。"),
    ("ADDRESS", "威斯康辛州州立公路13号是主街道。"),
    ("PHONE", "Call 911 or 112 in an emergency."),
    ("PHONE", "编号：20230915001"),
    ("PHONE", "The range 2019-2020 and 100 000 people."),
    ("PHONE", "(123) 456-7891"),
    ("PHONE", "Version 2.0.1.20230915 released"),
    ("BANK_CARD", "学号 2019302110048"),
    ("BANK_CARD", '{"timestamp": 1700000000123}'),
    ("BANK_CARD", "order number 4111111111111111"),
    ("SECRET", "password: P@ssw0rd1"),
    ("SECRET", "The password is case-sensitive."),
    ("SECRET", "密码：abc12345"),
    ("SECRET", "密码学是研究编码与破译的学科。"),
    ("SECRET", "Authorization: Bearer $ACCESS_TOKEN"),
    ("SECRET", "passwd: /etc/passwd"),
    ("SECRET", "key: ssh-rsa AAAAB3NzaC1yc2E user@host"),
    ("SECRET", "secret: 12345678"),
    ("SECRET", "api_key = get_secret('openai')"),
    ("SECRET", "if password == confirm_password:"),
    ("IPV4", "牠们的齿式是：上颚1-3.1.4.2；下颚3.1.4.2-3。"),
    ("IPV4", "netmask 255.255.255.252 on 100.64.0.1 (carrier-grade NAT)"),
    ("IPV6", "MAC 00:1A:2B:3C:4D:5E"),
    ("EMAIL", "npm install @types/node and pip install pkg==1.2.3"),
    ("EMAIL", "Reply to noreply@github.com"),
    ("IPV4", "Python 3.11.7.1 is not a real version"),
    ("PHONE", "Her mobile: 07700 900461"),  # Ofcom's range for drama: a fictional number
    ("PHONE", "The model has 175000000000 parameters."),
    ("PHONE", "价格：13800元，总共13812345678元的预算"),
    ("SECRET", "access_token = response.json()['access_token']"),
    ("SECRET", "export HF_TOKEN=hf_xxx"),
    ("ADDRESS", "2号线和10号线在这里换乘，人民路是很多城市都有的路名。"),
    ("ADDRESS", "Baker Street station is on the Jubilee line."),
    # A landmark's or a shop's location, as encyclopedias and listings give it.
    ("ADDRESS", "省博物馆坐落于哈尔滨市南岗区红军街50号，建于1906年。"),
    ("ADDRESS", "该研究所位于石家庄市建华南大街82号。"),
    ("ADDRESS", "Joe's Pizza, located at 7 Carmine St, New York, NY 10014, is open late."),
    ("IPV4", "请安装 1.12.1.2 版本的驱动，或升级到 10.0.0.1。"),
    ("PHONE", "The number 4155550132 is larger than a billion."),
    ("SECRET", "def skip(): pass\nbypass=Zx9Kq3Lm7Zp2"),
    ("SECRET", "token = TokenizerFast\nauth_token: AuthTokenProvider\nSECRET_KEY=%APP_SECRET%"),
    ("SECRET", "Authorization: Bearer XXXXXXXXXXXXXXXXXXXX"),
    ("BANK_CARD", "交易流水 20240315123456 已入账，订单编号为2024031512345678。"),
    ("BANK_CARD", "The invoice is 2023121547110935 and the epoch is 1700000000123456."),
]


def _scores() -> dict[str, dict[str, float]]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for kind, text, value in POSITIVES:
        found = [(m.kind, m.text) for m in find_pii(text)]
        tp[kind] += (kind, value) in found
        fn[kind] += (kind, value) not in found
        fp.update(k for k, v in found if (k, v) != (kind, value))
    for _, text in DECOYS:
        fp.update(m.kind for m in find_pii(text))
    out = {}
    for kind in PII_KINDS:
        if tp[kind] + fn[kind] + fp[kind]:
            out[kind] = {"precision": tp[kind] / max(1, tp[kind] + fp[kind]),
                         "recall": tp[kind] / max(1, tp[kind] + fn[kind]),
                         "positives": tp[kind] + fn[kind], "false_positives": fp[kind]}
    return out


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVES)
def test_positive_is_found_with_its_exact_span(kind, text, value):
    assert (kind, value) in [(m.kind, m.text) for m in find_pii(text)]


@pytest.mark.parametrize(("kind", "text"), DECOYS)
def test_lookalike_is_not_flagged(kind, text):
    assert find_pii(text) == []


def test_precision_and_recall_per_kind_on_the_dev_set():
    scores = _scores()
    for kind, s in sorted(scores.items()):
        print(f"{kind:10s} P={s['precision']:.3f} R={s['recall']:.3f} n={s['positives']} fp={s['false_positives']}")
    assert all(s["precision"] >= 0.95 and s["recall"] >= 0.95 for s in scores.values()), scores
    assert len(DECOYS) >= 50 and len(POSITIVES) >= 40


def test_prefilter_flags_every_positive_and_the_column_path_agrees_with_find_pii():
    texts = [t for _, t, _ in POSITIVES] + [t for _, t in DECOYS] + [None, ""]
    series = pl.Series(texts, dtype=pl.Utf8)
    assert series.head(len(POSITIVES)).str.contains(ANY_HINT_PATTERN).all()
    by_row = find_pii_series(series)
    assert sorted(by_row) == list(range(len(POSITIVES)))
    assert all(by_row[i] == find_pii(texts[i]) for i in by_row)
    assert find_pii_series(series, PiiRules(kinds=("EMAIL",))) == {i: find_pii(texts[i], ["EMAIL"])
                                                                   for i in by_row if find_pii(texts[i], ["EMAIL"])}


def test_ip_classes_are_configurable():
    text = "gateway 192.168.0.1, loopback 127.0.0.1, mask 255.255.0.0, public 61.135.169.121"
    assert [m.text for m in find_pii(text)] == ["61.135.169.121"]
    every = PiiRules(ip_classes=frozenset({"public", "private", "loopback", "netmask"}))
    assert [m.text for m in find_pii(text, rules=every)] == ["192.168.0.1", "127.0.0.1", "255.255.0.0",
                                                             "61.135.169.121"]
    import ipaddress
    assert [ip_class(ipaddress.ip_address(a)) for a in ("10.1.2.3", "fd00::1", "203.0.113.9", "fe80::1",
                                                        "255.255.255.252", "1.1.1.1", "240.0.0.1")] == [
        "private", "private", "documentation", "link_local", "netmask", "well_known", "reserved"]
    with pytest.raises(ValueError):
        validate_pii_rules(PiiRules(ip_classes=frozenset({"home"})))
    with pytest.raises(ValueError):
        validate_pii_rules(PiiRules(phone_regions=("XX",)))


def test_phone_regions_decide_national_numbers():
    # A UK national number is only read as one where GB numbering is tried.
    assert [m.kind for m in find_pii("Our London desk: 020 7946 0958.")] == ["PHONE"]
    assert find_pii("Our London desk: 020 7946 0958.", rules=PiiRules(phone_regions=("US",), phone_regions_more=())) == []


@pytest.mark.parametrize(("text", "number"), [
    ("Ruf mich an: 01512 3774145", "01512 3774145"),  # a German mobile, written nationally
    ("Our Lagos office: 234 2033 41 5975", "234 2033 41 5975"),  # a calling code without its "+"
    ("The Singapore line is 65 6129 7782.", "65 6129 7782"),
])
def test_numbers_of_other_regions_are_phones(text, number):
    assert [m.text for m in find_pii(text)] == [number]


@pytest.mark.parametrize("text", [
    "Her mobile: 07700 900461",  # the UK's range for fiction: GB could hold it, so no other region is asked
    "The total was 12 345 678 dollars.",  # thousands, not a calling code
    "Order 100 2000 3000 shipped",
])
def test_reserved_numbers_and_grouped_amounts_are_not_phones(text):
    assert find_pii(text) == []


def test_redact_values_replaces_standalone_occurrences_only():
    found = {"hunter2x!": "SECRET", "13812345678": "PHONE"}
    assert redact_values("pw hunter2x! and 13812345678; not 138123456789", found) == \
        "pw <SECRET> and <PHONE>; not 138123456789"
    assert redact_values("nothing here", found) == "nothing here"


# ---------------------------------------------------------------- a found value is redacted across the pair

def test_a_secret_found_in_one_field_is_redacted_in_every_field(tmp_path):
    unified = unify_alpaca(tmp_path, [
        {"instruction": "My .env has this line:\nAPI_KEY=a8F3kd92LmQz7Xp\nWhy does the client fail?",
         "input": "the client prints a8F3kd92LmQz7Xp and exits",
         "output": "Check that a8F3kd92LmQz7Xp has not expired; keys rotate every 90 days, so ask for a new one."},
        {"instruction": "我的手机号是13812345678，能帮我写一条自我介绍吗？", "input": "",
         "output": "大家好，我是小李，很高兴认识大家。有事可以联系我：13812345678。"},
    ])
    cleaned, rejected = clean_pairs(unified)
    assert rejected.height == 0, rejected
    rows = {r["pair_id"]: r for r in cleaned.rows(named=True)}
    for row in rows.values():
        whole = json.dumps(row, ensure_ascii=False, default=str)
        assert "a8F3kd92LmQz7Xp" not in whole and "13812345678" not in whole
    first = next(r for r in rows.values() if "<SECRET>" in r["instruction"])
    assert first["input"] == "the client prints <SECRET> and exits"
    assert first["response"].startswith("Check that <SECRET> has not expired")
    assert first["pii_kinds"] == "SECRET"


def test_a_secret_found_in_one_turn_is_redacted_in_every_turn(tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"conversations": [
        {"from": "human", "value": "Here is my config:\nexport GITHUB_TOKEN=Zq81mXa7Lr2Kp9Tw4Bc6\nIt fails."},
        {"from": "gpt", "value": "Which command fails? Please share the full output."},
        {"from": "human", "value": "git push says Zq81mXa7Lr2Kp9Tw4Bc6 is invalid"},
        {"from": "gpt", "value": "Then Zq81mXa7Lr2Kp9Tw4Bc6 was revoked: create a new token in the settings."},
    ]}]), encoding="utf-8")
    y = tmp_path / "chat.yaml"
    y.write_text(f"sources:\n  - {{name: chat, format: sharegpt, path: '{path}'}}\n", encoding="utf-8")
    _, unified, _ = unify_yaml(y)
    cleaned, _ = clean_pairs(unified)
    assert cleaned.height == 1
    contents = [t["content"] for t in cleaned["messages"][0]]
    assert not any("Zq81mXa7Lr2Kp9Tw4Bc6" in c for c in contents), contents
    assert contents[2] == "git push says <SECRET> is invalid"
    assert "Zq81mXa7Lr2Kp9Tw4Bc6" not in json.dumps(cleaned.drop("messages").rows(), default=str)


# ---------------------------------------------------------------- real public data

def _cells(data_dir: Path) -> list[str]:
    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for v in o.values():
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)
    cells = []
    for path in sorted(data_dir.glob("*/*.json*")):
        if path.parent.name == "tokenizers" or path.name == "dataset_info.json":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        docs = [json.loads(line) for line in lines if line.strip()] if path.suffix == ".jsonl" else \
            [json.loads("\n".join(lines))]
        cells += [s for d in docs for s in strings(d) if len(s) > 3]
    return cells


def test_real_data_prefilter_and_findings(data_dir):
    cells = _cells(data_dir)
    assert len(cells) > 20_000
    series = pl.Series(cells)
    flagged = series.str.contains(ANY_HINT_PATTERN).arg_true().to_list()
    t0 = time.perf_counter()
    found = Counter((m.kind, m.text) for matches in find_pii_series(series).values() for m in matches)
    per_row = (time.perf_counter() - t0) / len(cells) * 1e6
    print(f"{len(cells)} cells, {len(flagged)} flagged, {per_row:.1f} µs/cell, {sum(found.values())} findings")
    # The prefilter keeps the Python detectors off nearly all cells: that is what keeps the stage fast.
    assert len(flagged) < 0.03 * len(cells)
    kinds = {k for k, _ in found}
    # Read by hand: e-mails are sample addresses in answers, secrets are example passwords quoted in tool
    # calls, addresses are shops' and landmarks' street addresses (in tool outputs and the Chinese articles),
    # the phones are a fictional (555) number, a shop's, a harbour's in an article ("电话：03-9782345") and a
    # teacher's in a story ("电话号码是718-0167"), the IP a public time server. No IDs or cards.
    assert kinds <= {"EMAIL", "SECRET", "ADDRESS", "PHONE", "IPV4"}, found
    assert {v for k, v in found if k in ("PHONE", "IPV4")} == {"(555) 123-4567", "650-636-4884", "718-0167",
                                                               "03-9782345", "192.43.244.18"}
    # Look-alikes in the same data: a dental formula, a fictional number, a state highway, placeholders.
    assert not [v for k, v in found if v in ("3.1.4.2", "(123) 456-7891") or "公路" in v]
    assert not [v for k, v in found if k == "SECRET" and ("your" in v.lower() or "***" in v)]
