"""The package's exception types, in one place (importable from every layer; imports nothing of ours).

Every message says what was received, what was expected and how to fix it, and never echoes a server path that a
client did not send.

- :class:`ImageReadError` (``ValueError``): an input could not be read as an image or mask.
- :class:`CheckpointNotFoundError` (``FileNotFoundError``): no source of a checkpoint gave a file.
- :class:`CheckpointFileError` (``ValueError``): a weights file exists but cannot be used (not a regular file,
  damaged, pickled code, non-finite weights).
- :class:`MethodUnavailableError` (``RuntimeError``): a method exists but cannot run here.
- :class:`StateDictMismatchError` (``ValueError``): weights that do not fit a network exactly.
"""

from __future__ import annotations

__all__ = [
    "CheckpointFileError",
    "CheckpointNotFoundError",
    "ImageReadError",
    "MethodUnavailableError",
    "StateDictMismatchError",
    "USER_ERRORS",
]


class ImageReadError(ValueError):
    """The input could not be read as an image (unreadable file, unsupported array, too many pixels)."""


class CheckpointNotFoundError(FileNotFoundError):
    """No source of a checkpoint gave a file; the message lists every place tried and how to supply the file."""


class CheckpointFileError(ValueError):
    """A checkpoint file exists but cannot be used: not a regular file, unreadable, damaged or unsafe."""


class MethodUnavailableError(RuntimeError):
    """The method exists but cannot run here (for example, no checkpoint could be found)."""


class StateDictMismatchError(ValueError):
    """Raised when a state dict does not fit a module exactly (missing, unexpected or mis-shaped keys)."""


#: The errors a user can fix by changing the input (the CLI prints them in one line, the app shows them).
USER_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    ImageReadError,
    MethodUnavailableError,
    CheckpointNotFoundError,
    CheckpointFileError,
)
