"""A read-only reader of Qt binary resource files (``.rcc``, format versions 1-3), the archives in which GCompris
ships its activity images; :class:`RccArchive` lists the files of one archive and returns their (zlib-decompressed)
bytes without Qt.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

__all__ = ["RccArchive"]

_RCC_COMPRESSED, _RCC_DIRECTORY, _RCC_ZSTD = 0x01, 0x02, 0x04


class RccArchive:
    """Read-only view of a Qt binary resource file (``rcc`` format versions 1-3).

    Layout (all big-endian): ``b"qres"``, version, tree offset, data offset, names offset (and flags from version
    3). Tree nodes are 14 bytes (22 from version 2: plus a 64-bit modification time): name offset (u32), flags (u16),
    then for a directory child count and first child index (u32, u32), for a file territory and language (u16, u16)
    and data offset (u32). A name is a u16 length, a u32 hash and UTF-16BE characters; a file's data is a u32 size
    and the bytes, zlib-compressed behind a 4-byte length when flag 1 is set (zstd, flag 4, is not supported).

    Args:
        data: the whole file.

    Raises:
        ValueError: not an rcc file, or an unknown version.
    """

    def __init__(self, data: bytes) -> None:
        if data[:4] != b"qres" or len(data) < 20:
            raise ValueError(f"Not a Qt resource file: expected it to start with b'qres', got {data[:4]!r}.")
        self.data = data
        self.version, self.tree, self.payload, self.names = struct.unpack(">IIII", data[4:20])
        if self.version not in (1, 2, 3):
            raise ValueError(f"Unsupported rcc format version {self.version}; this reader knows versions 1-3.")
        self.node_size = 14 if self.version == 1 else 22
        self._files: dict[str, tuple[int, int]] = {}
        self._walk(0, "")

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RccArchive:
        """Read an ``.rcc`` file from disk."""
        return cls(Path(path).read_bytes())

    def _name(self, offset: int) -> str:
        start = self.names + offset
        (length,) = struct.unpack(">H", self.data[start:start + 2])
        return self.data[start + 6:start + 6 + 2 * length].decode("utf-16-be")

    def _walk(self, index: int, prefix: str) -> None:
        at = self.tree + index * self.node_size
        name_offset, flags = struct.unpack(">IH", self.data[at:at + 6])
        name = self._name(name_offset) if index else ""
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack(">II", self.data[at + 6:at + 14])
            for child in range(first, first + count):
                self._walk(child, f"{prefix}{name}/" if index else "/")
        else:
            (offset,) = struct.unpack(">I", self.data[at + 10:at + 14])
            self._files[f"{prefix}{name}"] = (offset, flags)

    @property
    def paths(self) -> list[str]:
        """All file paths, e.g. ``/gcompris/src/activities/erase/resource/gorilla.webp``, sorted."""
        return sorted(self._files)

    def read(self, path: str) -> bytes:
        """The (decompressed) bytes of one file."""
        if path not in self._files:
            raise KeyError(f"No file {path!r} in this rcc archive ({len(self._files)} files).")
        offset, flags = self._files[path]
        start = self.payload + offset
        (size,) = struct.unpack(">I", self.data[start:start + 4])
        raw = self.data[start + 4:start + 4 + size]
        if flags & _RCC_ZSTD:
            raise ValueError(f"{path} is zstd-compressed; this reader supports stored and zlib data only.")
        if flags & _RCC_COMPRESSED:
            return zlib.decompress(raw[4:])
        return raw
