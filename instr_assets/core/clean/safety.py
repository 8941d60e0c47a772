"""Content safety for English and Chinese pairs: hate and harassment, sexual content involving minors,
instructions for weapons or drug production, self-harm methods and encouragement.

A lexicon with context rules, offline and fast. Each rule names a *target* (the harmful object: "pipe bomb",
"冰毒", a slur, a sexual term) and the context that makes text around it harmful: a production or acquisition
verb *near* it, a request cue ("how do I", "步骤", "教我") in its *clause*, and no *benign* marker in that
clause (history, policy, prevention, games, a protective or analytical framing). Words alone never decide:
"bomb" in "photobomb", "kill a process", 杀毒软件, 炸鸡 or "suicide-prevention hotline" do not match a rule.

All patterns run on lower-cased text. The targets' union, with its lookarounds removed, is a superset that
polars' regex engine evaluates over a whole column (`may_be_unsafe`), so clean rows pay one vectorized pass.
On the few rows it passes, polars (Aho-Corasick) also finds the literals each target needs, and the rules,
in Python's much slower regex engine, only scan the short spans around them.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import polars as pl
from re import _constants as sre_constants, _parser as sre_parse

from .textshape import without_lookarounds

CATEGORIES = ("hate", "sexual_minors", "weapons", "drugs", "self_harm")
SAFETY_ACTIONS = ("drop", "off")

Issue = tuple[str, str]

# A clause ends at sentence punctuation or a line break; context must be found inside the target's clause.
_CLAUSE_END = re.compile(r"[.!?;。！？；\n]")

# --- request cues ------------------------------------------------------------------------------------------
_CUE_EN = (r"\bhow (?:do|can|could|would|should|might|to|does one|would one|much|many)\b|\bhow i (?:can|could)\b"
           r"|\bsteps?\b|step[- ]by[- ]step|\binstructions?\b|\bguide\b|\btutorial\b|\brecipe\b|\bingredients?\b"
           r"|\bmaterials?\b|\bteach me\b|\bshow me\b|\btell me\b|\bexplain\b|\b(?:best|easiest|cheapest|quickest|"
           r"simplest|safest) way\b|\bways? to\b|\bhelp me\b|\bi (?:want|need|plan|am going|'m going) to\b"
           r"|\bwhat (?:do|would|will) i need\b|\bwhere (?:can|could|do|should|to)\b|\bprocedure\b|\bblueprints?\b"
           r"|\bplans? for\b|\bdiy\b|\bat home\b|\bhomemade\b|\byou(?:'ll| will)? need\b|\bfirst,? (?:you|take|mix)\b"
           r"|\bwhat (?:chemicals|household|ingredients|supplies)\b|\bgive me\b|\bwithout getting caught\b"
           r"|\b(?:walk|talk) me through\b|\bi(?:'m| am) planning to\b")
_CUE_ZH = r"如何|怎么|怎样|怎麽|咋|方法|步骤|教程|配方|教我|告诉我|详细|哪里|哪儿|在哪|渠道|需要什么|需要哪些|原料|材料|工艺|流程|想要?|要怎|具体"

# --- weapons -----------------------------------------------------------------------------------------------
_BOMB = r"\bbombs?\b(?![- ]?(?:shelter|calorimeter|squad|threat|scare|pop|cyclone|proof|sniff|disposal))"
_GUN = r"\bguns?\b(?! ?(?:powder|metal|shy))"
# Harmless things named with a weapon word ("bath bomb", "glue gun"): the word right before the target.
_HARMLESS_MODIFIER = (
    r"\b(?:bath|seed|calorie|cherry|glitter|flavou?r|smoke|stink|love|photo|truth|time|cocoa|f|nutrient|vitamin|"
    r"glue|nail|water|nerf|staple|heat|spray|toy|squirt|paintball|airsoft|caulk(?:ing)?|grease|massage|bubble|"
    r"soldering|radar|foam|cap|tattoo|same)[- ]?$")
# Explosives, chemical and biological agents, and guns that escape the law: harmful to make and to acquire.
_WEAPON_RESTRICTED = (
    rf"{_BOMB}|\bexplosives\b|\bexplosive (?:devices?|charges?|vests?|belts?|materials?|mixtures?|compounds?)\b"
    r"|\bieds?\b|\bdetonators?\b|\bblasting caps?\b|\bmolotov|\bnapalm\b|\bthermite\b|\btatp\b|\bnitroglycerine?\b"
    r"|\bsemtex\b|\bgrenades?\b|\bland ?mines?\b|\bnerve (?:agents?|gas)\b|\bsarin\b|\bvx (?:gas|nerve)|\bnovichok\b"
    r"|\bricin\b|\bmustard gas\b|\bchlorine gas\b|\bpoison(?:ous)? gas\b|\btoxic gas\b|\b(?:chemical|biological|radiological) weapons?\b"
    r"|\bbio-?weapons?\b|\banthrax\b|\bghost guns?\b|\b(?:untraceable|unregistered|homemade|home-made|improvised|"
    r"3d[- ]printed|zip) (?:guns?|firearms?|pistols?|rifles?|weapons?)\b|\bauto ?sears?\b|\bglock switch(?:es)?\b")
_WEAPON_ANY = (rf"{_WEAPON_RESTRICTED}|\bsilencers?\b|\bsuppressors?\b|\bsolvent traps?\b|{_GUN}|\bfirearms?\b"
               r"|\bhandguns?\b|\bpistols?\b|\brifles?\b|\bshotguns?\b")
_MAKE_EN = (r"\b(?:make|making|build|building|create|creating|assemble|assembling|construct|constructing|"
            r"manufactur(?:e|ing)|synthesi[sz](?:e|ing)|produce|producing|cook|cooking|brew|brewing|mix|mixing|"
            r"prepare|preparing|3d[- ]print(?:ing)?|print|printing|rig|rigging|detonate|set off|weaponi[sz](?:e|ing)|"
            r"convert|converting|put together|putting together|rig up|whip up)\b")
_GET_EN = (r"\b(?:buy|buying|get|getting|obtain|obtaining|acquire|acquiring|order|ordering|purchase|purchasing|"
           r"smuggle|smuggling|source|sourcing|sell|selling)\b")
_WEAPON_BENIGN_EN = (
    r"minecraft|roblox|fortnite|terraria|skyrim|\bgames?\b|video game|in-game|cardboard|\bpaper\b|origami|lego|"
    r"costume|cosplay|\bprops?\b|\btoy\b|\bcake\b|cookie|drawing|\bdraw\b|sketch|\bhistory\b|historical|\bhow did\b|"
    r"\bhow (?:were|was)\b|world war|\bww ?(?:i|ii|1|2)\b|manhattan project|oppenheimer|treaty|convention|"
    r"disarmament|\bbann?(?:ed|s)?\b|regulat|\blegal\b|\blaws?\b|legislation|policy|detect|defus|dispos|"
    r"bomb squad|prevent|protect (?:against|from)|\breport\b|museum|documentary|why (?:is|are|was|were)\b")
_ZH_WEAPON = (r"炸弹|炸药|爆炸物|爆炸装置|雷管|燃烧瓶|燃烧弹|汽油弹|手雷|手榴弹|地雷|(?:^|[^a-z])tnt(?:[^a-z]|$)|硝化甘油|枪支|手枪|步枪|猎枪|土枪|"
              r"气枪|仿真枪|钢珠枪|火药枪|消音器|沙林|神经毒剂|芥子气|毒气|蓖麻毒素|炭疽|生化武器|化学武器|生物武器|脏弹")
_ZH_MAKE = r"制作|制造|自制|土制|合成|组装|改装|改造|提炼|配制|研制|做|造|搞到|弄到|买到|购买|买|获得|引爆"
_ZH_WEAPON_BENIGN = r"历史|古代|二战|抗战|战争中|四大发明|是如何.{0,12}的|是怎么.{0,12}的|禁止|公约|危害|防范|识别|排爆|拆除|法律|违法吗|游戏|玩具|模型"

# --- drugs -------------------------------------------------------------------------------------------------
_DRUG_EN = (r"\bmeth\b|\bcrystal meth\b|\bmethamphetamine\b|\bamphetamines?\b|\bcrack cocaine\b|\bcocaine\b|\bheroin\b"
            r"|\bfentanyl\b|\bcarfentanil\b|\bmdma\b|\becstasy pills?\b|\blsd\b|\bghb\b|\bpcp\b|\bdmt\b|\bketamine\b"
            r"|\bmescaline\b|\bpsilocybin\b|\bmagic mushrooms\b|\bshrooms\b|\bopium\b|\bdate[- ]rape drugs?\b"
            r"|\broofies\b|\brohypnol\b|\b(?:illegal|illicit|street|hard) drugs\b")
_DRUG_MAKE_EN = (r"\b(?:make|making|cook|cooking|synthesi[sz](?:e|ing)|synthesis|produce|producing|manufactur(?:e|ing)|"
                 r"extract|extracting|extraction|grow|growing|brew|brewing|refine|refining|purify|purifying|press|"
                 r"pressing|isolate|crystalli[sz]e|prepare|preparing|create|turn|turning|convert|converting)\b")
_DRUG_GET_EN = rf"{_GET_EN}|\b(?:smuggle|smuggling|traffic|trafficking|hide|hiding|slip|spike|spiking)\b"
_DRUG_BENIGN_EN = (r"polic(?:y|ies)|legali[sz]|decriminali[sz]|addict|treatment|rehab|recover|naloxone|narcan|"
                   r"harm reduction|test(?:ing)? (?:kit|strip)|\bhistory\b|historical|war on drugs|withdrawal|"
                   r"prescri|\bdos(?:e|age)\b|\bdetect|drug test|how does .{0,20} (?:affect|work)|\beffects?\b|"
                   r"\bprevent|awareness|\bwhy\b|\bwhat is\b|law enforcement|\bpolice\b|\bdea\b|opium wars?|"
                   r"anesthe|pharmacolog|documentary|breaking bad|\bgames?\b")
_ZH_DRUG = r"冰毒|甲基苯丙胺|海洛因|可卡因|芬太尼|摇头丸|k粉|氯胺酮|鸦片|吗啡|毒品|致幻剂|麻古|白粉|(?:^|[^a-z])(?:ghb|lsd)(?:[^a-z]|$)|迷药|大麻膏"
_ZH_DRUG_MAKE = r"制作|制造|合成|提炼|提纯|熬制|种植|做|买|购买|弄到|搞到|贩卖|贩运|运输|走私|藏|提取|配制|下"
_ZH_DRUG_BENIGN = r"禁毒|戒毒|危害|预防|识别|鸦片战争|历史|宣传|法律|刑法|判刑|处罚|治疗|医用|麻醉|剂量|副作用|药理|缉毒|警察|公安|举报|为什么"

# --- self-harm ---------------------------------------------------------------------------------------------
_SELF_HARM_ACT_EN = (r"\bsuicide\b|\bkill(?:ing)? myself\b|\bend(?:ing)? my (?:own )?life\b|\btake my (?:own )?life\b"
                     r"|\bhang(?:ing)? myself\b|\bslit(?:ting)? my wrists?\b|\bcut(?:ting)? (?:myself|my wrists?)\b"
                     r"|\boverdos(?:e|ing) on purpose\b|\bself[- ]harm(?:ing)?\b|\bhurt(?:ing)? myself\b"
                     r"|\bstarv(?:e|ing) myself\b")
_SELF_HARM_METHOD_CUE_EN = (r"\bhow (?:do|can|could|should|would|to|many|much|deep|long)\b|\bbest way\b|\beasiest\b"
                            r"|\bquickest\b|\bfastest\b|\bpainless(?:ly)?\b|\bleast painful\b|\bwithout (?:pain|it hurting|"
                            r"anyone|my|people)\b|\bmethods?\b|\bways? to\b|\btips\b|\blethal\b|\bfatal\b|\bguaranteed\b"
                            r"|\bsure(?:st)? way\b|\b(?:which|what) (?:\w+ ){0,2}(?:pills|drugs|medications?|chemicals)\b"
                            r"|\b(?:could|can|should) i (?:use|take|mix|buy|get)\b"
                            r"|\bwhere (?:to|should i) cut\b")
_SELF_HARM_BENIGN_EN = (r"\bhelp (?:a|my|someone|others|him|her|them|people)\b|\bfriend|prevent|hotline|lifeline|crisis|"
                        r"\bsupport|warning signs|signs of|\bcop(?:e|ing)\b|therap|counsel|\bstop\b|\bresist|urges?\b|"
                        r"recover|statistic|\brates?\b|each year|per year|research|\bstud(?:y|ies)\b|literature|novel|"
                        r"\bcharacter\b|why do people|awareness|\b988\b|samaritans|safety plan|minecraft|\bgames?\b|"
                        r"\btalk (?:to|with)\b|reduce|\bsquad\b|suicide (?:door|squeeze|run|bomb|mission|king)")
_DIE_EN = (r"\b(?:painless(?:ly)?|quick(?:est|ly)?|easiest|fastest|best|least painful|surest|peaceful(?:ly)?) (?:way )?"
           r"(?:to )?die\b|\bdie (?:painlessly|peacefully|quickly) (?:tonight|now|myself)")
_ENCOURAGE_EN = (r"\b(?:you|u) should (?:just )?(?:go )?(?:kill yourself|die|end (?:it|your life)|off yourself)\b|\bkys\b"
                 r"|\bgo kill yourself\b|\bnobody would miss you\b|\b(?:the world|everyone) would be better off "
                 r"without you\b|\b(?:cutting|self[- ]harm|starving yourself|suicide) is (?:the (?:only )?answer|a good "
                 r"(?:idea|option)|beautiful|romantic|the way out)\b|\bpro[- ]?ana\b|\bthinspo\b|\bthinspiration\b")
_ENCOURAGE_BENIGN_EN = (r"\b(?:don't|do not|never) (?:tell|say)\b|what to say|respond|someone (?:told|said)|told me|"
                        r"said to me|\breport|cyberbull|\bbullied\b|hotline|dangers?|\bwhat is\b|\bwhy\b|awareness|"
                        r"recover|harmful|laughing|\bcope\b")
_GLORIFY_EN = r"\bencourag\w*|\bglorif\w*|\bromantici[sz]\w*|\bpromot\w*"
_ZH_SELF_HARM = r"自杀|轻生|结束(?:自己的)?生命|割腕|上吊|跳楼|烧炭自杀|服毒|自残|自我伤害|寻死"
_ZH_SELF_HARM_CUE = r"怎么|怎样|如何|方法|方式|办法|教程|用什么|什么样的|比较好|多少|几楼|多高|多深|无痛|不痛|痛苦最小|最快|最简单|哪种|什么药|能死|会死|致死|才能死|成功率"
_ZH_SELF_HARM_BENIGN = (r"预防|干预|热线|帮助|求助|心理|咨询|援助|朋友|家人|防止|劝|阻止|识别|迹象|信号|关爱|统计|比例|率|原因|"
                        r"为什么|新闻|报道|研究|小说|文学|电影|历史|挽救|救|急救|伤口|走出|面对|游戏|事件|倾向|怎么办|"
                        r"家属|患者|念头|抑郁")
_ZH_DIE = r"(?:怎么|怎样|如何)死(?:才|最|比较|得)?(?:不痛|无痛|快|舒服|安详)|无痛(?:地)?死(?:去|亡|掉)?|最不痛苦的死法"
_ZH_ENCOURAGE = r"你(?:怎么)?(?:还)?(?:不)?(?:应该|就该|赶紧|快)?去死|去死吧|你(?:还是)?自杀(?:吧|算了)|活着(?:也)?是浪费空气|你就?该死(?!的)"
_ZH_ENCOURAGE_BENIGN = r"说我|骂我|对我说|被人|遇到|有人|网暴|举报|回应|应对|歌词|台词|怎么办"

# --- sexual content involving minors ---------------------------------------------------------------------
_SEXUAL_EN = (r"\bsex\b(?! education| ed\b| of (?:the|a|my|your|their) (?:baby|child|fetus))"
              r"|\bsexual(?:ly)? (?:explicit|acts?|activit(?:y|ies)|content|stor(?:y|ies)|fantas(?:y|ies)|role-?play|"
              r"encounters?|intercourse|relationships?|pleasure|touch(?:ing)?|images?|photos?|videos?|favou?rs)\b"
              r"|\bsexuali[sz]\w*|\bsexy\b|\bporn\w*|\bnudes?\b|\bnaked\b|\bnudity\b|\berotic\w*|\bintercourse\b"
              r"|\borgasm\w*|\barous\w*|\bmasturbat\w*|\bgenitals?\b|\blewd\b|\bnsfw\b|\bhentai\b|\bfondl\w*"
              r"|\bmolest(?:ing)?\b|\bsteamy\b|\bsensual\b|\bhorny\b|\blust(?:ful|ing|s)?\b|\bmake love\b|\bmaking love\b|\bexplicit (?:scenes?|stor(?:y|ies)|content|images?|"
              r"photos?)\b|\bsmut\b|\bfetish\w*")
_MINOR_EN = (r"\bchild(?:ren)?\b|\bkids?\b|\bminors?\b|\bunder-?age\b|\bpre-?teens?\b|\bteens?\b|\bteenagers?\b"
             r"|\b(?:[1-9]|1[0-7])[- ]?(?:yo|y/o|years?[- ]old)\b|\b(?:five|six|seven|eight|nine|ten|eleven|twelve|"
             r"thirteen|fourteen|fifteen|sixteen|seventeen)[- ]years?[- ]old\b|\blittle (?:girls?|boys?)\b"
             r"|\byoung (?:girls?|boys?|teens?)\b|\bschool ?(?:girls?|boys?)\b|\bloli(?:con)?\b|\bshota(?:con)?\b"
             r"|\btoddlers?\b|\bmiddle school(?:er)?s?\b|\belementary school(?:er)?s?\b|\bstudents? (?:aged|age) "
             r"(?:[1-9]|1[0-7])\b")
_PROTECT_EN = (r"educat|\bsex ed\b|\bhealth|puberty|protect|prevent|\breport|warning|signs? of|awareness|safe|"
               r"\btalk (?:to|with) (?:my|your|our|their)\b|age[- ]appropriate|\bconsent\b|pediatric|doctor|therap|"
               r"counsel|victims?|survivors?|law enforcement|police|\bcrime|criminal|prosecut|\bnormal\b|develop|"
               r"parenting|recogni[sz]|detect|combat|fight(?:ing)? against|\bstop|moderat|classif|\btalk about\b"
               r"|\bparents (?:know|should|can)\b|\bshould parents\b")
_GROOM_EN = r"\bgroom(?:ing)?\b|\blure\b|\bluring\b|\bseduc\w*|\bsext(?:ing)?\b|\bget (?:her|him|them) alone\b"
_SEXUAL_ZH = (r"色情|性交|做爱|性爱|裸照|裸体|全裸|裸露|黄色(?:小说|图片|视频|网站)|猥亵|性侵|强奸|诱奸|性行为|发生关系|性关系|露骨|情色|"
              r"淫秽|淫荡|性幻想|性感|开房|约炮|性虐")
_MINOR_ZH = (r"幼女|幼童|女童|男童|儿童|小孩|孩子|未成年|萝莉|正太|小学生|初中生|中学生|小女孩|小男孩|"
             r"(?:[1-9]|1[0-7]|十[一二三四五六七]?|[二三四五六七八九])岁")
_PROTECT_ZH = r"预防|防范|防止|保护|举报|报警|性教育|生理|卫生|教育|识别|警惕|打击|法律|犯罪|判刑|刑法|受害|心理|被(?:猥亵|性侵|强奸)|怎么办|应对|求助|医生|发育|正常"

# --- hate and harassment ---------------------------------------------------------------------------------
_SLUR_EN = (r"\bnigg(?:er|a|ah|uh)s?\b|\bkikes?\b|\bchinks?\b(?! in)|\bspics?\b|\bwetbacks?\b|\bgooks?\b|\bragheads?\b"
            r"|\btowelheads?\b|\bfaggots?\b|\btrann(?:y|ies)\b|\bretards\b|\bbeaners?\b|\bjigaboos?\b|\bporch monkeys?\b"
            r"|\bzipperheads?\b|\bsand ?niggers?\b|\bcamel jockeys?\b|\bdykes\b")
_META_EN = (r"\bthe (?:word|term|slur)s?\b|\bslurs?\b|offensive|derogatory|etymolog|origin of|history of|\bwhy is\b|"
            r"\bis it (?:ok|okay|acceptable|racist)\b|\bmean(?:s|ing)?\b|n-word|reclaim|classif|moderat|detect|"
            r"hate speech|flag")
_GROUP_EN = (r"\b(?:jews|jewish people|muslims|christians|blacks|black people|whites|white people|asians|mexicans|"
             r"immigrants|refugees|migrants|gays|gay people|lesbians|trans(?:gender)? people|women|arabs|africans|"
             r"indians|chinese people|hispanics|latinos|gypsies|roma people|disabled people|homosexuals|"
             r"hindus|sikhs|catholics)\b"
             # a group named by what its members share: "people of her religion", "those of that race"
             r"|\b(?:people|those|anyone|members) (?:of|from) (?:his|her|their|that|this|your|my|a certain|some) "
             r"(?:religion|faith|race|ethnicity|ethnic group|nationality|caste|tribe|skin colou?r)\b")
_DEHUMANIZE_EN = (r"\b(?:are|r) (?:all )?(?:just )?(?:animals|vermin|rats|cockroaches|parasites|subhuman|sub-human|"
                  r"inferior|a disease|a plague|filth|scum|savages|apes|monkeys|not (?:real )?(?:people|humans?))\b"
                  r"|\bshould (?:all )?(?:be )?(?:die|killed|exterminated|gassed|wiped out|eradicated|lynched|sterili[sz]ed|"
                  r"burned|hanged|shot)\b|\bdeserve to die\b|\bdon'?t deserve (?:rights|to live)\b")
_ANALYSIS_EN = (r"propaganda|stereotyp|debunk|counter|\bmyths?\b|historian|analy[sz]|respond to|refut|the claim|"
                r"why do (?:some )?people|hate speech|\bis it true\b|examples? of|identify|detect|classif|moderat|"
                r"\bquote|rhetoric")
_HARASS_EN = (r"\b(?:bully|harass|humiliate|threaten|intimidate|stalk|doxx?|blackmail|torment|cyberbully|degrade)\b")
_HARASS_CUE_EN = (r"\bhow (?:can|do|could|should) (?:i|we)\b|\bhow to\b|\bhelp me\b|\bways? to\b|\btips (?:to|for|on)\b"
                  r"|\bi want to\b|\b(?:write|draft|compose|send)\b")
_HARASS_BENIGN_EN = (r"\bdeal with\b|\bstop\b|prevent|victim|being (?:bullied|harassed|stalked|threatened)|\breport|"
                     r"\bcope\b|\brespond\b|protect|\bif someone\b|anti-|awareness|what to do|deer|prey|\bhunt|"
                     r"\banimal|chess|\bgame\b|\bdebate\b|signs of|\bnot\b|\bnever\b")
_SLUR_ZH = r"黑鬼|支那|尼哥|黑皮猪|死基佬|娘炮|小日本|绿茶婊|婊子|贱种"
_META_ZH = r"这个词|这个称呼|一词|词源|由来|含义|意思|为什么|历史|冒犯|歧视性|侮辱性|贬义|抗日|抗战|分类|审核|识别"
_GROUP_ZH = (r"黑人|白人|犹太人|穆斯林|回民|同性恋|基佬|女人|外地人|河南人|东北人|日本人|韩国人|印度人|新疆人|"
             r"少数民族|移民|难民|残疾人|农村人|穷人"
             # a group named by what its members share: "某个民族的人", "那种信仰的人"
             r"|(?:民族|种族|宗教|信仰|肤色|国家|地方)的人")
_DEHUMANIZE_ZH = (r"(?:都|全|就)(?:是|该)(?:畜生|垃圾|蟑螂|害虫|寄生虫|劣等|猪|狗|人渣|败类|下等|低等|病毒|瘟疫|该死)"
                  r"|天生(?:就)?(?:低劣|劣等|下贱|低等|愚蠢|是罪犯|就坏)"
                  r"|(?:都|全)?(?:应该|该)(?:被)?(?:消灭|杀光|灭绝|死|滚出|赶出)|滚出(?:中国|我们|这里)|不配(?:活|当人|做人)|不是人")
_ANALYSIS_ZH = r"宣传|刻板印象|偏见|反驳|驳斥|分析|谣言|为什么有人|歧视是|仇恨言论|识别|审核|分类|例子"
_HARASS_ZH = r"辱骂|羞辱|威胁|恐吓|骚扰|网暴|人肉|霸凌|侮辱|诋毁|造谣"
_HARASS_CUE_ZH = r"写(?:一|几)?(?:段|篇|条|句|封|首)?|帮我|教我|怎么|如何|怎样|方法"
_HARASS_BENIGN_ZH = r"被|遭遇|遭到|受到|感到|面临|应对|处理|怎么办|预防|防止|举报|保护|反|面对|如果有人|法律|违法"


@dataclass(frozen=True)
class _Rule:
    category: str
    name: str
    target: str  # the harmful object
    near: str | None = None  # must occur within `window` characters of the target (either side, same clause)
    window: int = 40
    context: str | None = None  # must occur somewhere in the target's clause
    benign: str | None = None  # the match does not count when this occurs in the clause
    # The match does not count when this matches the text right before it (a regex ending in $).
    modifier: str | None = _HARMLESS_MODIFIER


RULES: tuple[_Rule, ...] = (
    _Rule("weapons", "weapon-making request", _WEAPON_ANY, _MAKE_EN, 40, _CUE_EN, _WEAPON_BENIGN_EN),
    _Rule("weapons", "weapon acquisition request", _WEAPON_RESTRICTED, _GET_EN, 40, _CUE_EN, _WEAPON_BENIGN_EN),
    _Rule("weapons", "automatic-fire conversion",
          r"\bfull[- ]?auto(?:matic)?\b|\bfully automatic\b|\bselect[- ]fire\b|\bburst fire\b",
          r"\b(?:convert|converting|conversion|modify|modifying|turn|turning|make|making)\b", 50, None,
          _WEAPON_BENIGN_EN),
    _Rule("weapons", "serial number removal", r"\bserial numbers?\b",
          r"\b(?:remove|removing|file off|filing off|scratch off|grind off|grinding off|obliterate|erase)\b", 20,
          r"\b(?:guns?|firearms?|pistols?|rifles?|weapons?|glock)\b", _WEAPON_BENIGN_EN),
    _Rule("weapons", "gun without background check", r"\bbackground checks?\b",
          r"\b(?:without|no|avoid|skip|bypass|get around|evade)\b", 20,
          rf"(?:{_GET_EN}).{{0,40}}\b(?:guns?|firearms?|pistols?|rifles?|weapons?|ammo)\b",
          _WEAPON_BENIGN_EN + r"|\bwhy\b|states?\b|loophole"),
    _Rule("weapons", "weapon recipe", _WEAPON_RESTRICTED,
          r"\b(?:recipes?|blueprints?|schematics?|formulas?|instructions|tutorials?|guides?|plans)\b (?:for|to|on|of)\b",
          30, None, _WEAPON_BENIGN_EN),
    _Rule("weapons", "attack request", r"\bblow(?:ing)? up\b|\bbombing\b|\bset fire to\b",
          r"\b(?:buildings?|bridges?|planes?|airplanes?|aircraft|trains?|buses|schools?|church(?:es)?|mosques?|"
          r"synagogues?|temples?|stadiums?|embass(?:y|ies)|power plants?|pipelines?|crowds?|cars?|house|office)\b",
          30, _CUE_EN, _WEAPON_BENIGN_EN),
    _Rule("weapons", "weapon-making request (zh)", _ZH_WEAPON, _ZH_MAKE, 16, _CUE_ZH, _ZH_WEAPON_BENIGN),
    _Rule("drugs", "drug production request", _DRUG_EN, _DRUG_MAKE_EN, 40, _CUE_EN, _DRUG_BENIGN_EN),
    _Rule("drugs", "drug acquisition request", _DRUG_EN, _DRUG_GET_EN, 40, _CUE_EN, _DRUG_BENIGN_EN),
    _Rule("drugs", "drug precursors", r"\bprecursors?\b|\breagents?\b|\bsynthesis route\b|\breaction steps\b",
          None, 0, _DRUG_EN, _DRUG_BENIGN_EN + r"|regulat|control"),
    _Rule("drugs", "drug production request (zh)", _ZH_DRUG, _ZH_DRUG_MAKE, 16, _CUE_ZH, _ZH_DRUG_BENIGN),
    _Rule("self_harm", "self-harm method request", _SELF_HARM_ACT_EN, None, 0, _SELF_HARM_METHOD_CUE_EN,
          _SELF_HARM_BENIGN_EN),
    _Rule("self_harm", "way to die", _DIE_EN, None, 0, None, _SELF_HARM_BENIGN_EN),
    # A dose or a cut described by its end, not named: "... so I don't wake up", "... so the bleeding won't stop".
    _Rule("self_harm", "lethal dose request", r"\b(?:so (?:that )?i (?:don'?t|do not|won'?t|will not|never) wake up"
          r"|(?:and|to) never wake up(?: again)?|to not wake up)\b", None, 0,
          r"\bhow (?:many|much)\b|\bpills?\b|\btablets?\b|\bdose\b|\btake\b|\bswallow\b", _SELF_HARM_BENIGN_EN),
    _Rule("self_harm", "cut to bleed out", r"\bbleeding (?:won'?t|will not|doesn'?t|does not|never) stop\b"
          r"|\bbleed (?:out|to death)\b", None, 0, r"\bwhere\b|\bhow\b|\bcut\b|\bdeep\b|\bvein\b|\bartery\b",
          # ("stop" is in the target here: the general list's "stop self-harm" does not apply)
          _SELF_HARM_BENIGN_EN.replace(r"\bstop\b|", "") + r"|first aid|wound|injur|doctor|hemophilia|\bpatient\b"
          r"|\bif (?:the )?bleeding\b|\bpress(?:ure)?\b|bandage|tourniquet|\bnose|\bgums?\b|\bperiods?\b|menstrua"),
    _Rule("self_harm", "self-harm encouragement", _ENCOURAGE_EN, None, 0, None, _ENCOURAGE_BENIGN_EN),
    _Rule("self_harm", "self-harm glorification", r"\bsuicide\b|\bself[- ]harm\b|\banorexia\b",
          _GLORIFY_EN, 30, r"\b(?:write|compose|draft|create|make)\b",
          r"\bnot\b|without|avoid|prevent|awareness|against|dangers?|\bhelp\b|instead|\bstop|recover"),
    _Rule("self_harm", "self-harm method request (zh)", _ZH_SELF_HARM, None, 0, _ZH_SELF_HARM_CUE, _ZH_SELF_HARM_BENIGN),
    _Rule("self_harm", "way to die (zh)", _ZH_DIE, None, 0, None, _ZH_SELF_HARM_BENIGN),
    _Rule("self_harm", "lethal amount (zh)", r"吃(?:多少|几片|几颗|几瓶|一整瓶)",
          r"会死|能死|才能死|才会死|可以死|死掉|自杀", 15, None, _ZH_SELF_HARM_BENIGN),
    _Rule("self_harm", "lethal amount (zh)", r"吃(?:多少|几片|几颗|几瓶|一整瓶)", r"不再醒来|醒不过来|一睡不醒|长眠不醒",
          15, None, _ZH_SELF_HARM_BENIGN),
    _Rule("self_harm", "cut to bleed (zh)", r"割(?:哪里|哪儿|哪|什么地方|多深|手腕|动脉)",
          r"止不住|流不止|停不下来|流干|会死|能死|致死", 15, None, _ZH_SELF_HARM_BENIGN),
    _Rule("self_harm", "self-harm encouragement (zh)", _ZH_ENCOURAGE, None, 0, None, _ZH_ENCOURAGE_BENIGN),
    _Rule("sexual_minors", "minor with sexual content", _SEXUAL_EN, _MINOR_EN, 80, None, _PROTECT_EN),
    _Rule("sexual_minors", "grooming request", _GROOM_EN, _MINOR_EN, 40,
          r"\bhow (?:do|can|could|should|to)\b|\bways? to\b|\btips\b|without (?:their )?parents|secretly|\btrust\b",
          _PROTECT_EN + r"|hair|\bnails?\b|\bdogs?\b|\bpets?\b"),
    _Rule("sexual_minors", "minor with sexual content (zh)", _SEXUAL_ZH, _MINOR_ZH, 30, None, _PROTECT_ZH),
    _Rule("hate", "slur", _SLUR_EN, None, 0, None, _META_EN),
    _Rule("hate", "dehumanizing a group", _DEHUMANIZE_EN, _GROUP_EN, 40, None, _ANALYSIS_EN),
    _Rule("hate", "harassment request", _HARASS_EN, _HARASS_CUE_EN, 30, None, _HARASS_BENIGN_EN),
    # Mockery of a group asked for: "jokes that make fun of disabled people", "memes mocking immigrants".
    _Rule("hate", "mockery of a group", r"\bmak(?:e|es|ing) fun of\b|\bmock(?:s|ing)?\b|\bridicul\w*|\bdemean\w*"
          r"|\blaugh(?:s|ing)? at\b|\bbelittl\w*", _GROUP_EN, 40,
          r"\bjokes?\b|\bmemes?\b|\binsults?\b|\bposts?\b|\bcaptions?\b|\bslogans?\b",
          _ANALYSIS_EN + r"|\bwhy\b|\bstop\b|\bnot\b|\bnever\b|\bhurt|\bharm|\bdon'?t\b|\bavoid\b|respect"),
    _Rule("hate", "slur (zh)", _SLUR_ZH, None, 0, None, _META_ZH),
    _Rule("hate", "dehumanizing a group (zh)", _DEHUMANIZE_ZH, _GROUP_ZH, 12, None, _ANALYSIS_ZH),
    _Rule("hate", "harassment request (zh)", _HARASS_ZH, _HARASS_CUE_ZH, 12, None, _HARASS_BENIGN_ZH),
)


def validate(categories: tuple[str, ...], action: str) -> None:
    if action not in SAFETY_ACTIONS:
        raise ValueError(f"safety_action: {action!r} is not one of {SAFETY_ACTIONS}")
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"safety_categories: unknown {sorted(unknown)}; known are {list(CATEGORIES)}")


def required_literals(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of `pattern` contains at least one (the most selective such set found
    in its parse tree), or None when there is none."""
    return _required(sre_parse.parse(pattern).data)


