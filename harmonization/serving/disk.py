"""Disk hygiene of the server: folders of results swept by age, emptied on shutdown, and measured.

The app writes each request's PNG downloads into a folder of their own and Gradio keeps uploads and results in its
cache folder. :func:`sweep_older_than` removes what is older than an age (on start, what a killed server left
behind; while running, as new results are written; all of it on shutdown); :func:`install_sigterm_as_interrupt`
makes SIGTERM close the server like Ctrl-C (Python's default SIGTERM ends the process without running any cleanup);
:func:`folder_bytes` measures what a load run left on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["folder_bytes", "install_sigterm_as_interrupt", "sweep_older_than"]


def _remove(entry: Path) -> bool:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False  # in use or not ours to remove: left for the next sweep
    return True


def sweep_older_than(folder: str | os.PathLike[str], age_s: float, *, now: float | None = None) -> int:
    """Remove the entries of ``folder`` (files, links and whole sub-folders) last modified more than ``age_s``
    seconds ago (a sub-folder by the newest thing in it); ``age_s <= 0`` removes all of them. Links are removed,
    never followed.

    Returns:
        How many entries were removed (0 when the folder does not exist).
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for entry in list(root.iterdir()):
        if age_s <= 0 or now - _newest(entry) > age_s:
            removed += _remove(entry)
    return removed


def _newest(entry: Path) -> float:
    """The latest modification time of ``entry`` and, for a folder, of everything in it (a folder created long ago
    may hold a file that was just used again, e.g. one of Gradio's cached copies)."""
    try:
        newest = entry.lstat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone already: nothing to remove
    if entry.is_dir() and not entry.is_symlink():
        for dirpath, dirnames, filenames in os.walk(entry):
            for name in (*dirnames, *filenames):
                try:
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return newest


def folder_bytes(folder: str | os.PathLike[str]) -> int:
    """Bytes held by the regular files under ``folder`` (links not followed; 0 when it does not exist)."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                info = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if not os.path.islink(os.path.join(dirpath, name)):
                total += info.st_size
    return total


def install_sigterm_as_interrupt() -> Callable[..., Any] | int | None:
    """Make SIGTERM behave like Ctrl-C in the main thread (``KeyboardInterrupt``), so that servers close and
    ``finally`` blocks and :mod:`atexit` handlers run; returns the previous handler. Only from the main thread."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)
