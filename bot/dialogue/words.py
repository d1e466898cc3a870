"""The words the dialogue listens for, and the small parsers built on them.

Everything here reads `compact` text: normalised (`bot.normalize`), lower-cased, with spaces
and punctuation removed, so that "TD。", "td" and " T D " read alike. These lists recognise
answers to the bot's own questions (1/2, 是/不是, 跳过), commands that must work without the
NLU (退订, 人工), survey answers and danger words; understanding requests is the NLU's job.
"""

from __future__ import annotations

import re

from bot.normalize import normalize

_NOT_WORD = re.compile(r"[\W_]+")
_HAN = re.compile(r"[\u3400-\u9fff]")

# --- opt-out and opt-in (DESIGN.md: honoured before anything else, on every channel) --------

# Twilio's default opt-out keywords, and what Chinese carriers and residents use.
OPT_OUT_WORDS = frozenset(
    {"td", "t", "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
    | {"退订", "取消订阅", "退订短信", "取消短信", "退订td", "回复td退订", "退", "退定"}
    | {"不要再发", "别再发了", "不要再发了", "别发了", "不要发短信", "拒收"}
)
_OPT_OUT_INSIDE = ("退订", "取消订阅")
_OPT_OUT_INSIDE_MAX = 12  # "我要退订短信" yes; a long message merely mentioning 退订, no
OPT_IN_WORDS = frozenset(
    {"start", "yes", "unstop", "subscribe", "optin", "resubscribe"}
    | {"订阅", "恢复订阅", "重新订阅", "恢复", "开通", "恢复短信", "取消退订", "不退订", "不要退订"}
)
# Inside a short message these ask to be messaged again ("我要重新订阅短信", "帮我恢复通知").
_OPT_IN_INSIDE: tuple[str, ...] = (
    *("恢复订阅", "重新订阅", "取消退订", "继续订阅", "我要订阅"),
    *("订阅短信", "恢复短信", "恢复通知", "重新开通"),
)

# --- people ---------------------------------------------------------------------------------

HUMAN_WORDS = frozenset(
    {"人工", "转人工", "人工服务", "人工客服", "找人工", "要人工", "真人", "找真人", "客服"}
    | {"找客服", "转客服", "接人工", "人工台", "我要人工", "转接人工", "找工作人员"}
    | {"human", "agent", "person", "operator", "realperson", "talktoaperson"}
    | {"speaktoaperson", "talktoahuman", "speaktoahuman", "talktosomeone"}
)
_HUMAN_INSIDE = ("转人工", "人工客服", "找人工", "要人工", "人工服务", "接人工")

# --- short answers ----------------------------------------------------------------------------

YES_WORDS = frozenset(
    {"是", "是的", "是啊", "对", "对的", "对啊", "嗯", "嗯嗯", "恩", "好", "好的", "好啊", "可以"}
    | {"行", "要", "需要", "确认", "没错", "对头", "是滴", "要的", "好嘞", "中", "ok", "okay"}
    | {"yes", "y", "yeah", "yep", "sure", "correct", "right", "please", "yesplease"}
)
NO_WORDS = frozenset(
    {"不是", "不对", "不", "否", "没有", "不要", "不用", "不用了", "不需要", "错了", "都不对"}
    | {"不是的", "不对的", "no", "n", "nope", "wrong", "notreally", "nothanks"}
)
NONE_OF_THESE_WORDS = frozenset(
    {"0", "都不是", "都不对", "都没有", "以上都不是", "没有", "没有对的", "都不", "都不是的"}
    | {"不是", "none", "noneofthese", "neither", "noneofthem", "other"}
)
SKIP_WORDS = frozenset(
    {"跳过", "不知道", "不清楚", "不记得", "不想说", "不方便说", "不晓得", "不懂"}
    | {"skip", "dontknow", "idontknow", "notsure", "unknown", "pass"}
)
CANCEL_WORDS = frozenset(
    {"算了", "不用了", "不办了", "没事了", "没事", "取消", "不说了", "不弄了", "不要了"}
    | {"nevermind", "forgetit", "nomatter", "dontbother"}
)
# "Do it for me" answering an offer (要代办请回复1, 您说的是…吗): the yes words, or a request to
# have it done — 帮我代办, 代办, 帮我办, 好的帮我办一下, 麻烦帮我反映一下. Negations never match.
_ACCEPT = re.compile(
    r"(?:好的?|好啊|好吧|行|行的|可以|嗯+|恩|是的?|对|要的?|需要|那就|那|ok|okay)?"
    r"(?:请|麻烦(?:你|您)?|我要|我想|我需要|要|需要|想|就)?"
    r"(?:帮我们?|帮忙|替我|给我|帮)?"
    r"(?:代办|代理|办理|办|反映|上报|登记|报上去|处理|申请)"
    r"(?:一下|下)?(?:吧|呀|啊|哈|呗|了)?"
    r"(?:谢谢(?:你|您)?|麻烦(?:你|您)?了|辛苦了)?"
    r"|(?:yes|yeah|yep|ok|okay|sure)?(?:please)?"
    r"(?:goahead|doit|doitforme|pleasedoit|dothat|applyforme|helpme|helpmeapply|pleasedo|"
    r"reportit|registerit|iwantitdone|iwantto|havethemdoit|havetheagentdoit|yesplease)"
    r"(?:forme)?(?:please|thanks|thankyou)?"
)
# The same request at the start of a longer message about the offered item: 帮我办低保.
_ACCEPT_START = re.compile(
    r"(?:好的?|行|可以|要|需要|那就|那)?(?:请|麻烦(?:你|您)?|我要|我想)?"
    r"(?:帮我们?|帮忙|替我)(?:代办|办理|办|反映|上报|登记|申请)"
)

CORRECTION_WORDS = frozenset(
    {"0", "回复0", "0更正", "更正", "不对", "错了", "分类错了", "分错了", "不是这个", "弄错了"}
    | {"搞错了", "不是这个事", "不是这个问题", "类别不对", "分类不对", "wrong", "notright"}
    | {"incorrect", "wrongcategory", "correct0"}
)
_CORRECTION_START = ("不对", "错了", "更正", "不是这个", "搞错", "弄错", "分类错", "wrong")

GREET_WORDS = frozenset(
    {"你好", "您好", "在吗", "在不在", "喂", "有人吗", "hi", "hello", "hey", "哈喽", "嗨", "早"}
    | {"早上好", "下午好", "晚上好", "你好在吗", "您好在吗", "goodmorning", "goodafternoon"}
)
THANKS_WORDS = frozenset(
    {"谢谢", "多谢", "感谢", "谢谢你", "谢谢您", "辛苦了", "谢啦", "好的谢谢", "thanks", "thankyou"}
    | {"thx", "ty", "非常感谢", "太感谢了", "麻烦了", "谢了", "好谢谢"}
)
STATUS_WORDS = frozenset(
    {"查进度", "进度", "我的案件", "我的事", "查询进度", "办得怎么样了", "案件进度", "查案件"}
    | {"办到哪了", "处理得怎么样了", "有结果了吗", "mycases", "status", "progress", "checkstatus"}
    | {"checkprogress", "mycase", "查询"}
)

# --- numbered choices -------------------------------------------------------------------------

_CHINESE_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_CHINESE_NUMERALS |= {"七": 7, "八": 8, "九": 9, "零": 0, "〇": 0}
_ENGLISH_NUMERALS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "zero": 0}
_ENGLISH_NUMERALS |= {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_CHOICE = re.compile(
    r"(?:第|选|选择|回复|选第|要|是|option|number|no|the)?"
    r"(?P<n>[0-9]|[一二两三四五六七八九零〇]|one|two|three|four|five|zero|first|second|third|"
    r"fourth|fifth)"
    r"(?:个|项|号|条|种|个吧|吧|号吧|one)?"
)

# --- survey answers (好差评: 1 非常满意 … 5 非常不满意) ------------------------------------------

_RATING_STARS = re.compile(r"(?P<n>[1-5一二三四五])颗?星")  # 五星好评: stars count up, levels down
_RATING_DIGIT = re.compile(r"(?:给|打|评|我选|选)?(?P<n>[1-5一二三四五])(?:分|级|号)?")
# Checked in this order: the negated and qualified forms before the plain ones they contain.
_RATING_WORDS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(非常|很|特别|极其|极|十分|太|超级)不满意|很差|非常差|太差|极差"), 5),
    (re.compile(r"verydissatisfied|veryunsatisfied|terrible|awful|verypoor|verybad"), 5),
    (re.compile(r"notbad"), 2),
    (re.compile(r"(不太|不是很|不怎么|不够|不大|不)满意|差评|不好|不行"), 4),
    (re.compile(r"dissatisfied|unsatisfied|notsatisfied|unhappy|poor|bad"), 4),
    (re.compile(r"基本满意|一般|还行|还可以|凑合|马马虎虎|还算满意"), 3),
    (re.compile(r"fairlysatisfied|neutral|average|soso|okay|ok|fair"), 3),
    (re.compile(r"(非常|很|特别|十分|超级|太|相当)满意|满分|非常好|很好|太好了"), 1),
    (re.compile(r"verysatisfied|excellent|verygood|great|perfect|fivestars"), 1),
    (re.compile(r"满意|好评|挺好|不错|good|satisfied|happy"), 2),
)
_MAX_RATING_TEXT = 40  # a longer message is about something else, even if it says 满意
_ANY_DIGIT = re.compile(r"[0-9]")

