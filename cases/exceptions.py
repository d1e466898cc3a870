"""Errors of the case domain. Only `webhooks/` maps them to HTTP status codes."""


class CasesError(Exception):
    """Base class for errors of the case domain."""


class ConfigurationError(CasesError):
    """A setting has a bad value; the message names the environment variable."""


class TransitionError(CasesError):
    """An action that the lifecycle does not allow from the case's current status."""


class ActionRefusedError(CasesError):
    """An allowed action whose own rule refuses it (a return too late, an extension too long)."""


class RoutingError(CasesError):
    """No unit can be found for a case, or a case cannot go further up."""


class NotFoundError(CasesError):
    """A case, area, department or agent that does not exist."""


class DemoDataError(CasesError):
    """The demo county file is malformed."""


class AppendOnlyError(CasesError):
    """Someone tried to change or delete a case event; the history is append-only."""


class InvalidTokenError(CasesError):
    """An API token that is missing, malformed, unknown or revoked."""


class PermissionDeniedError(CasesError):
    """A token lacks the permission (scope) or the area for what it asked."""


class InvalidScopeError(CasesError):
    """A token was asked for with a permission that does not exist."""
