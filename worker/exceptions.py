"""Errors of background work. Only `webhooks/` maps them to HTTP status codes."""


class WorkerError(Exception):
    """Base class for errors of background work."""


class QueueUnavailableError(WorkerError):
    """The job queue (Redis) cannot be reached."""


class RasaError(WorkerError):
    """The Rasa server did not give a usable answer."""
