"""Featurisation: a normalised message seen five ways, each turned into TF-IDF n-grams.

- **characters** — n-grams of 1–3 characters. Chinese has no spaces, and characters carry most
  of the meaning of a short message; n-grams also survive missing or extra characters.
- **words** — jieba words, unigrams and bigrams. Longer messages (a complaint of a paragraph)
  are told apart by their words more than by scattered characters.
- **syllables** — toneless pinyin of every character (pypinyin), unigrams and bigrams. Residents
  type with pinyin input methods and pick the wrong character of the right sound: 滴保 for 低保,
  债基地 for 宅基地. Both sides of such a typo share their syllable n-grams.
- **Latin words** and **Latin word pieces** — the words of a message written in English (or in
  pinyin), whole and as character 3–5-grams inside each word. The views above see English only as
  short character runs across word boundaries; whole words and word pieces let paid/pay,
  neighbour/neighbours or broke/break-in share features. A Chinese message has none of them.

Every view is marked at the start and the end of the message, so the first and last tokens (打开…,
…吗) are features of their own. Each view is weighted TF-IDF with sublinear term frequency,
l2-normalised per view, so long and short messages land on the same scale. The weights and n-gram
ranges were chosen by repeated 5-fold cross-validation on the SMP2017 training split (see
docs/nlu.md), never on its test split.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import jieba
import numpy as np
from pypinyin import Style, lazy_pinyin

from bot.nlu.gloss import EMPTY_GLOSSARY, Glossary, split_pinyin
from bot.normalize import normalize

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

# Start and end markers; normalisation removes control characters, so no message contains them.
START = "\x02"
END = "\x03"

View = Literal["chars", "words", "syllables", "latin_words", "latin_pieces"]
# A Latin-script word: letters, with inner apostrophes (don't, kid's).
_LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")

jieba.setLogLevel(logging.WARNING)


@dataclass(frozen=True)
class Document:
    """A message prepared for featurisation.

    `chars`, `words` and `syllables` carry start and end markers; `latin_words` holds the
    message's Latin-script words (none for a message in Chinese only) and `latin_pieces` the
    same words padded with a space on each side, so that word pieces can mark a word's start and
    end.
    """

    chars: str
    words: tuple[str, ...]
    syllables: tuple[str, ...]
    latin_words: tuple[str, ...] = ()
    latin_pieces: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing is left of the message after normalisation."""
        return self.chars == START + END


@dataclass(frozen=True)
class ViewSpec:
    """How one view becomes features: n-gram range, weight, and a cap on the vocabulary."""

    view: View
    low: int
    high: int
    weight: float
    max_features: int


# Chosen by cross-validation on the SMP2017 training split (docs/nlu.md); the Latin views by
# cross-validation on the project's data (SMP2017 has no Latin-script messages to speak of).
# The caps only bite on large corpora of long messages; they bound the model file and the memory
# of a loaded model.
DEFAULT_VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("chars", 1, 3, weight=1.0, max_features=300_000),
    ViewSpec("words", 1, 2, weight=0.5, max_features=200_000),
    ViewSpec("syllables", 1, 2, weight=0.6, max_features=100_000),
    ViewSpec("latin_words", 1, 1, weight=0.8, max_features=50_000),
    ViewSpec("latin_pieces", 3, 5, weight=0.8, max_features=100_000),
)


def prepare(text: str, glossary: Glossary = EMPTY_GLOSSARY) -> Document:
    """Normalise `text` and build its views (lower-cased, whitespace dropped from tokens).

    Latin-script words are also read as Chinese (`bot.nlu.gloss`): the glossary's Chinese words
    for them join the character, word and syllable views after the end marker, and words that are
    pinyin join the syllable view with their syllables. A message without Latin-script words is
    not changed by either.
    """
    clean = normalize(text).lower()
    # Dictionary words only (no HMM guessing of unknown words): as accurate in cross-validation
    # and several times faster on long messages.
    words = (word for word in jieba.lcut(clean, HMM=False) if not word.isspace())
    # Latin letters are left to the Latin views; here a Latin word speaks only through its
    # glosses and its pinyin syllables (below).
    syllables = [
        syllable
        for char in clean
        if not char.isspace() and not ("a" <= char <= "z")
        for syllable in _syllables(char)
    ]
    latin = tuple(_LATIN_WORD.findall(clean))
    glossed: tuple[str, ...] = ()
    if latin:
        glossed, unknown = glossary.gloss(latin)
        syllables += [
            *(syllable for gloss in glossed for char in gloss for syllable in _syllables(char)),
            *(syllable for word in unknown for syllable in split_pinyin(word)),
        ]
    return Document(
        chars=f"{START}{clean}{END}" + (" " + " ".join(glossed) if glossed else ""),
        words=(START, *words, END, *glossed),
        syllables=(START, *syllables, END),
        latin_words=latin,
        latin_pieces=tuple(f" {word} " for word in latin),
    )


