"""Large images are processed a band of rows at a time: same results as in one piece, bounded memory.

The band size is :data:`harmonization.ops.color.CHUNK_PIXELS` (and ``image_io.core._BAND_PIXELS`` for conversions);
the tests set it small so that tiny images are cut into many bands, and compare with one band (which is exactly the
whole-image arithmetic). The probe's case, a 39.9-megapixel PNG, is measured in a subprocess (``slow``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_scene

from harmonization import harmonize
from harmonization.image_io import core as image_io_module
from harmonization.image_io import load_image, load_rgb8, tensor_to_rgb8
from harmonization.ops import color as color_module
from harmonization.ops.color import (
    area_downsample_rows,
    bilinear_rows,
    chunk_moments,
    masked_mean_std,
    merge_moments,
    row_chunks,
)
from harmonization.ops.colortransfer import apply_global_affine, apply_local_affine
from harmonization.pipelines import classical as classical_module
from harmonization.pipelines.classical import global_transfer, local_transfer
from harmonization.pipelines.run import harmonize_tensor, validate_inputs

SIZES = [(37, 53), (61, 17), (48, 64)]


@pytest.fixture
def small_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of about 100 pixels: a 48x64 image is cut into 48 bands of one row."""
    monkeypatch.setattr(color_module, "CHUNK_PIXELS", 100)
    monkeypatch.setattr(image_io_module, "_BAND_PIXELS", 100)


def _scene(height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    image, mask = make_scene(height, width, seed=seed)
    return load_image(image), torch.from_numpy(mask.astype(np.float32))[None, None]


def test_row_chunks_cover_every_row_once() -> None:
    for height, width, pixels in [(1, 1, 1), (10, 3, 7), (5000, 7744, 1 << 20), (7, 10, 1000)]:
        chunks = row_chunks(height, width, pixels)
        rows = [r for c in chunks for r in range(c.start, c.stop)]
        assert rows == list(range(height))
        assert all((c.stop - c.start) * width <= max(pixels, width) for c in chunks)


def test_merged_moments_equal_the_whole_image_statistics() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 23, 9, generator=gen) * 100
    weight = (torch.rand(2, 1, 23, 9, generator=gen) > 0.3).float() * torch.rand(2, 1, 23, 9, generator=gen)
    mean, std = masked_mean_std(x, weight)
    one = merge_moments([chunk_moments(x, weight)])
    assert torch.equal(one[0], mean) and torch.equal(one[1], std)  # one band: the same arithmetic exactly
    for step in (1, 4, 10):
        parts = [chunk_moments(x[:, :, top:top + step], weight[:, :, top:top + step]) for top in range(0, 23, step)]
        merged_mean, merged_std = merge_moments(parts)
        assert torch.allclose(merged_mean, mean, rtol=1e-5, atol=1e-4)
        assert torch.allclose(merged_std, std, rtol=1e-5, atol=1e-4)
    empty = torch.zeros(2, 1, 23, 9)  # bands without any weight do not disturb the others
    parts = [chunk_moments(x[:, :, :5], empty[:, :, :5]), chunk_moments(x[:, :, 5:], weight[:, :, 5:])]
    expected = masked_mean_std(x[:, :, 5:], weight[:, :, 5:])
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-4) for a, b in zip(merge_moments(parts), expected,
                                                                          strict=True))
    with pytest.raises(ValueError, match="at least one band"):
        merge_moments([])


@pytest.mark.parametrize(("height", "width", "size"), [(100, 37, (7, 5)), (64, 64, (16, 16)), (97, 13, (96, 13)),
                                                        (5, 8, (5, 8)), (41, 23, (1, 1))])
