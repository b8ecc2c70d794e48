"""The corpus builder on tiny real cases: rcc reader, licence and reserved-source rules, photo selection, splits."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from harmonization.data.corpus import (
    SPLITS_DIR,
    CorpusPairs,
    FileRule,
    PackageSpec,
    RccArchive,
    ReservedSourceError,
    build,
    builder,
    default_corpus_dir,
    default_packages_dir,
    dep5_lookup,
    dhash,
    enumerate_rule,
    fetch_package,
    group_photos,
    hamming,
    is_reserved,
    licence_allows_training,
    make_splits,
    parse_dep5,
    parse_gcompris_readme,
    phash,
    readme_lookup,
    select_photos,
)
from harmonization.data.corpus.cli import main

# ------------------------------------------------------------------------------------------------ rcc


def _rcc(version: int, tree: list[tuple[str, int, object]], blobs: dict[int, tuple[bytes, bool]]) -> bytes:
    """Hand-built rcc file. ``tree`` nodes: (name, flags, (count, first) for a directory or a blob index)."""
    names, name_offsets = b"", []
    for name, _, _ in tree:
        name_offsets.append(len(names))
        encoded = name.encode("utf-16-be")
        names += struct.pack(">HI", len(name), 0) + encoded
    data, data_offsets = b"", {}
    for index, (payload, compressed) in blobs.items():
        data_offsets[index] = len(data)
        body = struct.pack(">I", len(payload)) + zlib.compress(payload) if compressed else payload
        data += struct.pack(">I", len(body)) + body
    nodes = b""
    for (_, flags, extra), name_offset in zip(tree, name_offsets, strict=True):
        if flags & 2:
            count, first = extra  # type: ignore[misc]
            node = struct.pack(">IHII", name_offset, flags, count, first)
        else:
            node = struct.pack(">IHHHI", name_offset, flags, 0, 0, data_offsets[extra])  # type: ignore[index]
        nodes += node + (struct.pack(">Q", 0) if version >= 2 else b"")
    header_size = 24 if version >= 3 else 20
    tree_offset = header_size
    data_offset = tree_offset + len(nodes)
    names_offset = data_offset + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + nodes + data + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_lists_and_reads_stored_and_zlib_files(version: int) -> None:
    tree = [("", 2, (1, 1)), ("res", 2, (3, 2)), ("a.txt", 0, 0), ("b.bin", 1, 1), ("sub", 2, (1, 5)),
            ("c.webp", 0, 2)]
    blobs = {0: (b"hello", False), 1: (bytes(range(256)) * 4, True), 2: (b"RIFF....WEBP", False)}
    archive = RccArchive(_rcc(version, tree, blobs))
    assert archive.paths == ["/res/a.txt", "/res/b.bin", "/res/sub/c.webp"]
    assert archive.read("/res/a.txt") == b"hello"
    assert archive.read("/res/b.bin") == bytes(range(256)) * 4
    assert archive.read("/res/sub/c.webp") == b"RIFF....WEBP"
    with pytest.raises(KeyError, match="No file"):
        archive.read("/res/missing")


def test_rcc_reader_rejects_other_files() -> None:
    with pytest.raises(ValueError, match="qres"):
        RccArchive(b"PK\x03\x04" + bytes(40))


# ------------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize(("licence", "allowed"), [
    ("CC-BY-SA 4.0", True), ("CC-BY-2.0", True), ("CC0-1.0", True), ("Public domain", True), ("GPLv2+", True),
    ("LGPL-2.1+", True), ("GPL-3+", True), ("Apache-2.0 AND BSD-3-Clause", True), ("Expat", True),
    ("CC-BY-NC-SA-3.0", False), ("CC BY-ND 4.0", False), ("All rights reserved", False), ("", False),
    ("unknown", False), ("Non-commercial use only", False),
])
def test_licence_rule(licence: str, allowed: bool) -> None:
    assert licence_allows_training(licence) is allowed


def test_reserved_sources() -> None:
    for package in ("lomiri-wallpapers", "lomiri-wallpapers-20.04", "darknet", "visp-images-data"):
        assert is_reserved(package)
    assert is_reserved("scikit-image", "skimage/data/chelsea.png")
    assert is_reserved("scikit-image", "skimage/data/hubble_deep_field.jpg")
    assert is_reserved("scikit-learn", "sklearn/datasets/images/china.jpg")
    assert is_reserved("opencv-doc", "usr/share/doc/opencv-doc/examples/data/messi5.jpg")
    assert is_reserved("gcompris-qt-data", "usr/share/gcompris-qt/rcc/explore_world_music.rcc :/x/y.webp")
    assert not is_reserved("scikit-image", "skimage/data/astronaut.png")
    assert not is_reserved("mate-backgrounds", "usr/share/backgrounds/mate/nature/Aqua.jpg")
    assert not is_reserved("opencv-doc", "usr/share/doc/opencv-doc/examples/data/fruits.jpg")


@pytest.mark.parametrize("name", ["lomiri-wallpapers-16.04", "darknet", "visp-images-data"])
def test_reserved_debian_packages_are_never_downloaded(tmp_path: Path, name: str) -> None:
    with pytest.raises(ReservedSourceError, match="never downloaded"):
        fetch_package(PackageSpec("debian", name, "1.0"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_dep5_and_gcompris_readme() -> None:
    stanzas = parse_dep5("Format: x\n\nFiles: *\nCopyright: 2020 A\nLicense: GPL-2+\n\n"
                         "Files: nature/Aqua.jpg\n nature/Dune.jpg\nCopyright: 2008 B\nLicense: CC-BY-SA-3.0\n")
    assert dep5_lookup(stanzas, "usr/share/backgrounds/mate/nature/Dune.jpg")["license"] == "CC-BY-SA-3.0"
    assert dep5_lookup(stanzas, "usr/share/backgrounds/mate/desktop/Other.jpg")["license"] == "GPL-2+"
    readme = parse_gcompris_readme("Copyright: C\nSource: https://example.org/a.jpg\nLicense: CC0-1.0\nFiles: a.webp\n"
                                   "\nCopyright: D\nLicence: Public domain\nFiles:\nb.webp\nc.webp\n\n"
                                   "Copyright: E\nLicence: CC-BY-SA 4.0\nFiles:\nphoto1*.svg:  https://x.org/1.svg\n")
    assert readme_lookup(readme, "a.webp")["source"] == "https://example.org/a.jpg"
    assert readme_lookup(readme, "c.webp")["license"] == "Public domain"
    assert readme_lookup(readme, "photo1_2.svg")["copyright"] == "E"
    assert readme_lookup(readme, "zzz.webp") is None


# ------------------------------------------------------------------------------------------------ selection


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A colourful smooth random image (a stand-in photo with many colours and a distinct hash)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(small.resize(size, Image.Resampling.BICUBIC)).astype(np.int16)
    noise = rng.integers(-12, 13, smooth.shape)
    return Image.fromarray(np.clip(smooth + noise, 0, 255).astype(np.uint8), "RGB")


def _write(image: Image.Image, path: Path, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


@pytest.fixture()
def fake_packages(tmp_path: Path) -> tuple[Path, Path]:
    """A Debian-like and a wheel-like unpacked package with good, bad and reserved files."""
    deb = tmp_path / "deb"
    folder = deb / "usr/share/backgrounds/fake"
    (deb / "usr/share/doc/fake-backgrounds").mkdir(parents=True)
    (deb / "usr/share/doc/fake-backgrounds/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2024 Someone\nLicense: GPL-2+\n\n"
        "Files: fake/nc_*.jpg\nCopyright: 2024 Other\nLicense: CC-BY-NC-SA-4.0\n")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x013B] = "A photographer"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    big = _photo(1, (800, 600))
    _write(big, folder / "big.jpg", quality=95, exif=exif.tobytes(), icc_profile=srgb)
    _write(big.rotate(-90, expand=True).resize((480, 640), Image.Resampling.LANCZOS), folder / "big_copy.png")
    _write(_photo(2, (500, 400)), folder / "a.jpg", quality=95)
    _write(_photo(3, (700, 500)), folder / "b.jpg", quality=95)
    _write(_photo(4, (200, 150)), folder / "small.jpg", quality=95)
    _write(_photo(5, (640, 480)), folder / "nc_photo.jpg", quality=95)
    _write(_photo(6, (640, 480)).convert("L").convert("RGB"), folder / "grey.jpg", quality=95)
    cutout = _photo(7, (640, 480)).convert("RGBA")
    alpha = np.zeros((480, 640), np.uint8)
    alpha[100:380, 150:500] = 255
    cutout.putalpha(Image.fromarray(alpha))
    _write(cutout, folder / "cutout.png")
    wheel = tmp_path / "wheel"
    _write(_photo(8, (512, 512)), wheel / "skimage/data/astronaut.png")
    (wheel / "skimage/data/chelsea.png").write_bytes(b"not an image: a reserved file must not even be decoded")
    return deb, wheel


def _candidates(deb: Path, wheel: Path) -> list:
    rule = FileRule("fake-backgrounds", "fake", ("usr/share/backgrounds/fake/*",), exclude=("*.txt",),
                    licence="GPL-2+", groups=(("fake_a", "fake_b"),))
    skimage = FileRule("scikit-image", "skimage", ("skimage/data/*.png",), licence="Public domain")
    return [*enumerate_rule(rule, deb, PackageSpec("debian", "fake-backgrounds", "1.0-1")),
            *enumerate_rule(skimage, wheel, PackageSpec("pypi", "scikit-image", "0.26.0"))]


def test_selection_filters_resizes_strips_and_deduplicates(tmp_path: Path, fake_packages: tuple[Path, Path]) -> None:
    out = tmp_path / "corpus"
    selection = select_photos(_candidates(*fake_packages), out, cache_file=out / "selection.json")
    status = {r["stem"]: (r["status"], r["reason"]) for r in selection.records.values()}
    assert {s: v[0] for s, v in status.items()} == {
        "fake_a": "kept", "fake_b": "kept", "fake_big": "kept", "fake_big_copy": "duplicate",
        "fake_cutout": "rejected", "fake_grey": "rejected", "fake_nc_photo": "licence", "fake_small": "rejected",
        "skimage_astronaut": "kept", "skimage_chelsea": "reserved"}
    assert status["fake_big_copy"][1] == "duplicate of fake_big"
    assert status["fake_small"][1].startswith("too small (200x150")
    assert status["fake_grey"][1].startswith("greyscale")
    assert status["fake_cutout"][1].startswith("transparent")
    assert sorted(p.name for p in (out / "photos").iterdir()) == [
        "fake_a.jpg", "fake_b.jpg", "fake_big.jpg", "skimage_astronaut.jpg"]
    kept = {r["stem"]: r for r in selection.kept}
    assert kept["fake_big"]["original_size"] == "600x800"  # EXIF orientation applied before anything else
    assert kept["fake_big"]["license"] == "GPL-2+"
    assert kept["fake_big"]["attribution"] == "Copyright: 2024 Someone"
    assert kept["fake_a"]["group"] == kept["fake_b"]["group"] == "fake_a+fake_b"
    sizes = {}
    for path in sorted((out / "photos").iterdir()):
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert len(image.getexif()) == 0 and "icc_profile" not in image.info and "exif" not in image.info
            sizes[path.stem] = image.size
    assert sizes == {"fake_a": (500, 400), "fake_b": (640, 457), "fake_big": (480, 640),
                     "skimage_astronaut": (512, 512)}
    assert kept["fake_b"]["processing"] == "resized to 640x457 (Lanczos), JPEG q92, EXIF/ICC stripped"
    assert kept["fake_a"]["processing"] == "original size, JPEG q92, EXIF/ICC stripped"
    # a rerun decides the same from its cache and leaves the files as they were
    before = {p.name: p.read_bytes() for p in (out / "photos").iterdir()}
    again = select_photos(_candidates(*fake_packages), out, cache_file=out / "selection.json")
    assert {r["stem"] for r in again.kept} == set(kept)
    assert {p.name: p.read_bytes() for p in (out / "photos").iterdir()} == before


def test_hashes_separate_duplicates_from_other_photos() -> None:
    photo = _photo(11, (640, 480))
    buffer = io.BytesIO()
    photo.resize((320, 240), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=70)
    copy = Image.open(buffer).convert("RGB")
    other = _photo(12, (640, 480))
    assert hamming(dhash(photo), dhash(copy)) <= 6 and hamming(phash(photo), phash(copy)) <= 8
    assert hamming(dhash(photo), dhash(other)) > 16 and hamming(phash(photo), phash(other)) > 16


def test_groups_and_splits_keep_clusters_whole_and_avoid_shared_training_photos() -> None:
    def record(stem: str, seed: int, group: str = "") -> dict:
        image = _photo(seed, (320, 240))
        return {"stem": stem, "dhash": dhash(image), "phash": phash(image), "group": group}

    records = [record(f"p{i:02d}", 100 + i) for i in range(30)]
    records.append({**records[0], "stem": "p00_twin"})  # same hashes: a near-duplicate of p00
    records += [record("q1", 200, "q"), record("q2", 201, "q")]
    shared = [{**records[5], "stem": "shared:trained"}, {**records[6], "stem": "shared:heldout"}]
    clusters = group_photos(records, shared)
    assert ["p00", "p00_twin"] in clusters and ["q1", "q2"] in clusters
    assert ["p05", "shared:trained"] in clusters and ["p06", "shared:heldout"] in clusters
    splits = make_splits(clusters, trained={"shared:trained"}, shared={"shared:trained", "shared:heldout"},
                         heldout_target=12, fold_target=6)
    assert splits == make_splits(list(reversed(clusters)), trained={"shared:trained"},
                                 shared={"shared:trained", "shared:heldout"}, heldout_target=12, fold_target=6)
    held, a, b = (set(splits[k]) for k in ("heldout", "calibration-a", "calibration-b"))
    assert len(held) >= 12 and len(a) >= 6 and len(b) >= 6
    assert not (held & a or held & b or a & b)
    assert "p05" not in held | a | b  # twin of a photo the shipped networks were trained on: train side only
    assert "p06" not in a | b  # twin of a shared held-out photo: may be held out, never a calibration photo
    for cluster in clusters:
        corpus = {s for s in cluster if not s.startswith("shared:")}
        for side in (held, a, b):
            assert not corpus & side or corpus <= side


# ------------------------------------------------------------------------------------------------ reader


def test_corpus_pairs_reader(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "photos").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for name in ("a", "b", "c"):
        _write(_photo(1, (64, 48)), root / "photos" / f"{name}.jpg")
        for k, (kind, fraction) in enumerate((("salient", 0.2), ("segment", 0.05), ("segment", 0.004))):
            Image.new("L", (64, 48)).save(root / "masks" / f"{name}__{k}.png")
            rows.append({"name": name, "region": k, "kind": kind, "foreground_fraction": fraction,
                         "mask": f"{name}__{k}.png"})
    with (root / "masks.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "corpus_heldout.txt").write_text("# held out\nc\n")
    (splits / "corpus_calibration_a.txt").write_text("b\n")
    train = CorpusPairs(root, "train", splits_dir=splits, min_fraction=0.01)
    assert train.photos == ["a", "b"] and len(train) == 4
    assert train[0] == (root / "photos/a.jpg", root / "masks/a__0.png")
    fold_run = CorpusPairs(root, "train", exclude=["b"], splits_dir=splits, kinds=["salient"])
    assert [p for p, _ in fold_run] == [root / "photos/a.jpg"]
    assert CorpusPairs(root, "heldout", splits_dir=splits).photos == ["c"]
    assert CorpusPairs(root, "all", splits_dir=splits).photos == ["a", "b", "c"]
    with pytest.raises(FileNotFoundError, match="corpus_calibration_b"):
        CorpusPairs(root, "calibration-b", splits_dir=splits)
    with pytest.raises(ValueError, match="split must be one of"):
        CorpusPairs(root, "test", splits_dir=splits)
    with pytest.raises(FileNotFoundError, match="build the corpus"):
        CorpusPairs(tmp_path / "nothing")


def test_committed_corpus_splits_are_disjoint_and_large_enough() -> None:
    names = {}
    for key in ("heldout", "calibration_a", "calibration_b"):
        lines = (SPLITS_DIR / f"corpus_{key}.txt").read_text().splitlines()
        names[key] = {s for s in lines if s and not s.startswith("#")}
    assert len(names["heldout"]) >= 80
    assert len(names["calibration_a"]) >= 35 and len(names["calibration_b"]) >= 35
    assert not (names["heldout"] & names["calibration_a"] or names["heldout"] & names["calibration_b"]
                or names["calibration_a"] & names["calibration_b"])
    reserved = ("chelsea", "coffee", "rocket", "motorcycle", "hubble", "china", "messi", "music", "lomiri")
    assert not [n for n in set().union(*names.values()) if any(r in n for r in reserved)]


# ------------------------------------------------------------------------------------------------ build and CLI


def test_default_folders_are_in_the_download_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARMONIZATION_CACHE", str(tmp_path / "cache"))
    assert default_corpus_dir() == tmp_path / "cache" / "corpus"
    assert default_packages_dir() == tmp_path / "cache" / "corpus-packages"


def _build(tmp_path: Path, fake_packages: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
           shared: Path | None) -> tuple[Path, list[str]]:
    monkeypatch.setattr(builder, "all_candidates", lambda cache, log: iter(_candidates(*fake_packages)))
    out, lines = tmp_path / "corpus", []
    build(out, cache=tmp_path / "cache", shared_photos=shared, skip_masks=True, log=lines.append)
    return out, lines


def test_build_without_shared_photos_says_the_matching_was_skipped(
        tmp_path: Path, fake_packages: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    out, lines = _build(tmp_path, fake_packages, monkeypatch, None)
    assert any("shared-photo matching skipped (no --shared-photos given)" in line for line in lines)
    readme = (out / "README.md").read_text()
    assert "* shared-photo matching skipped (no --shared-photos given)" in readme
    assert "--shared-photos ../shared/data/photos" in readme and "harmonization/data/corpus/" in readme
    assert "matching skipped" in (out / "splits/corpus_heldout.txt").read_text().splitlines()[0]
    assert json.loads((out / "shared_matches.json").read_text()) == {}
    assert [r["path"] for r in csv.DictReader((out / "SOURCES.csv").open())] == [
        "photos/fake_a.jpg", "photos/fake_b.jpg", "photos/fake_big.jpg", "photos/skimage_astronaut.jpg"]


def test_build_with_shared_photos_matches_them(
        tmp_path: Path, fake_packages: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    _write(_photo(2, (500, 400)), shared / "twin.jpg", quality=90)  # the same picture as fake_a
    _write(_photo(40, (500, 400)), shared / "other.jpg", quality=90)
    out, lines = _build(tmp_path, fake_packages, monkeypatch, shared)
    assert not any("skipped" in line for line in lines)
    # fake_b is in fake_a's cluster (an explicit group of the rule)
    assert json.loads((out / "shared_matches.json").read_text()) == {"fake_a": ["twin"], "fake_b": ["twin"]}
    readme = (out / "README.md").read_text()
    assert "* shared-photo matching: 2 shared photos hashed, 2 corpus photos in a near-duplicate cluster" in readme
    heldout = (out / "splits/corpus_heldout.txt").read_text().splitlines()
    assert heldout[0].endswith("none near-duplicate to a ../shared/data photo the shipped networks were trained on.")
    assert "fake_a" not in heldout and "fake_b" not in heldout and "fake_big" in heldout


def test_committed_splits_are_never_rewritten_without_shared_photos(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="needs the shared photos"):
        build(tmp_path / "out", cache=tmp_path / "cache", write_repo_splits=True)
    with pytest.raises(ValueError, match=r"no shared photos at .*empty"):
        build(tmp_path / "out", cache=tmp_path / "cache", shared_photos=tmp_path / "empty", write_repo_splits=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--write-splits"])
    assert exit_info.value.code == 2 and "--write-splits needs the shared photos" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_module_runs_as_a_command() -> None:
    result = subprocess.run([sys.executable, "-m", "harmonization.data.corpus", "list-sources"], capture_output=True,
                            text=True, check=True)
    assert "debian  gcompris-qt-data 3.1-2" in result.stdout and "reserved: lomiri-wallpapers*" in result.stdout
