"""Train / held-out splits of photo folders that keep near-duplicate photos on the same side.

The committed list ``splits/shared_photos_heldout.txt`` holds the held-out photo names (stems) of the project's
shared photo folder; :func:`load_split` reads it by name (``"heldout"``) or any list file by path.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["NEAR_DUPLICATES", "SPLITS_DIR", "group_names", "split_names", "load_split", "write_split"]

SPLITS_DIR = Path(__file__).resolve().parent / "splits"

#: Stereo / viewpoint pairs of the OpenCV sample photos that must land on the same side of a split.
NEAR_DUPLICATES: tuple[tuple[str, ...], ...] = (
    ("opencv_aloel", "opencv_aloer"),
    ("opencv_left", "opencv_right"),
    ("opencv_leuvena", "opencv_leuvenb"),
    ("opencv_graf1", "opencv_graf3"),
    ("opencv_aero1", "opencv_aero3"),
)

_NAMED = {"heldout": "shared_photos_heldout.txt", "calibration-a": "shared_photos_calibration_a.txt",
          "calibration-b": "shared_photos_calibration_b.txt"}


def group_names(names: Iterable[str], duplicates: Sequence[Sequence[str]] = NEAR_DUPLICATES) -> list[list[str]]:
    """Group names so that each near-duplicate set forms one group (others are singletons); sorted, deterministic."""
    names = sorted(set(names))
    owner = {n: tuple(sorted(g)) for g in duplicates for n in g}
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        key = owner.get(name, (name,))
        groups.setdefault(key, []).append(name)
    return [groups[k] for k in sorted(groups)]


def split_names(
    names: Iterable[str],
    heldout_fraction: float = 0.2,
    seed: int = 0,
    duplicates: Sequence[Sequence[str]] = NEAR_DUPLICATES,
) -> tuple[list[str], list[str]]:
    """Split names into ``(train, heldout)`` with about ``heldout_fraction`` held out, groups kept together.

    Groups are ordered by a seeded CRC32 hash of their first name (stable across Python versions and machines)
    and taken into the held-out side until it holds ``ceil(fraction * n)`` names or would overshoot.

    Returns:
        Two sorted lists of names.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1); got {heldout_fraction}.")
    groups = group_names(names, duplicates)
    total = sum(len(g) for g in groups)
    wanted = math.ceil(heldout_fraction * total)
    order = sorted(groups, key=lambda g: (zlib.crc32(f"{seed}:{g[0]}".encode()), g[0]))
    heldout: list[str] = []
    for group in order:
        if len(heldout) + len(group) <= wanted:
            heldout.extend(group)
        if len(heldout) >= wanted:
            break
    held = set(heldout)
    return sorted(n for g in groups for n in g if n not in held), sorted(heldout)


def load_split(name_or_path: str | Path) -> list[str]:
    """Names of a split: a registered name (``"heldout"``) or a text file with one name per line."""
    key = str(name_or_path)
    path = SPLITS_DIR / _NAMED[key] if key in _NAMED else Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"No split list {path}; give a file with one photo stem per line or one of "
                                f"{', '.join(_NAMED)}.")
    lines = path.read_text().splitlines()
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


def write_split(path: str | Path, names: Iterable[str], header: str = "") -> None:
    """Write names one per line (``header`` lines become ``#`` comments)."""
    lines = [f"# {h}" for h in header.splitlines() if h] + sorted(names)
    Path(path).write_text("\n".join(lines) + "\n")