def _required(items) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(candidates: frozenset[str] | None) -> None:
        nonlocal best
        if candidates and (best is None or min(map(len, candidates)) > min(map(len, best))):
            best = candidates

    for op, av in items:
        if op is sre_constants.LITERAL:
            run.append(chr(av))
            continue
        consider(frozenset(["".join(run)]) if run else None)
        run = []
        if op is sre_constants.SUBPATTERN:
            consider(_required(av[-1].data))
        elif op is sre_constants.BRANCH:
            options = [_required(branch.data) for branch in av[1]]
            consider(None if None in options else frozenset().union(*options))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and av[0] >= 1:
            consider(_required(av[2].data))
    consider(frozenset(["".join(run)]) if run else None)
    return best


# A rule, its compiled patterns, and the literals one of which each match of its target contains.
_Compiled = tuple[_Rule, re.Pattern, re.Pattern | None, re.Pattern | None, re.Pattern | None, re.Pattern | None,
                  frozenset[str] | None]


@lru_cache(maxsize=8)
def _compiled(categories: tuple[str, ...]) -> tuple[_Compiled, ...]:
    def opt(p: str | None) -> re.Pattern | None:
        return re.compile(p) if p else None

    return tuple((r, re.compile(r.target), opt(r.near), opt(r.context), opt(r.benign), opt(r.modifier),
                  required_literals(r.target)) for r in RULES if r.category in categories)


