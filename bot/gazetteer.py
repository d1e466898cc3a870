"""The county's places, for finding towns, villages and grids named in what residents write.

The shell loads the areas from the database and passes them in as plain `AreaRow` values; no
place name is written in code. Residents drop suffixes (东门 for 东门社区, 东澳 for 东澳镇), mistype
a character, or get a homophone from their input method or from speech recognition (青溪 for
清溪), and two villages in different towns may share a name — the town said before it decides
(城关镇东门社区).

Bare two-character names are the riskiest: 东门 is a place but also part of 东门口, 城东门. They
match only exactly, and only where a word can end (see `_BEFORE_BARE`, `_AFTER_BARE`).

Residents writing English spell places in pinyin (Dongmen, Dong Men, Yugang community, Heping
town, Hepingzhen): the names' toneless pinyin is indexed too and matched on whole Latin words,
with an English or pinyin suffix word narrowing the level. `romanize` gives a name back in that
form (东门社区 → Dongmen Community) for English replies.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from pypinyin import Style, lazy_pinyin, pinyin

from bot.dates import read_small_number
from bot.digits import to_ascii_digits

# Area levels, as `cases.models.directory.AreaLevel` spells them, highest first.
LEVELS = ("county", "town", "village", "grid")
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}

# Suffixes a place name may carry, longest first within a level, and the level each implies.
_SUFFIX_LEVELS: dict[str, str] = {
    "街道办事处": "town",
    "街道办": "town",
    "街道": "town",
    "镇": "town",
    "乡": "town",
    "社区居民委员会": "village",
    "社区居委会": "village",
    "村民委员会": "village",
    "居民委员会": "village",
    "村委会": "village",
    "居委会": "village",
    "社区": "village",
    "村": "village",
    "县": "county",
}
_SUFFIXES = sorted(_SUFFIX_LEVELS, key=len, reverse=True)
# 第三网格 → 第3网格 after `to_ascii_digits`; 十 stays (第十2网格 is the twelfth).
_GRID_NUMBER = r"第?(?P<number>[0-9十]{1,3})号?网格"
_GRID_SUFFIX = re.compile(_GRID_NUMBER + "$")
_GRID_AFTER = re.compile(_GRID_NUMBER)
_TEXT_SUFFIX = re.compile(
    "(?:" + _GRID_NUMBER + "|网格|" + "|".join(map(re.escape, _SUFFIXES)) + ")"
)

# A bare two-character name counts only between these and the like (or non-Han characters):
# 在东门, 住东门那边, 城关镇东门 — not 东门口 or 城东门.
_BEFORE_BARE = frozenset("在去到是住从我的来回于和跟与及、往离近至找")
# Right after a place's suffix (城关镇东门路灯), the bare name is read whatever follows it.
_AFTER_PLACE = frozenset("镇乡村区道格县")
_AFTER_BARE = frozenset("的这那有了啊呢吗吧呀里边一附旁前后和与及、也都")

_MIN_FUZZY_CORE = 3  # one wrong character is tolerated in names of three or more characters
_MIN_BARE_FUZZY_CORE = 4  # ... and without a suffix written after it, of four or more
_MAX_READINGS = 16  # heteronym combinations tried per window (清溪 reads qing xi or qing qi)

# Pinyin spellings: whole Latin words, joined across spaces, hyphens and apostrophes (Dong'ao).
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_PINYIN_JOINERS = frozenset(" -'’")
_MAX_PINYIN_WORDS = 6
_MIN_BARE_PINYIN = 5  # a lower-case bare spelling shorter than this could be an English word
_BARE_PINYIN_CONFIDENCE = 0.8  # no level word after it: Dongmen rather than Dongmen village
# Words after a pinyin name that say its level, in English or pinyin.
_LATIN_SUFFIX_LEVELS: dict[str, str] = {
    "town": "town",
    "township": "town",
    "subdistrict": "town",
    "zhen": "town",
    "xiang": "town",
    "jiedao": "town",
    "village": "village",
    "community": "village",
    "neighbourhood": "village",
    "neighborhood": "village",
    "cun": "village",
    "shequ": "village",
    "county": "county",
    "xian": "county",
    "grid": "grid",
    "wangge": "grid",
}
# Pinyin suffixes written onto the name: Hepingzhen, Dongmencun.
_ATTACHED_SUFFIXES = ("zhen", "xiang", "jiedao", "cun", "shequ", "xian")
# English words for the suffixes of names, for `romanize`.
_SUFFIX_WORDS: dict[str, str] = {
    "街道办事处": "Subdistrict",
    "街道办": "Subdistrict",
    "街道": "Subdistrict",
    "镇": "Town",
    "乡": "Township",
    "社区居民委员会": "Community",
    "社区居委会": "Community",
    "村民委员会": "Village",
    "居民委员会": "Community",
    "村委会": "Village",
    "居委会": "Community",
    "社区": "Community",
    "村": "Village",
    "县": "County",
}
MAX_CANDIDATES = 3  # a name shared by more areas than this is too vague to report


class MatchKind(enum.StrEnum):
    """How a mention was matched to an area's name, from surest to least sure."""

    EXACT = "exact"  # the full name: 东门社区
    STEM = "stem"  # the name without its suffix, or with another one: 东门, 东门居委会
    HOMOPHONE = "homophone"  # same pinyin: 青溪村 for 清溪村
    FUZZY = "fuzzy"  # one character wrong: 清水弯村 for 清水湾村
    PINYIN = "pinyin"  # written in pinyin, as English writers do: Dongmen, Heping town


