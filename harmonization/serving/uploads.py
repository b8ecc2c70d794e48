"""Which files a request may make the server open: only regular files inside the upload folders.

A web request names files by their server path (Gradio's file data ``{"path": ..., "meta": ...}``). With
``preprocess=False`` Gradio checks only references that carry its ``meta`` marker, so a handler must not trust any
path it is given: :class:`UploadGate` accepts a reference only when, after every symlink is resolved, it names a
regular file inside one of its folders (the server's upload/cache folder, the app's example files), and refuses
everything else with one message that says nothing about the file (whether it exists, its size, its path), so a
client cannot probe the server's disk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImageReadError

__all__ = ["REFUSED_MESSAGE", "UploadGate", "UploadRefusedError"]

#: The one answer for every refused file reference (no path, no existence, no size).
REFUSED_MESSAGE = (
    "This file cannot be used: the server opens only images uploaded to this app. Upload the image again (in the "
    "page, or with gradio_client.handle_file) and send the reference the upload returned."
)


class UploadRefusedError(ImageReadError):
    """A file reference that names no regular file inside the upload folders (message: :data:`REFUSED_MESSAGE`)."""

    def __init__(self) -> None:
        super().__init__(REFUSED_MESSAGE)


@dataclass(frozen=True)
class UploadGate:
    """Checks file references from requests against a set of folders.

    Attributes:
        roots: the folders whose files may be opened (resolved when the gate is made).
    """

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Iterable[str | os.PathLike[str]]) -> UploadGate:
        """A gate for ``folders`` (symlinks resolved; folders that do not exist yet are kept, resolved as far as
        they exist)."""
        return cls(tuple(Path(os.path.realpath(folder)) for folder in folders))

    def file(self, value: Any) -> str | None:
        """The resolved path of the regular file ``value`` names, or ``None`` for no file.

        Args:
            value: ``None``, a file data mapping with a ``"path"`` (with or without Gradio's ``meta``), or a path.

        Raises:
            UploadRefusedError: anything else, a path outside the folders (after resolving symlinks), a missing
                file, a folder, a FIFO, a device or a socket.
        """
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get("path")
        if not isinstance(value, (str, os.PathLike)) or not str(value) or "\x00" in str(value):
            raise UploadRefusedError()
        resolved = Path(os.path.realpath(os.path.abspath(os.fspath(value))))
        if not any(resolved.is_relative_to(root) and resolved != root for root in self.roots):
            raise UploadRefusedError()
        try:
            mode = resolved.stat().st_mode  # the target of every link was resolved above
        except (OSError, ValueError):
            raise UploadRefusedError() from None
        if not stat.S_ISREG(mode):
            raise UploadRefusedError()
        return str(resolved)

    def editor(self, value: Any) -> dict[str, Any] | None:
        """An image editor value ``{"background", "layers", "composite"}`` with every file checked (:meth:`file`).

        Returns:
            ``None`` for no value, else a new mapping holding resolved paths (or ``None``) for the three entries.

        Raises:
            UploadRefusedError: a value that is not such a mapping, or any entry :meth:`file` refuses.
        """
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise UploadRefusedError()
        layers = value.get("layers") or []
        if not isinstance(layers, (list, tuple)):
            raise UploadRefusedError()
        return {"background": self.file(value.get("background")),
                "layers": [self.file(layer) for layer in layers],
                "composite": self.file(value.get("composite"))}