# --- danger to life or property: the case is opened at once, marked urgent ------------------

# (pattern, the concern it is when the NLU offers no concern of its own). Chinese patterns
# read compact text; English ones read `spaced` text, so that they can use word boundaries.
URGENT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"着火|起火|失火|火灾|烧起来|冒浓烟|大火|火很大|火烧"), "safety_fire_hazard"),
    (
        re.compile(r"(煤气|燃气|天然气|液化气)(泄漏|泄露|漏了|漏气)|闻到煤气|漏煤气"),
        "safety_fire_hazard",
    ),
    (re.compile(r"电线(掉|断|落|垂)|漏电|触电|高压线(掉|断|落)|电线杆倒"), "safety_fire_hazard"),
    (re.compile(r"爆炸"), "safety_fire_hazard"),
    (re.compile(r"房子?(塌|倒)|墙(塌|倒)|倒塌|危房要倒"), "safety_fire_hazard"),
    (re.compile(r"塌方|滑坡|泥石流|路塌|桥塌"), "infra_road"),
    (re.compile(r"水管(爆|破裂|炸)|爆管|被水淹|淹水了|淹了"), "infra_water"),
    (
        re.compile(r"有人受伤|受伤了|受了伤|流血|昏迷|晕倒|不省人事|快不行了|救命|溺水|落水"),
        "health_medical_help",
    ),
    (re.compile(r"持刀|砍人|打人了|抢劫|行凶|打起来了|杀人"), "safety_security_hazard"),
    (
        re.compile(r"\b(fire|burning|smoke)\b|\bgas leak|\bsmells? (of )?gas\b"),
        "safety_fire_hazard",
    ),
    (
        re.compile(r"\blive wire|\bpower lines? (is |are )?(down|fell|fallen)|\bexplo(sion|ded)\b"),
        "safety_fire_hazard",
    ),
    (re.compile(r"\bcollaps|\blandslide|\bmudslide"), "infra_road"),
    (re.compile(r"\bburst (water )?pipe|\bpipe (has )?burst|\bflooding\b"), "infra_water"),
    (
        re.compile(r"\binjur(ed|y)\b|\bbleeding\b|\bunconscious\b|\bnot breathing\b|\bdrowning\b"),
        "health_medical_help",
    ),
    (re.compile(r"\bknife\b|\brobbery\b|\battacked\b|\bstabbed\b"), "safety_security_hazard"),
)