def _for_polars(pattern: str) -> str:
    # ASCII word boundaries keep Rust's engine on its fast DFA; next to a letter of another script they also
    # match where Python's Unicode ones do not, which keeps the pattern a superset.
    return without_lookarounds(pattern).replace(r"\b", r"(?-u:\b)")


@lru_cache(maxsize=8)
def prefilter_pattern(categories: tuple[str, ...] = CATEGORIES) -> str:
    """A polars (Rust regex) pattern that every text a rule of `categories` flags matches."""
    targets = dict.fromkeys(_for_polars(r.target) for r in RULES if r.category in categories)
    return "(?i)" + "|".join(f"(?:{t})" for t in targets) if targets else "$^"


def may_be_unsafe(texts: pl.Series, categories: tuple[str, ...] = CATEGORIES) -> pl.Series:
    """True where a text might trip a rule: one vectorized pass, False for nearly all clean text."""
    return texts.str.contains(prefilter_pattern(categories))


def _mask(term: str) -> str:
    return term[0] + "***"


# How far a target's match reaches beyond a required literal inside it, at most (targets are short phrases).
_TARGET_REACH = 64


def _windows(at: dict[str, list[int]] | None, literals: frozenset[str] | None, size: int) -> list[tuple[int, int]]:
    """Merged spans around the occurrences (`at`: literal -> positions) of `literals`: the only places a
    target that needs one of them can match. Python's regex engine tries every branch of an alternation at
    every position, so scanning only these spans is what keeps the rules cheap."""
    if literals is None or at is None:
        return [(0, size)]
    spans = sorted((max(0, p - _TARGET_REACH), min(size, p + len(lit) + _TARGET_REACH))
                   for lit, positions in at.items() if lit in literals for p in positions)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _occurrences(low: str, hits: list[str]) -> dict[str, list[int]] | None:
    """literal -> its positions in `low`, from polars' hits (in order of position, overlapping allowed);
    None when lower-casing moved them (then every rule scans the whole text)."""
    at: dict[str, list[int]] = {}
    cursor = 0
    for hit in hits:
        lit = hit.lower()
        p = low.find(lit, cursor)
        if p < 0:
            return None
        at.setdefault(lit, []).append(p)
        cursor = p
    return at


