"""The intent model: training, parsing into Rasa's shape, and the versioned model file.

A linear SVM (one-vs-rest, classes weighted by inverse frequency so that rare intents count as
much as common ones) over the TF-IDF views of `bot.nlu.features`, with a temperature fitted on
held-out folds (`bot.nlu.calibration`) so that confidences are calibrated probabilities.
Parsing is pure: no network, no database, no clock.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from bot.nlu.calibration import fit_temperature, softmax
from bot.nlu.data import Example, training_data_hash
from bot.nlu.exceptions import ModelFileError, TrainingDataError
from bot.nlu.features import (
    DEFAULT_VIEWS,
    Document,
    ViewSpec,
    Vocabulary,
    build_featurizer,
    prepare,
    usable_views,
)
from bot.nlu.gloss import EMPTY_GLOSSARY, GLOSSARY_PATH, Glossary, load_glossary

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

RANKING_SIZE = 10
FORMAT_MAGIC = b"ZHITONG-NLU\n"
FORMAT_VERSION = 2
# Format 1 files have no glossary; they load and parse as they always did.
READABLE_FORMAT_VERSIONS = frozenset({1, 2})
# Score given to an intent a fold model never saw, so it is never ranked above a seen one.
_UNSEEN_SCORE = -1e6


@dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of training, chosen by cross-validation (docs/nlu.md)."""

    views: tuple[ViewSpec, ...] = DEFAULT_VIEWS
    c: float = 1.5
    calibration_folds: int = 5
    # English → Chinese glossary for Latin-script words (bot.nlu.gloss); None: no glossary.
    glossary_path: Path | None = GLOSSARY_PATH


DEFAULT_SETTINGS = TrainingSettings()


@dataclass(frozen=True, eq=False)
class IntentModel:
    """A trained intent classifier. Build with `train`, store with `save`, read with `load_model`.

    Attributes:
        vocabulary: the fitted feature views.
        intents: intent names, in the order of the columns of `weights`.
        weights: feature weights, one row per feature column, one column per intent (float32).
        bias: one intercept per intent.
        temperature: divides the scores before the softmax (calibration).
        training_data_hash: SHA-256 of the examples the model learnt from.
        n_examples: how many usable examples that was.
        glossary: how Latin-script words were read as Chinese in training, and so in parsing.
    """

    vocabulary: Vocabulary
    intents: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    temperature: float
    training_data_hash: str
    n_examples: int
    glossary: Glossary = EMPTY_GLOSSARY

    def score(self, document: Document) -> np.ndarray:
        """Uncalibrated scores of one document, one per intent."""
        columns, values = self.vocabulary.featurize(document)
        return values @ self.weights[columns] + self.bias

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, one column per intent (see `intents`)."""
        scores = [self.score(prepare(text, self.glossary)) for text in texts]
        return softmax(np.array(scores).reshape(len(texts), len(self.intents)), self.temperature)

    def parse(self, text: str) -> dict[str, Any]:
        """Classify one message and answer in the shape of Rasa's ``/model/parse``.

        A message that is empty after normalisation (blank, emoji only) gets intent name None
        and confidence 0.0, as Rasa answers an empty message.

        Returns:
            ``{"text", "intent": {"name", "confidence"}, "intent_ranking": [...top 10],
            "entities": []}``; entities are filled by the entity extractor, not here.
        """
        document = prepare(text, self.glossary)
        if document.is_empty:
            return parse_result(text, [])
        probabilities = softmax(self.score(document), self.temperature)
        top = np.argsort(-probabilities, kind="stable")[:RANKING_SIZE]
        return parse_result(text, [(self.intents[i], float(probabilities[i])) for i in top])

    def save(self, path: Path | str) -> None:
        """Write the model to `path` atomically: a format header, then the arrays (joblib).

        The payload holds only built-in types and numpy arrays, no pickled classes, so a file
        stays readable as long as its format version is the one `load_model` reads.
        """
        header = {
            "format_version": FORMAT_VERSION,
            "sklearn_version": package_version("scikit-learn"),
            "training_data_hash": self.training_data_hash,
            "n_examples": self.n_examples,
            "glossary_hash": self.glossary.fingerprint,
            "intents": list(self.intents),
        }
        payload = {
            "views": [asdict(spec) for spec in self.vocabulary.views],
            "columns": list(self.vocabulary.columns),
            "idf": self.vocabulary.idf,
            "weights": self.weights,
            "bias": self.bias,
            "temperature": self.temperature,
            "glossary": self.glossary.to_mapping(),
        }
        buffer = io.BytesIO()
        joblib.dump(payload, buffer, compress=3)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with partial.open("wb") as file:
            file.write(FORMAT_MAGIC)
            file.write(json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
            file.write(buffer.getbuffer())
        os.replace(partial, target)


def parse_result(text: str, ranking: Sequence[tuple[str, float]]) -> dict[str, Any]:
    """Build Rasa's parse shape from a ranking sorted by confidence, best first."""
    intent = (
        {"name": ranking[0][0], "confidence": ranking[0][1]}
        if ranking
        else {"name": None, "confidence": 0.0}
    )
    return {
        "text": text,
        "intent": intent,
        "intent_ranking": [{"name": name, "confidence": conf} for name, conf in ranking],
        "entities": [],
    }


