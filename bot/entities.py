"""Entities in what residents write: phone, case and ID-card numbers, places, times, names.

`extract_entities` is the bot's own entity extractor, next to the intent classifier; its output
converts to Rasa's entity dicts (`Entity.to_rasa`). Numbers are found in ASCII, full-width and
spoken digits (幺三八…) with spaces or dashes inside; each kind is validated (phone numbers by
libphonenumber, case numbers by `bot.case_numbers`, ID cards by their checksum and birth date),
so a run of digits that is none of them yields nothing. Where spans overlap, the more specific
entity wins: an ID card or a case number over a phone number, a name over a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import phonenumbers

from bot.case_numbers import parse_case_number
from bot.dates import find_times
from bot.digits import SPOKEN_DIGITS, to_ascii_digits
from bot.gazetteer import AreaGazetteer, AreaMatch
from bot.masking import id_card_checksum_ok

PHONE = "phone"
CASE_NUMBER = "case_number"
ID_CARD = "id_card"
AREA = "area"
NAME = "name"
TIME = "time"
EXTRACTOR = "zhitong"

# Most specific first: a number that checks as an ID card or a case number is not a phone.
_RANK = {ID_CARD: 0, CASE_NUMBER: 1, PHONE: 2, NAME: 3, AREA: 4, TIME: 5}


@dataclass(frozen=True)
class Entity:
    """One entity found in a message; `text` is always `message[start:end]`.

    Attributes:
        entity: phone | case_number | id_card | area | time | name.
        value: normalised value: E.164 phone, digits-only case number, ID number (X upper
            case), area id (int), ISO datetime, or the name as written.
        start: offset of the first character in the message.
        end: offset just past the last character.
        text: the matched span as written.
        confidence: 0–1; areas shared by several places split it between them.
        sensitive: personal data (phone, ID card, name) that logs must not carry.
        level: for areas, county | town | village | grid.
        grain: for times, how wide the named span is (day, hour, …); the value is its start.
        surname_only: for names, the resident gave only a surname (我姓陈).
    """

    entity: str
    value: str | int
    start: int
    end: int
    text: str
    confidence: float
    sensitive: bool = False
    level: str | None = None
    grain: str | None = None
    surname_only: bool = False

    def to_rasa(self) -> dict[str, Any]:
        """The entity as Rasa's NLU output has it, plus our extra keys."""
        entity: dict[str, Any] = {
            "entity": self.entity,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "extractor": EXTRACTOR,
            "confidence_entity": self.confidence,
            "sensitive": self.sensitive,
        }
        if self.level is not None:
            entity["level"] = self.level
        if self.grain is not None:
            entity["grain"] = self.grain
        if self.surname_only:
            entity["surname_only"] = True
        return entity


def extract_entities(
    text: str, *, now: dt.datetime, gazetteer: AreaGazetteer | None = None
) -> list[Entity]:
    """Every entity in a resident's message, in order of position.

    Args:
        text: the message as received.
        now: the current moment; times (昨天, 三天前) are read relative to it and keep its
            time zone, and ID-card birth dates must lie before it.
        gazetteer: the county's areas; without one, no area entities are found.

    Returns:
        Non-overlapping entities, except that a place name several areas share gives one area
        entity per area, on the same span.
    """
    found: list[Entity] = [*_number_entities(text, now.date()), *_name_entities(text)]
    found += [
        Entity(TIME, m.value.isoformat(), m.start, m.end, m.text, m.confidence, grain=m.grain)
        for m in find_times(text, now=now)
    ]
    if gazetteer is not None:
        found += [
            Entity(AREA, area.id, m.start, m.end, m.text, _share(m), level=area.level)
            for m in gazetteer.find(text)
            for area in m.areas
        ]
    return _without_overlaps(found)


def _share(match: AreaMatch) -> float:
    """An ambiguous place name splits its confidence between the areas it may be."""
    return round(match.confidence / len(match.areas), 3)


def parse_phone(text: str) -> str | None:
    """Read a Chinese phone number written in any form; its E.164 form, or None if invalid.

    >>> parse_phone("幺三八 零零幺三 八零零零")
    '+8613800138000'
    """
    plus = text.lstrip().startswith(("+", "＋"))
    return _valid_phone(_digits(text), plus)


