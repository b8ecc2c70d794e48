"""harmonization.image_io.fit: an upload over the pixel limit is downscaled once, just inside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import png_header_only
from PIL import Image

from harmonization.errors import ImageReadError
from harmonization.image_io import MAX_PIXELS, image_size
from harmonization.image_io.fit import fit_to_pixel_limit


def test_an_image_within_the_limit_is_left_alone(tmp_path: Path) -> None:
    Image.new("RGB", (64, 48), (1, 2, 3)).save(tmp_path / "small.png")
    assert fit_to_pixel_limit(tmp_path / "small.png", tmp_path / "out") is None
    assert not (tmp_path / "out").exists()


def test_an_image_over_the_limit_is_downscaled_with_a_note(tmp_path: Path) -> None:
    Image.new("RGB", (8000, 5001), (90, 120, 150)).save(tmp_path / "huge.png")  # 40.0 MP, a few KB
    path, note = fit_to_pixel_limit(tmp_path / "huge.png", tmp_path / "out")
    width, height = image_size(path)
    assert width * height <= MAX_PIXELS and width * height > 0.999 * MAX_PIXELS
    assert abs(width / height - 8000 / 5001) < 1e-3
    assert path.name == "huge.png" and str(tmp_path) not in note
    assert "8000x5001" in note and f"{width}x{height}" in note and "downscaled" in note
    with Image.open(path) as image:
        assert image.getpixel((10, 10)) == (90, 120, 150)


def test_a_small_limit_and_a_jpeg_with_a_quarter_turn(tmp_path: Path) -> None:
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # shown rotated by 90 degrees: 200 wide, 300 tall
    image.save(tmp_path / "phone.jpg", exif=exif)
    path, _ = fit_to_pixel_limit(tmp_path / "phone.jpg", tmp_path / "out", max_pixels=6000)
    assert path.suffix == ".jpg"
    width, height = image_size(path)
    assert height > width and width * height <= 6000 and abs(height / width - 1.5) < 0.05


def test_unreadable_and_far_too_large_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "garbage.png").write_bytes(b"this is not an image")
    with pytest.raises(ImageReadError, match="Could not read garbage.png"):
        fit_to_pixel_limit(tmp_path / "garbage.png", tmp_path / "out")
    (tmp_path / "wide.png").write_bytes(png_header_only(12000, 7000))  # 84 MP: over the downscale limit
    with pytest.raises(ImageReadError, match="12000x7000"):
        fit_to_pixel_limit(tmp_path / "wide.png", tmp_path / "out")