# --- questions about an item: which FAQ topic of the catalog answers them -------------------

TOPIC_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"材料|带什么|要带|准备什么|需要什么|什么证件|证件|资料|"
            r"\b(documents?|materials?|papers|bring|what do i need)\b"
        ),
        "materials",
    ),
    (
        re.compile(
            r"多少钱|收费|费用|要钱|交钱|收钱|花钱|钱吗|免费|价格|几块钱|"
            r"\b(cost|costs|fees?|price|how much|charge|free)\b"
        ),
        "fees",
    ),
    (
        re.compile(
            r"多久|多长时间|几天|多少天|什么时候能|啥时候能|时限|多快|"
            r"\bhow long\b|\bwhen will\b|\bhow many days\b|\btime limit\b"
        ),
        "time",
    ),
    (re.compile(r"哪里办|在哪|去哪|哪儿|什么地方|哪个窗口|到哪|\bwhere\b"), "where"),
    (
        re.compile(
            r"条件|能不能办|能办吗|可以办吗|符合|资格|够不够|能申请吗|"
            r"\beligib|\bqualif|\bcan i (apply|get)\b"
        ),
        "eligibility",
    ),
    (
        re.compile(
            r"流程|怎么办理|步骤|程序|怎么申请|如何办理|如何申请|手续|"
            r"\bprocess\b|\bprocedure\b|\bsteps\b|\bhow (do|can) i\b|\bhow to\b"
        ),
        "process",
    ),
)
# A concern is reported more often than asked about: 坏了多久了 is a complaint. Its topic words
# count only in a message that is a question.
_QUESTION = re.compile(
    r"[?？]|[吗呢么]\s*$|能不能|是否|要多久|多久能|几天能|什么时候能|"
    r"^(how|what|when|where|why|can|could|do|does|is|are|will|should)\b",
)