def _first_issue(text: str, hits: list[str], rules: Iterable[_Compiled]) -> Issue | None:
    low = text.lower()
    shown = text if len(text) == len(low) else low  # lower() may change lengths (rarely); offsets are low's
    at = _occurrences(low, hits)
    ends: list[int] | None = None
    for rule, target, near, context, benign, modifier, literals in rules:
        for m in (m for a, b in _windows(at, literals, len(low)) for m in target.finditer(low, a, b)):
            if modifier is not None and modifier.search(low, max(0, m.start() - 16), m.start()):
                continue
            if ends is None:
                ends = [e.start() for e in _CLAUSE_END.finditer(low)]
            k = bisect.bisect_left(ends, m.start())
            start = ends[k - 1] + 1 if k else 0
            # The target may span a clause end (a lookahead-free match over "?"); its clause then runs on.
            end = max(ends[k] if k < len(ends) else len(low), m.end())
            if near is not None and not (near.search(low, max(start, m.start() - rule.window), m.start())
                                         or near.search(low, m.end(), min(end, m.end() + rule.window))):
                continue
            if context is not None and not context.search(low, start, end):
                continue
            if benign is not None and benign.search(low, start, end):
                continue
            term = m.group(0).strip()
            if rule.category == "hate" and rule.name.startswith("slur"):
                # Reports repeat the detail; a slur is not spelled out there.
                return f"unsafe_{rule.category}", f"{rule.name}: '{_mask(term)}'"
            return f"unsafe_{rule.category}", f"{rule.name}: '{term}' in '{_snippet(shown, start, end)}'"
    return None