def parse_id_card(text: str, *, today: dt.date | None = None) -> str | None:
    """Read a resident ID number (18 characters, or 15 for old cards); None when it is not one.

    An 18-character number must pass its ISO 7064 MOD 11-2 checksum; both must carry a real
    birth date (after 1900 and, given `today`, not after it) and a province code.

    >>> parse_id_card("11010519491231002x")
    '11010519491231002X'
    """
    number = _digits(text) + ("X" if text.rstrip()[-1:] in {"X", "x", "Ｘ", "ｘ"} else "")
    return _valid_id_card(number, today)


# --- numbers -------------------------------------------------------------------------------

_WIDE_DIGITS = "0-9０-９"
_SPOKEN = "".join(SPOKEN_DIGITS)
_SPACE = " \t\u3000\xa0"
_SEPARATOR = rf"(?:[{_SPACE}]{{1,2}}|[{_SPACE}]?[-‐‑–—－.．·/()（）][{_SPACE}]?)"
_DIGIT = f"[{_WIDE_DIGITS}{_SPOKEN}]"
# A landline has at least ten digits (0 + area code + seven), the shortest number we extract.
_NUMBER_RUN = re.compile(
    rf"(?P<plus>[+＋][{_SPACE}]?)?(?P<body>{_DIGIT}(?:{_SEPARATOR}?{_DIGIT}){{9,}})"
    r"(?P<check>[XxＸｘ](?![A-Za-z0-9]))?"
)
# Written digits stay together (a 12-digit run is not a phone number with a digit too many);
# spoken digits are single characters, so that 一 in 统一 can be left out of a number after it.
_GROUP = re.compile(rf"[{_WIDE_DIGITS}]+|[{_SPOKEN}]")
_CASE_PREFIX = re.compile(r"(?<![A-Za-z0-9０-９])[A-Za-z]{1,4}\s*[-:：#]?\s*$")
_NOT_DIGIT = re.compile(r"[^0-9]")
_MAX_NUMBER_DIGITS = 18
# Province-level codes: the first two digits of every resident ID number.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51}
    | {52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)


_CONFIDENCE_ID = 0.99
_CONFIDENCE_PHONE = 0.95
_CONFIDENCE_SPOKEN_PHONE = 0.85


@dataclass(frozen=True)
class _Group:
    """Digits inside a run of them: written digits together, a spoken digit on its own."""

    start: int
    end: int
    digits: str


def _number_entities(text: str, today: dt.date) -> Iterator[Entity]:
    """Phone, case and ID-card numbers: each run of digits split into the numbers it holds."""
    for run in _NUMBER_RUN.finditer(text):
        offset = run.start("body")
        groups = [
            _Group(offset + g.start(), offset + g.end(), to_ascii_digits(g.group(0)))
            for g in _GROUP.finditer(run.group("body"))
        ]
        first = 0
        while first < len(groups):
            found = _longest_number(text, run, groups, first, today)
            if found is None:
                first += 1
                continue
            entity, last = found
            yield entity
            first = last + 1


def _longest_number(
    text: str, run: re.Match[str], groups: list[_Group], first: int, today: dt.date
) -> tuple[Entity, int] | None:
    """The longest number that starts at group `first` and the index of its last group.

    Of two readings of the same digits, an ID card beats a case number beats a phone number.
    """
    best: tuple[Entity, int] | None = None
    digits = ""
    plus = run.group("plus") is not None and first == 0
    start = run.start() if plus else groups[first].start
    for last in range(first, len(groups)):
        digits += groups[last].digits
        if len(digits) > _MAX_NUMBER_DIGITS:
            break
        end = groups[last].end
        with_check = run.group("check") is not None and last == len(groups) - 1
        entity = _read_number(text, digits, (start, end), today, plus=plus, check=with_check)
        if entity is not None:
            spoken = any(text[g.start] in SPOKEN_DIGITS for g in groups[first : last + 1])
            if entity.entity == PHONE and spoken:
                entity = replace(entity, confidence=_CONFIDENCE_SPOKEN_PHONE)
            best = entity, last
    return best


