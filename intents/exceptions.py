"""Errors raised while loading or validating the data in `intents/`."""


class IntentsError(Exception):
    """Base class for data errors in `intents/`."""


class CatalogError(IntentsError):
    """The service catalog is malformed or disagrees with the taxonomy."""


class TaxonomyError(IntentsError):
    """The taxonomy file is malformed."""


class CalendarDataError(IntentsError):
    """The county holiday data file is malformed."""