# Words a Chinese writer types in Latin letters: they say nothing about the language.
_NEUTRAL_LATIN = frozenset(
    {"ok", "okay", "hi", "td", "t", "stop", "zt", "yes", "no", "y", "n", "start", "hello"}
    | {"app", "wifi", "id"}
)


def compact(text: str) -> str:
    """The normalised text, lower-cased, without spaces or punctuation."""
    return squeeze(normalize(text))


def squeeze(normalised: str) -> str:
    """`compact` for text that is already normalised."""
    return _NOT_WORD.sub("", normalised.lower())


def spaced(normalised: str) -> str:
    """Normalised text lower-cased, with each run of spaces and punctuation one space."""
    return _NOT_WORD.sub(" ", normalised.lower()).strip()


def detect_language(normalised: str) -> str | None:
    """ "en" for a message in English, "zh" for one in Chinese, None when it does not say.

    Any Chinese character makes it Chinese. Latin letters make it English when they make up
    most of the message (digits aside) and include a word Chinese writers do not use as well
    (ok, hi, TD, a case-number prefix).
    """
    if _HAN.search(normalised):
        return "zh"
    latin_words = _LATIN_WORD.findall(normalised)
    if not any(len(w) >= 2 and w.lower() not in _NEUTRAL_LATIN for w in latin_words):
        return None
    letters = sum(len(w) for w in latin_words)
    visible = sum(1 for char in normalised if not char.isspace() and not char.isdigit())
    return "en" if letters * 5 >= visible * 3 else None


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_opt_out(text: str) -> bool:
    """Whether a message (compact) asks to stop all messages."""
    if text in OPT_OUT_WORDS:
        return True
    if len(text) > _OPT_OUT_INSIDE_MAX or text.startswith(("不", "别", "没", "未")):
        return False
    return any(word in text for word in _OPT_OUT_INSIDE)


def is_opt_in(text: str) -> bool:
    """Whether a message (compact) asks to receive messages again.

    Checked before `is_opt_out`: 取消退订 holds 退订, and the classifier reads 订阅 much like
    取消订阅.
    """
    if text in OPT_IN_WORDS:
        return True
    return len(text) <= _OPT_OUT_INSIDE_MAX and any(word in text for word in _OPT_IN_INSIDE)