def _read_number(
    text: str, digits: str, span: tuple[int, int], today: dt.date, *, plus: bool, check: bool
) -> Entity | None:
    """The number `digits` (at `span` in `text`) is, if any; `check`: an X follows the span."""
    start, end = span
    if check and len(digits) == 17 and (number := _valid_id_card(digits + "X", today)):
        return _entity(text, ID_CARD, number, start, end + 1, _CONFIDENCE_ID, sensitive=True)
    if (number := _valid_id_card(digits, today)) is not None:
        return _entity(text, ID_CARD, number, start, end, _CONFIDENCE_ID, sensitive=True)
    if not plus and (case := parse_case_number(digits)) is not None:
        return _entity(text, CASE_NUMBER, case, _case_start(text, start, end), end, 0.95)
    if (phone := _valid_phone(digits, plus)) is not None:
        if start > 0 and text[start - 1] in "(（" and any(c in ")）" for c in text[start:end]):
            start -= 1  # (0591) 2860 0000
        return _entity(text, PHONE, phone, start, end, _CONFIDENCE_PHONE, sensitive=True)
    return None


def _entity(
    text: str,
    kind: str,
    value: str,
    start: int,
    end: int,
    confidence: float,
    *,
    sensitive: bool = False,
) -> Entity:
    return Entity(kind, value, start, end, text[start:end], confidence, sensitive)


def _case_start(text: str, start: int, end: int) -> int:
    """Take the deployment's letter prefix (ZT-) into the span of a case number."""
    prefix = _CASE_PREFIX.search(text, max(0, start - 8), start)
    if prefix is None or parse_case_number(text[prefix.start() : end]) is None:
        return start
    return prefix.start()


def _digits(text: str) -> str:
    return _NOT_DIGIT.sub("", to_ascii_digits(text))


def _valid_phone(digits: str, international: bool) -> str | None:
    """E.164 form of a valid number: Chinese unless written with + or 00."""
    if not _may_be_phone(digits, international):
        return None
    try:
        number = phonenumbers.parse(("+" if international else "") + digits, "CN")
    except phonenumbers.NumberParseException:
        return None
    foreign = international or (digits.startswith("00") and not digits.startswith("0086"))
    if not phonenumbers.is_valid_number(number):
        return None
    if not foreign and phonenumbers.region_code_for_number(number) != "CN":
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _may_be_phone(digits: str, international: bool) -> bool:
    """A cheap look at the shape before asking libphonenumber (long spoken runs try many)."""
    length = len(digits)
    if international or digits.startswith("00"):
        return 8 <= length <= 17
    if digits.startswith("1"):
        return length == 11
    if digits.startswith("0"):
        return 10 <= length <= 12
    if digits.startswith("86"):
        return length == 13
    return digits[:1] in {"4", "8"} and length == 10  # 400 and 800 service numbers


def _valid_id_card(number: str, today: dt.date | None) -> str | None:
    """The ID number if it has a province code, a real birth date and (18) a valid checksum."""
    if len(number) == 18:
        if not id_card_checksum_ok(number):
            return None
        birth = number[6:14]
    elif len(number) == 15 and number.isdigit():
        birth = "19" + number[6:12]
    else:
        return None
    if int(number[:2]) not in _PROVINCES:
        return None
    try:
        born = dt.datetime.strptime(birth, "%Y%m%d").date()
    except ValueError:
        return None
    if born.year < 1900 or (today is not None and born > today):
        return None
    return number.upper()


# --- names ---------------------------------------------------------------------------------

# About 150 common surnames (language data, like a stop-word list), leaving out those that are
# everyday words after 我是 (和, 明, 时, 路, 车, 房, 农, 党, 文, 关, 安, 全, 成, 万, 常 …).
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱严"
    "覃武戴莫孔汤温康施牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿焦俞柳祝柯纪梅童凌毕季裴霍涂"
    "盛翁冉骆蓝游辛靳管柴鲍喻祁蒲滕屈饶牟艾尤阳穆卓缪简项芦麦褚娄窦戚岑宫卜冷晏席卫柏瞿桂佟臧闵"
    "苟邬卞姬仇栾隋刁巫寇桑郎甄丛仲虞敖巩佘池苑迟邝洪"
)
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯",
    "长孙", "宇文", "司徒", "端木",
)  # fmt: skip
# Words that start with a surname but are no one's name: 我是高中生, 我是江西人.
_NOT_NAMES = frozenset({
    "高中", "高龄", "高考", "江西", "江苏", "方便", "方面", "马上", "石头", "白天", "金额", "余额",
    "周末", "周边", "孙子", "许多", "何时", "黄色", "林业", "温州", "苏州", "武汉", "贵州", "柳州",
})  # fmt: skip
# Never part of a name: 我叫张三，…, 我是李四的….
_NOT_IN_NAME = frozenset("的是在了我你他她吗呢吧啊呀想要，。、！？；：,.!?;: \t\n")
# These end a name of three characters but may be its second (张家辉, 李来福): 我叫李四来问.
_ENDS_NAME = frozenset(
    "家来住找问和跟去有说打请从给就也都还已向对把被这那今昨村镇乡县市省区街路组人"
)
# After 我是 + name, these say the "name" was a place or an owner: 我是黄石村的, 我是张三的儿子.
_NOT_AFTER_NAME = frozenset("的村镇乡县市省区街路组人家")
_TITLES = (
    "先生", "女士", "小姐", "老师", "师傅", "阿姨", "大爷", "大妈", "大姐", "大哥", "书记",
    "主任", "村长", "医生", "经理", "同志", "老板", "奶奶", "爷爷", "叔叔",
)  # fmt: skip
_NAME_TRIGGER = re.compile(
    r"我的名字(?:叫|是)|我的姓名是|我名叫|名字(?:叫|是)|姓名(?:是|[:：]\s*)?|我叫|本人(?:叫|是)?"
    r"|(?P<is>我是)|(?P<surname>我姓|本人姓)"
)
_MAX_PREFIX = 15  # 我是东门社区的李四: how far to look for the 的 before the name


