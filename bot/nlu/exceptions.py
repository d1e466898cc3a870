"""Errors raised by the intent classifier: bad training data, unusable model files."""


class NluError(Exception):
    """Base class for errors of the intent classifier."""


class TrainingDataError(NluError):
    """Training data is missing, not Rasa NLU YAML, or too small to learn from."""


class ModelFileError(NluError):
    """A model file is missing, not a Zhitong NLU model, or written by an incompatible version."""


class ImportDataError(NluError):
    """A CSV of historical work orders cannot be turned into training data."""