@pytest.mark.parametrize("rows_per_chunk", [1, 3, 20])
def test_area_downsample_in_bands_equals_area_interpolation(height: int, width: int, size: tuple[int, int],
                                                            rows_per_chunk: int) -> None:
    x = torch.rand(2, 4, height, width, generator=torch.Generator().manual_seed(height))
    asked: list[tuple[int, int]] = []

    def rows(top: int, bottom: int) -> torch.Tensor:
        asked.append((top, bottom))
        return x[:, :, top:bottom]

    out = area_downsample_rows(rows, height, size, rows_per_chunk)
    assert torch.allclose(out, F.interpolate(x, size=size, mode="area"), atol=1e-6)
    assert max(b - t for t, b in asked) <= max(rows_per_chunk, -(-height // size[0]) + 1)


@pytest.mark.parametrize(("coarse", "height"), [(5, 100), (7, 7), (3, 1000), (10, 33)])
def test_bilinear_rows_equal_bilinear_interpolation(coarse: int, height: int) -> None:
    small = torch.rand(1, 6, coarse, 4, generator=torch.Generator().manual_seed(coarse))
    width = 29
    full = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    wide = F.interpolate(small, size=(coarse, width), mode="bilinear", align_corners=False)
    for rows in row_chunks(height, width, 3 * width):
        assert torch.allclose(bilinear_rows(wide, height, rows), full[:, :, rows], atol=1e-6)


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("transfer", [global_transfer, local_transfer])
@pytest.mark.parametrize("keep_lab", [True, False], ids=["lab-kept", "lab-converted-twice"])
def test_classical_methods_in_bands_equal_one_piece(monkeypatch: pytest.MonkeyPatch, height: int, width: int,
                                                    transfer: object, keep_lab: bool) -> None:
    image, mask = _scene(height, width, seed=height)
    whole = transfer(image, mask)  # type: ignore[operator]
    monkeypatch.setattr(color_module, "CHUNK_PIXELS", 2 * width + 1)  # bands of two rows
    monkeypatch.setattr(classical_module, "KEEP_LAB_PIXELS", 10**9 if keep_lab else 0)
    assert len(row_chunks(height, width)) > 1
    banded = transfer(image, mask)  # type: ignore[operator]
    assert banded.shape == whole.shape
    assert torch.allclose(banded, whole, atol=2e-5)


@pytest.mark.parametrize("method", ["global", "local"])
def test_harmonize_in_bands_keeps_the_background_and_matches_one_piece(monkeypatch: pytest.MonkeyPatch,
                                                                       method: str) -> None:
    rgb8, mask = make_scene(61, 47, seed=5)
    whole = np.asarray(harmonize(rgb8, mask, method=method, feather_radius=2.0))
    monkeypatch.setattr(color_module, "CHUNK_PIXELS", 3 * 47)
    monkeypatch.setattr(classical_module, "KEEP_LAB_PIXELS", 0)
    monkeypatch.setattr(image_io_module, "_BAND_PIXELS", 5 * 47)
    banded = np.asarray(harmonize(rgb8, mask, method=method, feather_radius=2.0))
    np.testing.assert_array_equal(banded[~mask], rgb8[~mask])
    difference = np.abs(banded.astype(int) - whole.astype(int))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_blend_in_bands_writes_into_a_fresh_prediction_only(small_bands: None) -> None:
    image, mask = _scene(48, 64)
    soft = mask * 0.5
    out = harmonize_tensor(image, soft, "global")
    assert out.data_ptr() != image.data_ptr()
    np.testing.assert_array_equal(tensor_to_rgb8(out)[soft[0, 0].numpy() == 0],
                                  tensor_to_rgb8(image)[soft[0, 0].numpy() == 0])


def test_validation_looks_at_every_band(small_bands: None) -> None:
    image, mask = _scene(48, 64)
    bad = image.clone()
    bad[0, 1, 47, 63] = float("nan")  # in the last band only
    with pytest.raises(ValueError, match="image holds NaN"):
        validate_inputs(bad, mask)
    with pytest.raises(ValueError, match="mask is empty"):
        validate_inputs(image, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="covers the whole image"):
        validate_inputs(image, torch.ones_like(mask))
    late = torch.zeros_like(mask)
    late[0, 0, 47, 0] = 1.0  # one marked pixel in the last band
    validate_inputs(image, late)


def test_global_affine_map_in_bands(small_bands: None) -> None:
    image, _ = _scene(37, 53)
    coefficients = torch.tensor([[[0.9, 0.1, 0.0, 0.05], [0.0, 1.1, -0.1, 0.0], [0.2, 0.0, 0.7, -0.02]]])
    whole = torch.einsum("bij,bjhw->bihw", coefficients[..., :3], image) + coefficients[..., 3:, None]
    assert torch.allclose(apply_global_affine(image, coefficients), whole, atol=1e-6)
    assert torch.allclose(apply_global_affine(image, coefficients, rows_per_chunk=4), whole, atol=1e-6)
    leaf = image.clone().requires_grad_(True)  # training differentiates through it: one piece, gradients flow
    apply_global_affine(leaf, coefficients).sum().backward()
    assert leaf.grad is not None
    local = torch.rand(1, 12, 5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(apply_local_affine(image, local), apply_local_affine(image, local, rows_per_chunk=3),
                          atol=1e-6)


def test_conversions_in_bands_are_exact(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from PIL import Image

    rgb8 = np.random.default_rng(0).integers(0, 256, (45, 31, 3), dtype=np.uint8)
    tensor = load_image(rgb8) * 1.01 - 0.005  # values just outside [0, 1] are clamped the same way
    whole = tensor_to_rgb8(tensor)
    monkeypatch.setattr(image_io_module, "_BAND_PIXELS", 2 * 31)
    np.testing.assert_array_equal(tensor_to_rgb8(tensor), whole)
    np.testing.assert_array_equal(load_rgb8(Image.fromarray(rgb8)), rgb8)
    assert load_rgb8(Image.fromarray(rgb8)).flags.writeable


@pytest.mark.slow
def test_a_40_megapixel_png_costs_under_2_5_gib(tmp_path: object) -> None:
    """The probe's case: a 7736x5160 (39.9 MP) PNG of about 130 KB; the request (read, harmonize, PNG) in a fresh
    process, as the memory benchmark measures it (peak RSS over the idle process)."""
    from pathlib import Path

    from harmonization.benchmarks.memory import _size, measure
    from harmonization.image_io import write_test_composite

    folder = Path(str(tmp_path))
    size = _size(39.9)
    assert size == (7736, 5160)
    write_test_composite(folder / "c.png", folder / "m.png", size)
    assert (folder / "c.png").stat().st_size < 1_000_000  # about 130 KB: tiny on the wire, 40 MP decoded
    report = measure(folder / "c.png", folder / "m.png", "local", "api")
    assert "error" not in report, report
    over_idle_gib = (int(report["peak_kb"]) - int(report["idle_kb"])) / 2**20
    print(f"39.9 MP local: peak {int(report['peak_kb']) / 2**20:.2f} GiB, {over_idle_gib:.2f} GiB over idle")
    assert report["size"] == list(size)
    assert over_idle_gib < 2.5
