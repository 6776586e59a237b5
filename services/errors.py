"""The two errors the service layer raises on purpose.

Pages and the CLI catch these and show ``str(error)`` to the user; anything else
is a bug and is logged, never shown as a traceback.
"""


class InputError(ValueError):
    """The user's input cannot be used (empty, corrupt, too large, wrong kind)."""


class ModelUnavailable(RuntimeError):
    """A catalog model cannot be loaded here: weights missing, corrupt or unreachable."""


class Cancelled(Exception):
    """The user stopped a long job (a video, say) part-way; nothing of it is kept."""


class UnknownModel(ModelUnavailable):
    """The model id is not in the catalog (or is for another task): the caller's mistake."""