_CONFIDENCE = {
    MatchKind.EXACT: 0.95,
    MatchKind.STEM: 0.9,
    MatchKind.HOMOPHONE: 0.75,
    MatchKind.FUZZY: 0.7,
    MatchKind.PINYIN: 0.85,
}
_BARE_PENALTY = 0.05  # no suffix written: 东门 rather than 东门社区


@dataclass(frozen=True)
class AreaRow:
    """One area as the shell loads it: the gazetteer needs nothing more."""

    id: int
    name: str
    level: str  # county | town | village | grid
    parent_id: int | None = None


@dataclass(frozen=True)
class AreaMatch:
    """A place named in text and the areas it may be, the likeliest first."""

    start: int
    end: int
    text: str
    areas: tuple[AreaRow, ...]
    confidence: float
    kind: MatchKind

    @property
    def ambiguous(self) -> bool:
        """True when the text does not tell which of several areas is meant."""
        return len(self.areas) > 1


@dataclass(frozen=True)
class _Name:
    """An indexed name: the area and whether a suffix was stripped to get the key."""

    area: AreaRow
    stripped: bool


class AreaGazetteer:
    """Find the county's areas named in free text.

    >>> town, village = AreaRow(1, "城关镇", "town"), AreaRow(2, "东门社区", "village", 1)
    >>> [(m.text, m.areas[0].id) for m in AreaGazetteer([town, village]).find("住城关镇东门社区")]
    [('城关镇东门社区', 2)]
    """

    def __init__(self, rows: Iterable[AreaRow]) -> None:
        """Index the areas' names, stems (without suffix), sounds and one-typo variants.

        Args:
            rows: every area of the county, from the database; parents need not come first.
        """
        self._rows: dict[int, AreaRow] = {}
        self._full: dict[str, list[AreaRow]] = defaultdict(list)
        self._cores: dict[str, list[_Name]] = defaultdict(list)
        self._grids: dict[tuple[int, int], AreaRow] = {}
        for row in rows:
            name = to_ascii_digits(row.name.strip())
            if len(name) < 2 or row.id in self._rows:
                continue
            self._rows[row.id] = row
            self._full[name].append(row)
            core, stripped = _strip_suffix(name)
            if core is not None and len(core) >= 2:
                self._cores[core].append(_Name(row, stripped))
            grid = _GRID_SUFFIX.search(name)
            number = read_small_number(grid.group("number")) if grid else None
            if row.level == "grid" and number is not None and row.parent_id is not None:
                self._grids[(row.parent_id, number)] = row
        self._lengths = sorted({len(k) for k in [*self._full, *self._cores]}, reverse=True)
        self._wildcards: dict[str, set[str]] = defaultdict(set)
        self._sounds: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self._sound_heads: set[tuple[str, str]] = set()
        for core in self._cores:
            if len(core) >= _MIN_FUZZY_CORE:
                for key in _wildcard_keys(core):
                    self._wildcards[key].add(core)
            if _is_han(core):
                for sound in _sounds(core):
                    self._sounds[sound].add(core)
                    self._sound_heads.add((sound[0], sound[1]))
        self._spellings: dict[str, list[tuple[str, frozenset[int]]]] = defaultdict(list)
        for core in self._cores:
            if _is_han(core):
                for spelling, breaks in _spellings(core):
                    self._spellings[spelling].append((core, breaks))
        self._fuzzy_lengths = sorted({len(c) for c in self._cores if len(c) >= _MIN_FUZZY_CORE})
        self._sound_lengths = sorted({len(c) for c in self._cores if _is_han(c)})

    def get(self, area_id: int) -> AreaRow | None:
        """The area with this id, if the gazetteer knows it."""
        return self._rows.get(area_id)

    def ancestors(self, area_id: int) -> list[AreaRow]:
        """The areas above this one, nearest first (village → town → county)."""
        found: list[AreaRow] = []
        row = self._rows.get(area_id)
        while row is not None and row.parent_id is not None:
            row = self._rows.get(row.parent_id)
            if row is None or row in found:
                break
            found.append(row)
        return found

    def find(self, text: str) -> list[AreaMatch]:
        """Every area named in `text`, in order, without overlaps.

        A mention of a town right before one of its villages (城关镇东门社区) becomes one match of
        the village. A mention that several areas share keeps them all (likeliest first) unless
        another area named in the text is above exactly some of them.

        Args:
            text: free text from a resident.

        Returns:
            The matches; `AreaMatch.areas` has at most `MAX_CANDIDATES` areas.
        """
        normalised = to_ascii_digits(text)
        candidates = sorted(
            self._candidates(text, normalised),
            key=lambda m: (-m.confidence, -(m.end - m.start), m.start),
        )
        chosen: list[AreaMatch] = []
        taken = [False] * len(text)
        for match in candidates:
            if not any(taken[match.start : match.end]):
                chosen.append(match)
                taken[match.start : match.end] = [True] * (match.end - match.start)
        chosen.sort(key=lambda m: m.start)
        merged = [self._extend_to_grid(text, normalised, m) for m in chosen]
        merged = self._merge_parents(text, merged)
        resolved = [self._prefer(m, merged) for m in merged]
        return [m for m in resolved if 0 < len(m.areas) <= MAX_CANDIDATES]

    def _candidates(self, text: str, normalised: str) -> Iterator[AreaMatch]:
        """Every way a stretch of the text can be read as an area name, overlaps included."""
        yield from self._pinyin_matches(text)
        readings = [_char_sounds(c) for c in text]
        for start in range(len(text)):
            for length in self._lengths:
                end = start + length
                if end > len(text):
                    continue
                window = normalised[start:end]
                if window in self._full:
                    yield self._match(text, start, end, self._full[window], MatchKind.EXACT)
                if window in self._cores:
                    yield from self._core_match(text, normalised, start, end, [window])
            yield from self._fuzzy_matches(text, normalised, start)
            yield from self._homophone_matches(text, normalised, readings, start)

    def _core_match(
        self,
        text: str,
        normalised: str,
        start: int,
        end: int,
        cores: list[str],
        kind: MatchKind = MatchKind.STEM,
    ) -> Iterator[AreaMatch]:
        """A name without its suffix, followed by a suffix in the text or standing bare."""
        names = [name for core in cores for name in self._cores[core]]
        suffix = _TEXT_SUFFIX.match(normalised, end)
        if suffix is not None:
            areas = self._apply_suffix([n.area for n in names], suffix)
            if areas:
                yield self._match(text, start, suffix.end(), areas, kind)
            return
        length = end - start
        if kind is MatchKind.STEM and not any(n.stripped for n in names):
            return  # the full name itself: matched as EXACT already
        if length == 2 and (kind is not MatchKind.STEM or not _bare_word(text, start, end)):
            return
        if kind is MatchKind.FUZZY and length < _MIN_BARE_FUZZY_CORE:
            return
        if kind is MatchKind.HOMOPHONE and length < _MIN_FUZZY_CORE:
            return
        match = self._match(text, start, end, [n.area for n in names], kind)
        yield replace(match, confidence=match.confidence - _BARE_PENALTY)

    def _fuzzy_matches(self, text: str, normalised: str, start: int) -> Iterator[AreaMatch]:
        """Names of three or more characters with exactly one character wrong."""
        for length in self._fuzzy_lengths:
            end = start + length
            window = normalised[start:end]
            if end > len(text) or window in self._cores or not _is_han(window):
                continue
            cores = sorted({c for key in _wildcard_keys(window) for c in self._wildcards[key]})
            if cores:
                yield from self._core_match(text, normalised, start, end, cores, MatchKind.FUZZY)

    def _homophone_matches(
        self, text: str, normalised: str, readings: list[tuple[str, ...]], start: int
    ) -> Iterator[AreaMatch]:
        """Names that sound the same as the text (toneless pinyin, any reading of a character)."""
        if start + 1 >= len(text):
            return
        heads = itertools.product(readings[start], readings[start + 1])
        if not any(head in self._sound_heads for head in heads):
            return
        for length in self._sound_lengths:
            end = start + length
            window = normalised[start:end]
            if end > len(text) or not _is_han(text[start:end]):
                continue
            combinations = itertools.islice(itertools.product(*readings[start:end]), _MAX_READINGS)
            sounds_like = {c for sound in combinations for c in self._sounds.get(sound, ())}
            cores = sorted(sounds_like - {window})  # the same characters are a STEM match
            if cores:
                yield from self._core_match(
                    text, normalised, start, end, cores, MatchKind.HOMOPHONE
                )

    def _pinyin_matches(self, text: str) -> Iterator[AreaMatch]:
        """Names spelt in pinyin on whole Latin words: Dongmen, Dong Men, Heping town."""
        if not self._spellings:
            return
        latin = list(_LATIN_WORD.finditer(text))
        for first in range(len(latin)):
            joined, breaks = "", []
            for last in range(first, min(first + _MAX_PINYIN_WORDS, len(latin))):
                word = latin[last]
                if last > first:
                    gap = text[latin[last - 1].end() : word.start()]
                    if not gap or any(char not in _PINYIN_JOINERS for char in gap):
                        break
                    breaks.append(len(joined))
                joined += word.group(0).lower()
                yield from self._spelt(text, latin, first, last, joined, frozenset(breaks))

    def _spelt(
        self,
        text: str,
        latin: list[re.Match[str]],
        first: int,
        last: int,
        joined: str,
        breaks: frozenset[int],
    ) -> Iterator[AreaMatch]:
        """The areas the words latin[first:last+1] (joined, with their word breaks) spell."""
        start, end = latin[first].start(), latin[last].end()
        level: str | None = None
        cores = self._spelt_cores(joined, breaks)
        if not cores:  # a pinyin suffix written onto the name: Hepingzhen
            for suffix in _ATTACHED_SUFFIXES:
                stem = joined[: -len(suffix)]
                if joined.endswith(suffix) and stem and all(b <= len(stem) for b in breaks):
                    cores = self._spelt_cores(stem, frozenset(b for b in breaks if b < len(stem)))
                    if cores:
                        level = _LATIN_SUFFIX_LEVELS[suffix]
                        break
        if not cores:
            return
        if level is None and last + 1 < len(latin):
            following = latin[last + 1]
            gap = text[end : following.start()]
            word = following.group(0).lower()
            if word in _LATIN_SUFFIX_LEVELS and gap and set(gap) <= _PINYIN_JOINERS:
                level, end = _LATIN_SUFFIX_LEVELS[word], following.end()
        areas = [name.area for core in cores for name in self._cores[core]]
        if level is not None:
            areas = [a for a in areas if a.level == level]
        elif len(joined) < _MIN_BARE_PINYIN and not text[start].isupper():
            return  # a short lower-case word: more likely English than a place
        if areas:
            confidence = None if level is not None else _BARE_PINYIN_CONFIDENCE
            yield self._match(text, start, end, areas, MatchKind.PINYIN, confidence)

    def _spelt_cores(self, spelling: str, breaks: frozenset[int]) -> list[str]:
        """The names with this pinyin spelling whose syllables the word breaks respect."""
        return sorted({core for core, ends in self._spellings.get(spelling, ()) if breaks <= ends})

    def _apply_suffix(self, areas: list[AreaRow], suffix: re.Match[str]) -> list[AreaRow]:
        """Keep the areas the written suffix fits: 东澳镇 is the town, 东澳村 the village.

        A grid number (竹坑第一网格) leads from a village to its grid.
        """
        number_text = suffix.group("number")
        if number_text is not None:
            number = read_small_number(number_text)
            if number is None:
                return []
            grids = [self._grids.get((a.id, number)) for a in areas]
            return [g for g in grids if g is not None]
        level = "grid" if suffix.group(0) == "网格" else _SUFFIX_LEVELS[suffix.group(0)]
        return [a for a in areas if a.level == level]

    def _extend_to_grid(self, text: str, normalised: str, match: AreaMatch) -> AreaMatch:
        """竹坑村 followed by 二网格 or 第二网格 is that village's grid."""
        grid = _GRID_AFTER.match(normalised, match.end)
        number = read_small_number(grid.group("number")) if grid else None
        if grid is None or number is None:
            return match
        grids = [self._grids.get((a.id, number)) for a in match.areas]
        found = [g for g in grids if g is not None]
        if not found:
            return match
        return self._match(text, match.start, grid.end(), found, match.kind, match.confidence)

    def _merge_parents(self, text: str, matches: list[AreaMatch]) -> list[AreaMatch]:
        """Join a mention of an area with the mention right after it of an area inside it."""
        merged: list[AreaMatch] = []
        for match in matches:
            previous = merged[-1] if merged else None
            if previous is not None and previous.end == match.start:
                above = {a.id for a in previous.areas}
                inside = [a for a in match.areas if above & self._ancestor_ids(a.id)]
                if inside:
                    confidence = max(previous.confidence, match.confidence)
                    merged[-1] = self._match(
                        text, previous.start, match.end, inside, match.kind, confidence
                    )
                    continue
            merged.append(match)
        return merged

    def _prefer(self, match: AreaMatch, others: list[AreaMatch]) -> AreaMatch:
        """Narrow an ambiguous match by the other areas named, then by level for bare names."""
        if not match.ambiguous:
            return match
        named = {a.id for m in others if m is not match and not m.ambiguous for a in m.areas}
        areas = [a for a in match.areas if named & self._ancestor_ids(a.id)] or list(match.areas)
        if len(areas) > 1:
            # 东澳 names the town 东澳镇 before the village 东澳村 in it.
            best = min(_LEVEL_RANK.get(a.level, len(LEVELS)) for a in areas)
            areas = [a for a in areas if _LEVEL_RANK.get(a.level, len(LEVELS)) == best]
        return replace(match, areas=tuple(areas))

    def _ancestor_ids(self, area_id: int) -> set[int]:
        return {a.id for a in self.ancestors(area_id)}

    def _match(
        self,
        text: str,
        start: int,
        end: int,
        areas: Iterable[AreaRow],
        kind: MatchKind,
        confidence: float | None = None,
    ) -> AreaMatch:
        unique = tuple(sorted(set(areas), key=lambda a: (_LEVEL_RANK.get(a.level, 9), a.id)))
        return AreaMatch(start, end, text[start:end], unique, confidence or _CONFIDENCE[kind], kind)