@cache
def _syllables(char: str) -> list[str]:
    """Toneless pinyin of one character (its most common reading), the character if not Han.

    Character by character rather than by phrase: a typo has no phrase to be read in, and both
    sides of a homophone typo must get the same syllable.
    """
    return lazy_pinyin(char, style=Style.NORMAL)  # a non-Han character is kept as it is


@dataclass(frozen=True)
class NGrams:
    """Analyzer giving the n-grams of one view of a `Document` (picklable, unlike a lambda)."""

    view: View
    low: int
    high: int

    def __call__(self, document: Document) -> list[str]:
        """All n-grams of the view with `low` ≤ n ≤ `high`; word n-grams are space-joined.

        For ``latin_pieces`` the n-grams are character n-grams inside each (padded) word.
        """
        tokens = getattr(document, self.view)
        if self.view == "latin_pieces":
            return [
                word[start : start + size]
                for word in tokens
                for size in range(self.low, self.high + 1)
                for start in range(len(word) - size + 1)
            ]
        joiner = "" if self.view == "chars" else " "
        return [
            joiner.join(tokens[start : start + size])
            for size in range(self.low, self.high + 1)
            for start in range(len(tokens) - size + 1)
        ]


def usable_views(views: Sequence[ViewSpec], documents: Sequence[Document]) -> tuple[ViewSpec, ...]:
    """The views that give at least one n-gram on `documents`, in their order.

    A view with nothing to learn from (no Latin-script word in a corpus of Chinese messages) is
    left out rather than given an empty vocabulary, which scikit-learn refuses.
    """
    return tuple(
        spec
        for spec in views
        if any(NGrams(spec.view, spec.low, spec.high)(document) for document in documents)
    )


def build_featurizer(views: tuple[ViewSpec, ...] = DEFAULT_VIEWS) -> FeatureUnion:
    """An unfitted transformer from a list of `Document`s to one sparse TF-IDF matrix.

    Used while training; a fitted one is turned into a compact `Vocabulary` for parsing.
    """
    # Imported here: scikit-learn is for training; a process that only parses never loads it.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                spec.view,
                TfidfVectorizer(
                    analyzer=NGrams(spec.view, spec.low, spec.high),
                    sublinear_tf=True,
                    max_features=spec.max_features,
                    dtype=np.float32,
                ),
            )
            for spec in views
        ],
        transformer_weights={spec.view: spec.weight for spec in views},
    )


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The fitted views, reduced to what parsing needs: n-gram → column maps and IDF weights.

    Computes exactly what the fitted `build_featurizer` union computes (sublinear TF × IDF,
    l2-normalised per view, times the view's weight) for one document at a time, without
    scikit-learn's per-call validation: a parse costs a fraction of a millisecond.

    Attributes:
        views: the view specifications, in column order.
        columns: per view, its n-grams mapped to global column numbers.
        idf: the IDF weight of every global column.
    """

    views: tuple[ViewSpec, ...]
    columns: tuple[dict[str, int], ...]
    idf: np.ndarray

    @classmethod
    def from_featurizer(cls, featurizer: FeatureUnion, views: Sequence[ViewSpec]) -> Vocabulary:
        """Extract the vocabulary of a union fitted by `build_featurizer(views)`."""
        columns: list[dict[str, int]] = []
        idf: list[np.ndarray] = []
        offset = 0
        for _, vectorizer in featurizer.transformer_list:
            vocabulary = vectorizer.vocabulary_
            columns.append({gram: offset + int(col) for gram, col in vocabulary.items()})
            idf.append(np.asarray(vectorizer.idf_, dtype=np.float64))
            offset += len(vocabulary)
        return cls(tuple(views), tuple(columns), np.concatenate(idf))

    @property
    def size(self) -> int:
        """Number of feature columns."""
        return len(self.idf)

    def featurize(self, document: Document) -> tuple[np.ndarray, np.ndarray]:
        """The non-zero features of one document as (column numbers, values)."""
        all_columns: list[np.ndarray] = []
        all_values: list[np.ndarray] = []
        for spec, index in zip(self.views, self.columns, strict=True):
            counts: dict[int, int] = {}
            for gram in NGrams(spec.view, spec.low, spec.high)(document):
                column = index.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values = (np.log(values) + 1.0) * self.idf[columns]
            all_columns.append(columns)
            all_values.append(values * (spec.weight / np.linalg.norm(values)))
        if not all_columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(all_columns), np.concatenate(all_values)