def train(
    examples: Sequence[Example], *, seed: int = 0, settings: TrainingSettings = DEFAULT_SETTINGS
) -> IntentModel:
    """Learn an intent model from (text, intent) examples.

    Examples whose text is empty after normalisation are left out. The temperature is fitted on
    scores from `settings.calibration_folds` held-out folds, then the final model is fitted on
    everything.

    Args:
        examples: (text, intent) pairs, e.g. from `load_training_data`.
        seed: seeds fold assignment and the solver; same data and seed give the same model.
        settings: hyper-parameters.

    Raises:
        TrainingDataError: fewer than two intents have a usable example.
    """
    glossary = load_glossary(settings.glossary_path) if settings.glossary_path else EMPTY_GLOSSARY
    documents, intents = [], []
    for text, intent in examples:
        document = prepare(text, glossary)
        if not document.is_empty:
            documents.append(document)
            intents.append(intent)
    names, gold = np.unique(np.array(intents, dtype=object), return_inverse=True)
    if len(names) < 2:
        raise TrainingDataError(
            f"need examples of at least two intents to train, got {len(names)} "
            f"({len(documents)} usable examples)"
        )
    heldout = _heldout_scores(documents, gold, len(names), settings, seed)
    seen = heldout[np.arange(len(gold)), gold] > _UNSEEN_SCORE
    temperature = fit_temperature(heldout[seen], gold[seen])
    featurizer, weights, bias = _fit(documents, gold, len(names), settings, seed)
    return IntentModel(
        vocabulary=Vocabulary.from_featurizer(featurizer, usable_views(settings.views, documents)),
        intents=tuple(str(name) for name in names),
        weights=weights,
        bias=bias,
        temperature=temperature,
        training_data_hash=training_data_hash(list(examples)),
        n_examples=len(documents),
        glossary=glossary,
    )


def read_header(path: Path | str) -> dict[str, Any]:
    """The JSON header of a model file, without reading its arrays.

    Raises:
        ModelFileError: as `load_model`, for a missing, foreign or unreadable header.
    """
    source = Path(path)
    try:
        with source.open("rb") as file:
            return _checked_header(source, file.readline(), file.readline())
    except OSError as exc:
        raise ModelFileError(f"{source}: cannot read model file: {exc.strerror}") from exc


def _checked_header(source: Path, magic: bytes, header_line: bytes) -> dict[str, Any]:
    """The header of a model file whose first two lines are given, if this version reads it."""
    if magic != FORMAT_MAGIC:
        raise ModelFileError(f"{source}: not a Zhitong NLU model file")
    try:
        header = json.loads(header_line)
    except ValueError as exc:
        raise ModelFileError(f"{source}: damaged model header") from exc
    version = header.get("format_version") if isinstance(header, dict) else None
    if version not in READABLE_FORMAT_VERSIONS:
        raise ModelFileError(
            f"{source}: model file format {version}, this Zhitong reads formats "
            f"{', '.join(map(str, sorted(READABLE_FORMAT_VERSIONS)))}; "
            "retrain with `zhitong nlu train`"
        )
    return dict(header)