def romanize(name: str) -> str:
    """An area's name in pinyin with its suffix in English, for English replies (GSM-7).

    >>> romanize("东门社区"), romanize("和平镇"), romanize("竹坑村第一网格")
    ('Dongmen Community', 'Heping Town', 'Zhukeng Village Grid 1')
    """
    name = to_ascii_digits(name.strip())
    grid = _GRID_SUFFIX.search(name)
    if grid is not None:
        number = read_small_number(grid.group("number"))
        village = romanize(name[: grid.start()]) if grid.start() else ""
        label = f"Grid {number}" if number is not None else "Grid"
        return f"{village} {label}".strip()
    if name.endswith("网格") and len(name) > 2:
        return f"{_spell(name[:-2])} Grid"
    for suffix in sorted(_SUFFIX_WORDS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{_spell(name[: -len(suffix)])} {_SUFFIX_WORDS[suffix]}"
    return _spell(name)


def _spell(text: str) -> str:
    """Han characters as one capitalised pinyin word (东门 → Dongmen); other text kept."""
    words = lazy_pinyin(text, style=Style.NORMAL, v_to_u=True, errors=lambda chars: f" {chars} ")
    joined = "".join(words)
    return " ".join(part[:1].upper() + part[1:] for part in joined.split())


def _spellings(core: str) -> list[tuple[str, frozenset[int]]]:
    """How a name may be spelt in pinyin (default reading; ü as v or u) and where its
    syllables end, so that Dong Men matches 东门 but Don Gmen does not."""
    syllables = [s.replace("ü", "v") for s in lazy_pinyin(core, style=Style.NORMAL)]
    found = []
    for variant in {tuple(syllables), tuple(s.replace("v", "u") for s in syllables)}:
        ends = frozenset(itertools.accumulate(len(s) for s in variant))
        found.append(("".join(variant), ends))
    return found


def _strip_suffix(name: str) -> tuple[str | None, bool]:
    """The name without its suffix; None for grids numbered after their village (第N网格).

    Grids called 竹坑村第一网格 are found as their village followed by a grid number instead.
    """
    if _GRID_SUFFIX.search(name):
        return None, True
    if name.endswith("网格"):
        return name[: -len("网格")], True
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], True
    return name, False


