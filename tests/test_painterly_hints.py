"""Before a painterly run the page says how long it should take and whether the background looks painted
(harmonization.serving.painterly_hints; the text in demo.handlers.painterly_note)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from PIL import Image

from harmonization.serving.painterly_hints import (
    PAINTED_TEXTURE_SHARE,
    painterly_hint,
    painterly_seconds,
    texture_share,
)

EXAMPLES = REPO_ROOT / "examples"


def test_estimate_matches_the_measured_runs_and_scales_with_pixels_and_steps() -> None:
    # measured on the development CPU, one thread, a 752x600 painting: standard ~14 s, preview ~5 s
    assert painterly_seconds(752, 600, "standard") == pytest.approx(14.0, abs=0.5)
    assert painterly_seconds(752, 600, "preview") == pytest.approx(5.0, abs=0.5)
    assert painterly_seconds(600, 752, "standard") == pytest.approx(painterly_seconds(752, 600, "standard"))
    # the working size is a long side: a larger photo costs the same, a smaller one is never upsampled
    assert painterly_seconds(4000, 3190, "standard") == pytest.approx(painterly_seconds(752, 600, "standard"),
                                                                      rel=0.01)
    assert painterly_seconds(200, 160, "standard") == pytest.approx(painterly_seconds(200, 160, "preview"))
    assert painterly_seconds(200, 160, "standard") < painterly_seconds(752, 600, "preview")
    assert painterly_seconds(752, 600, "standard", mode="global") > painterly_seconds(752, 600, "standard")
    # (global: 100 steps against 60)
    with pytest.raises(ValueError, match="quality"):
        painterly_seconds(752, 600, "best")
    with pytest.raises(ValueError, match="mode"):
        painterly_seconds(752, 600, "standard", mode="fancy")
    with pytest.raises(ValueError, match="1x1"):
        painterly_seconds(0, 600)


def test_texture_share_tells_the_examples_paintings_from_the_photos(tmp_path: Path) -> None:
    for painting in ("opencv_starry_night.jpg", "gcompris_details_vincentvangoghbridge.jpg"):
        assert texture_share(EXAMPLES / painting) >= PAINTED_TEXTURE_SHARE, painting
    for photo in ("matplotlib_grace_hopper.jpg", "skimage_astronaut.jpg"):
        assert texture_share(EXAMPLES / photo) < PAINTED_TEXTURE_SHARE, photo
    Image.fromarray(np.full((300, 400, 3), 120, np.uint8)).save(tmp_path / "flat.png")
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3)).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    assert texture_share(tmp_path / "flat.png") == 0.0
    assert texture_share(tmp_path / "noise.png") > 0.9
    hint = painterly_hint(tmp_path / "flat.png", "preview")
    assert not hint.looks_painted and hint.seconds == 5  # 400x300 -> 256x192 working pixels, 60 steps


def test_the_page_note_gives_the_estimate_and_warns_on_a_photo(tmp_path: Path) -> None:
    from demo.handlers import painterly_note

    photo, painting = str(EXAMPLES / "matplotlib_grace_hopper.jpg"), str(EXAMPLES / "opencv_starry_night.jpg")
    assert painterly_note("local", "standard", painting) == ""  # a photo method: no note
    assert painterly_note("painterly", "standard", None) == ""
    on_painting = painterly_note("painterly", "preview", painting)
    assert "about " in on_painting and " s on this server" in on_painting and "smooth" not in on_painting
    on_photo = painterly_note("painterly", "standard", photo)
    assert "smooth for a painting" in on_photo and "photo method" in on_photo
    outside = tmp_path / "painting.jpg"  # a readable image, but not an upload or example: never opened
    outside.write_bytes(Path(photo).read_bytes())
    assert painterly_note("painterly", "standard", str(outside)) == ""


def test_the_composite_tab_note_reads_the_editor_image() -> None:
    from demo.handlers import painterly_note

    composite = str(EXAMPLES / "astronaut_in_cafe.png")  # the astronaut pasted into the night cafe (a painting)
    value = {"background": composite, "layers": [], "composite": composite}
    note = painterly_note("painterly", "standard", value)
    assert "about " in note and "smooth" not in note
    assert painterly_note("painterly", "standard", {"background": None, "layers": [], "composite": None}) == ""
