"""The embedded intent classifier: normalised text → intent ranking in Rasa's parse shape.

Pure: no network, no database, no clock. `train` learns from (text, intent) examples read by
`load_training_data` from Rasa 3 NLU YAML; `IntentModel.parse` answers like Rasa's
``/model/parse``; `IntentModel.save` and `load_model` keep a versioned model file.
"""

from bot.nlu.data import (
    Example,
    load_training_data,
    project_data_files,
    strip_entity_markup,
    write_rasa_yaml,
)
from bot.nlu.exceptions import ImportDataError, ModelFileError, NluError, TrainingDataError
from bot.nlu.model import IntentModel, TrainingSettings, load_model, train

__all__ = [
    "Example",
    "ImportDataError",
    "IntentModel",
    "ModelFileError",
    "NluError",
    "TrainingDataError",
    "TrainingSettings",
    "load_model",
    "load_training_data",
    "project_data_files",
    "strip_entity_markup",
    "train",
    "write_rasa_yaml",
]