def _snippet(text: str, start: int, end: int, width: int = 80) -> str:
    clause = " ".join(text[start:end].split())
    return clause if len(clause) <= width else clause[:width - 1] + "…"


@lru_cache(maxsize=8)
def _all_literals(categories: tuple[str, ...]) -> list[str]:
    return sorted({lit for *_, literals in _compiled(categories) for lit in literals or ()})


def unsafe_rows(texts: pl.Series, categories: tuple[str, ...] = CATEGORIES) -> dict[int, Issue]:
    """{position: issue} for the texts a rule flags. Only texts past the prefilter reach the rules, and
    polars (Aho-Corasick) finds where the literals the rules' targets need occur in them."""
    candidates = may_be_unsafe(texts, categories).arg_true().to_list()
    if not candidates:
        return {}
    texts = texts.gather(candidates)
    hits = texts.str.extract_many(_all_literals(categories), overlapping=True, ascii_case_insensitive=True)
    rules = _compiled(categories)
    found = {}
    for i, text, row_hits in zip(candidates, texts.to_list(), hits.to_list()):
        issue = _first_issue(text, row_hits, rules)
        if issue:
            found[i] = issue
    return found


def safety_issue(text: str, categories: tuple[str, ...] = CATEGORIES) -> Issue | None:
    """('unsafe_<category>', detail) for the first rule that flags `text`, else None."""
    return unsafe_rows(pl.Series([text], dtype=pl.Utf8), categories).get(0)