def asks_for_person(text: str) -> bool:
    """Whether a message (compact) asks for a person."""
    return text in HUMAN_WORDS or any(word in text for word in _HUMAN_INSIDE)


def is_correction(text: str) -> bool:
    """Whether a reply to a receipt (compact) says the item is wrong (回复0更正, 不对)."""
    return text in CORRECTION_WORDS or text.startswith(_CORRECTION_START)


def accepts_offer(text: str) -> bool:
    """Whether a reply (compact) takes up an offer: 是, 要, 可以 … or 帮我代办, 好的帮我办一下."""
    return text in YES_WORDS or _ACCEPT.fullmatch(text) is not None


def asks_to_have_it_done(text: str) -> bool:
    """Whether a message (compact) begins by asking for it to be done: 帮我办低保, 帮我代办."""
    return _ACCEPT_START.match(text) is not None


def wants_proxy(text: str) -> bool:
    """Whether a request (compact) already asks for the proxy service: 帮我代办, 想找人代办,
    可以代办吗 — not 不用代办, 不要代办, 我自己办."""
    if asks_to_have_it_done(text):
        return True
    return "代办" in text and _NO_PROXY.search(text) is None


_NO_PROXY = re.compile(r"(?:不|别|没|无|免)(?:要|用|需要|必要|想)?(?:找人)?代办|自己办|自己去")


def read_choice(text: str) -> int | None:
    """The number a reply (compact) picks: 1, ①, 一, 第二个, two; 0 for "none"; else None."""
    match = _CHOICE.fullmatch(text)
    if match is None:
        return None
    number = match.group("n")
    if number.isdigit():
        return int(number)
    return _CHINESE_NUMERALS.get(number, _ENGLISH_NUMERALS.get(number))


def read_rating(text: str) -> int | None:
    """A survey answer (compact) on the 好差评 scale, 1 非常满意 … 5 非常不满意; None if unclear.

    Digits answer the survey's own numbering (回复1-5), so "5" and "5分" are 5, 非常不满意; stars
    count the other way (五星好评 → 1); words map to their level (很满意 → 1, 一般 → 3,
    差评 → 4). A digit and a word that disagree ("1 不满意") are unclear.
    """
    if not text or len(text) > _MAX_RATING_TEXT:
        return None
    stars = _RATING_STARS.match(text)
    if stars is not None and not _ANY_DIGIT.search(text[stars.end() :]):
        return 6 - _small_number(stars.group("n"))
    from_words = _rating_words(text)
    digit = _RATING_DIGIT.match(text)
    if digit is None:
        return from_words
    rest = text[digit.end() :]
    if not rest:
        return _small_number(digit.group("n"))
    if not digit.group("n").isdigit():  # 一般 is a word, not the digit 一
        return from_words
    if _ANY_DIGIT.search(rest):
        return None
    from_digit, from_rest = int(digit.group("n")), _rating_words(rest)
    if from_rest is not None and from_rest != from_digit:
        return None
    return from_digit


def _rating_words(text: str) -> int | None:
    return next((score for pattern, score in _RATING_WORDS if pattern.search(text)), None)


def urgent_item(compact_text: str, spaced_text: str) -> str | None:
    """The concern a danger word points to (着火, gas leak), or None when there is none."""
    for pattern, item in URGENT_PATTERNS:
        if pattern.search(compact_text) or pattern.search(spaced_text):
            return item
    return None


def question_topic(compact_text: str, spaced_text: str) -> str | None:
    """The FAQ topic a message asks about (materials, fees, time, …), or None."""
    for pattern, topic in TOPIC_PATTERNS:
        if pattern.search(compact_text) or pattern.search(spaced_text):
            return topic
    return None


def is_question(normalised: str) -> bool:
    """Whether a message is put as a question (?, 吗, 能不能, how …)."""
    return _QUESTION.search(normalised.lower().strip()) is not None


