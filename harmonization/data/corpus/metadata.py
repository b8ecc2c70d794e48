"""Licence files: Debian machine-readable (DEP-5) ``copyright`` files and GCompris' per-folder README files, both
RFC-822-like stanzas (blank-line separated ``Key: value`` with indented continuation lines). A file's licence and
attribution come from the stanza that lists it: its GCompris README stanza, else the matching ``Files:`` stanza of
the package's Debian ``copyright`` file, else the rule's stated package licence (the licence rule itself is
:func:`harmonization.data.corpus.rules.licence_allows_training`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["dep5_lookup", "parse_dep5", "parse_gcompris_readme", "readme_lookup"]


def _stanzas(text: str) -> list[dict[str, str]]:
    """RFC-822-like stanzas (blank-line separated ``Key: value`` with indented continuation lines)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        match = re.match(r"^([A-Za-z][A-Za-z-]*):\s*(.*)$", line)
        if match and not raw[:1].isspace():
            key = match.group(1).lower()
            if key == "licence":
                key = "license"
            if key == "comments":
                key = "comment"
            current[key] = (current.get(key, "") + "\n" + match.group(2)).strip() if key in current else match.group(2)
        elif key:
            current[key] = (current[key] + "\n" + line.strip()).strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_dep5(text: str) -> list[dict[str, str]]:
    """The ``Files:`` stanzas of a Debian machine-readable copyright file (keys lower case)."""
    return [s for s in _stanzas(text) if "files" in s]


def dep5_lookup(stanzas: Sequence[dict[str, str]], path: str) -> dict[str, str] | None:
    """The last stanza whose ``Files:`` pattern matches a suffix of ``path`` (installed paths differ from source)."""
    parts = path.strip("/").split("/")
    suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
    found = None
    for stanza in stanzas:
        patterns = stanza["files"].split()
        if any(fnmatch.fnmatchcase(s, p) for p in patterns for s in suffixes):
            found = stanza
    return found


def debian_copyright(root: Path, package: str) -> list[dict[str, str]]:
    """The ``Files:`` stanzas of ``usr/share/doc/<package>/copyright`` in an unpacked package (empty if none)."""
    path = root / "usr/share/doc" / package / "copyright"
    return parse_dep5(path.read_text(errors="replace")) if path.is_file() else []


def parse_gcompris_readme(text: str) -> list[dict[str, Any]]:
    """Stanzas of a GCompris resource README with their file patterns (``files``: list of globs).

    ``Files:`` lists names (or globs such as ``photo1*.svg:``) on its line and the following lines.
    """
    out = []
    for stanza in _stanzas(text):
        names = []
        for token in re.split(r"[\s,]+", stanza.get("files", "")):
            token = token.strip().rstrip(":")
            if token and not token.startswith(("http:", "https:")) and "." in token:
                names.append(token)
        out.append({**stanza, "files": names})
    return out


def readme_lookup(stanzas: Sequence[dict[str, Any]], filename: str) -> dict[str, Any] | None:
    """The README stanza that lists ``filename`` (exact name first, then globs)."""
    for stanza in stanzas:
        if filename in stanza["files"]:
            return stanza
    for stanza in stanzas:
        if any(fnmatch.fnmatchcase(filename, p) for p in stanza["files"]):
            return stanza
    return None


def stanza_attribution(stanza: dict[str, Any]) -> str:
    """``Copyright: ...; Source: ...; Comment: ...`` from a README stanza (the keys it has, whitespace joined)."""
    parts = []
    for key, label in (("copyright", "Copyright"), ("source", "Source"), ("comment", "Comment")):
        if stanza.get(key):
            parts.append(f"{label}: {' '.join(str(stanza[key]).split())}")
    return "; ".join(parts)