def _name_entities(text: str) -> Iterator[Entity]:
    """The resident's own name where they introduce themself."""
    for trigger in _NAME_TRIGGER.finditer(text):
        position = trigger.end()
        if trigger.group("surname") is not None:
            surname = _surname_at(text, position)
            if surname:
                end = position + len(surname)
                yield Entity(
                    NAME, surname, position, end, surname, 0.85, sensitive=True, surname_only=True
                )
            continue
        confidence = 0.75 if trigger.group("is") is not None else 0.9
        strict = trigger.group("is") is not None or trigger.group(0) == "本人是"
        for start in _name_starts(text, position, allow_prefix=strict):
            entity = _name_at(text, start, confidence, strict=strict)
            if entity is not None:
                yield entity
                break


def _name_starts(text: str, position: int, *, allow_prefix: bool) -> list[int]:
    """Where the name may start: right after 我是, or after the 的 of 我是东门社区的."""
    starts = []
    if allow_prefix:
        for offset in range(position, min(len(text), position + _MAX_PREFIX)):
            if text[offset] in "，。！？,.!?\n":
                break
            if text[offset] == "的":
                starts.append(offset + 1)
                break
    return [*starts, position]


def _name_at(text: str, start: int, confidence: float, *, strict: bool) -> Entity | None:
    """A plausible name starting at `start`: a surname and one or two more characters."""
    surname = _surname_at(text, start)
    if not surname:
        return None
    given_start = start + len(surname)
    if any(text.startswith(title, given_start) for title in _TITLES):
        end = given_start  # 王师傅: only the surname is known
        return Entity(
            NAME, surname, start, end, surname, confidence - 0.15, sensitive=True, surname_only=True
        )
    if given_start >= len(text) or not _is_name_char(text[given_start]):
        return None
    end = given_start + 1
    if end < len(text) and _is_name_char(text[end]) and text[end] not in _ENDS_NAME:
        end += 1
    name = text[start:end]
    if name[:2] in _NOT_NAMES:
        return None
    if strict and end < len(text) and text[end] in _NOT_AFTER_NAME:
        return None
    return Entity(NAME, name, start, end, name, confidence, sensitive=True)


def _surname_at(text: str, position: int) -> str:
    for compound in _COMPOUND_SURNAMES:
        if text.startswith(compound, position):
            return compound
    if position < len(text) and text[position] in _SURNAMES:
        return text[position]
    return ""


def _is_name_char(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" and char not in _NOT_IN_NAME


# --- overlaps ------------------------------------------------------------------------------


def _without_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the most specific entity where spans overlap; same-span area candidates all stay."""
    ranked = sorted(entities, key=lambda e: (_RANK[e.entity], -(e.end - e.start), e.start))
    owner: dict[int, tuple[str, int, int]] = {}  # character offset → span that holds it
    kept: list[Entity] = []
    for entity in ranked:
        span = (entity.entity, entity.start, entity.end)
        if all(owner.get(i, span) == span for i in range(entity.start, entity.end)):
            kept.append(entity)
            owner.update(dict.fromkeys(range(entity.start, entity.end), span))
    return sorted(kept, key=lambda e: (e.start, e.end, _RANK[e.entity]))