def load_model(path: Path | str) -> IntentModel:
    """Read a model written by `IntentModel.save`, refusing files this version cannot use.

    Raises:
        ModelFileError: the file is missing, not a Zhitong NLU model, damaged, or of another
            format version (retrain with ``zhitong nlu train``).
    """
    source = Path(path)
    try:
        with source.open("rb") as file:
            magic = file.readline()
            header_line = file.readline()
            payload_bytes = file.read()
    except OSError as exc:
        raise ModelFileError(f"{source}: cannot read model file: {exc.strerror}") from exc
    header = _checked_header(source, magic, header_line)
    try:
        payload = joblib.load(io.BytesIO(payload_bytes))
        model = IntentModel(
            vocabulary=Vocabulary(
                views=tuple(ViewSpec(**spec) for spec in payload["views"]),
                columns=tuple(payload["columns"]),
                idf=payload["idf"],
            ),
            intents=tuple(header["intents"]),
            weights=payload["weights"],
            bias=payload["bias"],
            temperature=float(payload["temperature"]),
            training_data_hash=str(header["training_data_hash"]),
            n_examples=int(header["n_examples"]),
            glossary=Glossary.from_mapping(payload.get("glossary", {})),
        )
    except Exception as exc:  # any failure to rebuild means one thing: a damaged file
        raise ModelFileError(f"{source}: damaged model file ({type(exc).__name__})") from exc
    model.parse("你好")  # load jieba's and pypinyin's dictionaries now, not on the first message
    return model


def _fit(
    documents: Sequence[Document],
    gold: np.ndarray,
    n_intents: int,
    settings: TrainingSettings,
    seed: int,
) -> tuple[FeatureUnion, np.ndarray, np.ndarray]:
    """Fit featurizer and SVM; rows for intents absent from `gold` never win.

    The featurizer has the views of `settings` that `documents` give n-grams for.
    """
    # Imported here: scikit-learn is for training; a process that only parses never loads it.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    featurizer = build_featurizer(usable_views(settings.views, documents))
    features = featurizer.fit_transform(documents)
    svm = LinearSVC(
        C=settings.c, class_weight="balanced", dual=True, max_iter=10_000, random_state=seed
    )
    with warnings.catch_warnings():
        # A model that stopped at max_iter still ranks well; evaluation shows its quality.
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(features, gold)
    coef = svm.coef_.astype(np.float32)
    intercept = svm.intercept_
    if len(svm.classes_) == 2:  # sklearn keeps one row for two classes: score of the second
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    # Feature-major so that a parse reads only the rows of the n-grams it contains.
    weights = np.zeros((coef.shape[1], n_intents), dtype=np.float32)
    bias = np.full(n_intents, _UNSEEN_SCORE)
    weights[:, svm.classes_] = coef.T
    bias[svm.classes_] = intercept
    return featurizer, weights, bias


def _heldout_scores(
    documents: Sequence[Document],
    gold: np.ndarray,
    n_intents: int,
    settings: TrainingSettings,
    seed: int,
) -> np.ndarray:
    """Scores of every example from a model trained on the other folds."""
    folds = assign_folds(
        gold, settings.calibration_folds, seed, [document.chars for document in documents]
    )
    scores = np.full((len(gold), n_intents), _UNSEEN_SCORE)
    for fold in np.unique(folds):
        train_rows, test_rows = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        if len(np.unique(gold[train_rows])) < 2:
            continue
        featurizer, weights, bias = _fit(
            [documents[i] for i in train_rows.tolist()], gold[train_rows], n_intents, settings, seed
        )
        features = featurizer.transform([documents[i] for i in test_rows.tolist()])
        scores[test_rows] = features @ weights + bias
    return scores


def assign_folds(
    gold: np.ndarray, k: int, seed: int, groups: Sequence[str] | None = None
) -> np.ndarray:
    """Stratified fold numbers 0…k-1: each intent's examples are dealt round the folds.

    Unlike scikit-learn's StratifiedKFold this accepts intents with fewer than `k` examples
    (they simply miss some folds), which project data in the making has.

    Args:
        gold: the intent number of every example.
        k: number of folds.
        seed: seeds the order of the deal.
        groups: optional key of every example; examples with the same key land in the same
            fold (one deal per key), so that a message and its copy (e.g. traditional 謝謝 and
            simplified 谢谢, one text after normalisation) are never split between training and
            test.
    """
    keys: Sequence[object] = groups if groups is not None else range(len(gold))
    rng = np.random.default_rng(seed)
    folds = np.empty(len(gold), dtype=np.int64)
    fold_of: dict[object, int] = {}
    for label in np.unique(gold):
        rows = rng.permutation(np.flatnonzero(gold == label))
        start = int(rng.integers(k))
        dealt = 0
        for row in rows.tolist():
            key = keys[row]
            if key not in fold_of:
                fold_of[key] = (start + dealt) % k
                dealt += 1
            folds[row] = fold_of[key]
    return folds