def is_bare_name(text: str) -> bool:
    """Whether a reply (compact) can be taken for a name: two to four Chinese characters that
    are no answer word and no place."""
    if text in YES_WORDS | NO_WORDS | SKIP_WORDS | CANCEL_WORDS | GREET_WORDS | THANKS_WORDS:
        return False
    if not 2 <= len(text) <= 4 or not all(_HAN.fullmatch(char) for char in text):
        return False
    return not _NOT_A_NAME.search(text)


# What a message that only says where may hold besides the place: 在, 住在, 这边, the.
_PLACE_FILLER = (
    r"(?:就|也|还|是|我|我家|家|现|目前|现在|都)*(?:住在|住|在|位于|家住|就在|是在)"
    r"|地点|位置|地址|地方|具体|是|这边|那边|这里|那里|这儿|那儿|附近|旁边|一带|那块|那一块"
    r"|的|啊|呀|呢|哦|了|嗯|哈|吧|呐|喔|噢"
    r"|its|itis|it|is|in|at|near|the|place|location|address|area|here|there|i|live|im"
    r"|from|of|names"
)
_ONLY_PLACE_FILLERS = re.compile(f"(?:{_PLACE_FILLER})*")
# What an introduction (我叫王秀英，住在渔港社区) may hold besides a name and a place.
_ONLY_INTRO_FILLERS = re.compile(
    f"(?:你好|您好|喂|我叫|我是|我姓|叫我|姓名是?|名字是?|我的名字是?|本人|村民|居民|人|"
    f"hi|hello|my|name|am|and|this|call|me|{_PLACE_FILLER})*"
)
_MAX_FILLER_CHARS = 24


def only_place_words(leftover: str) -> bool:
    """Whether what is left of a message without its places (compact) says nothing more:
    在, 就在那边, "it is in"."""
    return len(leftover) <= _MAX_FILLER_CHARS and bool(_ONLY_PLACE_FILLERS.fullmatch(leftover))


def only_introduction_words(leftover: str) -> bool:
    """Whether what is left of a message without its name and places (compact) is only the
    words of an introduction: 我叫, 住在, "my name is", "I live in"."""
    return len(leftover) <= _MAX_FILLER_CHARS and bool(_ONLY_INTRO_FILLERS.fullmatch(leftover))


def introduces_self_in_english(normalised: str) -> bool:
    """Whether an English message says the writer's name: "my name is", "I am", "this is"."""
    return _ENGLISH_INTRO.search(normalised.lower()) is not None


_ENGLISH_INTRO = re.compile(r"\b(my name is|my name's|i am|i'm|this is|call me|name:)")


def english_name(normalised: str) -> str | None:
    """A name in an English reply ("My name is Li Wei, Dongmen village"), title-cased."""
    for segment in _SEGMENT.split(normalised):
        candidate = _NAME_PREFIX.sub("", segment.strip().lower()).strip()
        candidate = _NAME_END.sub("", candidate).strip()
        if (
            _LATIN_NAME.fullmatch(candidate)
            and not _PLACE_WORD.search(candidate)
            and candidate not in YES_WORDS | NO_WORDS | SKIP_WORDS | GREET_WORDS
        ):
            return candidate.title()[:40]
    return None


_SEGMENT = re.compile(r"[,;，；、\n]|\band\b")
# Where a name stops and the place begins: "Li Wei from Dongmen".
_NAME_END = re.compile(r"\b(?:from|in|at|living|live|of)\b.*")
_NAME_PREFIX = re.compile(r"^(my name is|my name's|name|i am|i'm|im|this is|it's|call me)\b:?")
_LATIN_NAME = re.compile(r"[a-z]{2,20}( [a-z]{1,20}){0,3}")
_PLACE_WORD = re.compile(
    r"\b(village|community|town|township|street|road|grid|county|live|in|at|from|the)\b"
)
_NOT_A_NAME = re.compile(r"[村镇乡区街组号路楼吗呢吧啊了的是不我你他她在有没]")


def _small_number(text: str) -> int:
    return int(text) if text.isdigit() else _CHINESE_NUMERALS[text]