def _bare_word(text: str, start: int, end: int) -> bool:
    """Whether a bare two-character name stands as a word here (在东门 yes, 东门口 no)."""
    if start > 0 and text[start - 1] in _AFTER_PLACE:
        return True
    before_ok = start == 0 or not _is_han(text[start - 1]) or text[start - 1] in _BEFORE_BARE
    after_ok = end == len(text) or not _is_han(text[end]) or text[end] in _AFTER_BARE
    return before_ok and after_ok


def _is_han(text: str) -> bool:
    return bool(text) and all("\u4e00" <= c <= "\u9fff" for c in text)


def _wildcard_keys(word: str) -> list[str]:
    """The word with each character in turn replaced by a wildcard."""
    return [word[:i] + "\0" + word[i + 1 :] for i in range(len(word))]


@functools.lru_cache(maxsize=8192)
def _char_sounds(char: str) -> tuple[str, ...]:
    """Every toneless pinyin reading of a Han character; () for anything else."""
    if not _is_han(char):
        return ()
    return tuple(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def _sounds(word: str) -> list[tuple[str, ...]]:
    """The ways a word may sound, one tuple of syllables per combination of readings."""
    return list(
        itertools.islice(itertools.product(*(_char_sounds(c) for c in word)), _MAX_READINGS)
    )
