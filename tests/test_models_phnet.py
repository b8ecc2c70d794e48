"""PHNet: state-dict layout, conformance with the original network's outputs, and the vectorised patch code.

Conformance data (tests/data): ``phnet_<config>_128x160.pt`` holds a composite, a mask and the ORIGINAL network's
output for the weights ``fill(read_specs(phnet_<config>_state_dict.tsv), salt="")`` (tests/data/fill_weights.py,
the spec's deterministic weight generator). Other sizes and salts are checked against the loop reference in
tests/_phnet_reference.py.
"""

from __future__ import annotations

import pytest
import torch

from harmonization.benchmarks.networks import BENCHMARKS, main
from harmonization.benchmarks.runner import BenchCase, composite_and_mask, format_table, run_case
from harmonization.models._loading import StateDictMismatchError
from harmonization.models.phnet import (
    PHNET_FFHQH,
    PHNET_IHARMONY,
    PHNET_TINY,
    PatchColorTransfer,
    PatchNormalization,
    PHNet,
    PHNetConfig,
    build_from_state_dict,
    config_from_state_dict,
)
from harmonization.ops.patches import (
    patch_bounds,
    patch_counts,
    patch_index,
    patch_masked_mean,
    patch_mean,
    patch_sum,
    patch_var,
    patches_to_pixels,
)

from _phnet_reference import (  # isort: skip
    loop_patch_bounds,
    reference_feature_extractor,
    reference_forward,
    reference_pn,
    reference_transfer,
)

from _fill import DATA, FILL  # isort: skip

CONFIGS = {"iharmony": PHNET_IHARMONY, "ffhqh": PHNET_FFHQH}
MAX_TOL, MEAN_TOL = 5e-5, 1e-6




@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: results do not depend on it, and tests of other files run in parallel on 2 cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _spec_state_dict(name: str, salt: str = "") -> dict[str, torch.Tensor]:
    return FILL.fill(FILL.read_specs(DATA / f"phnet_{name}_state_dict.tsv"), salt)


def _inputs(height: int, width: int, seed: int, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random composite and a blob mask touching some patches only partly."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 6, 7, generator=g)
    composite = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    composite = (composite + 0.05 * torch.rand(batch, 3, height, width, generator=g)).clamp(0, 1)
    yy = torch.linspace(-1, 1, height)[:, None]
    xx = torch.linspace(-1, 1, width)[None, :]
    masks = []
    for _ in range(batch):
        cy, cx, ry, rx = (torch.rand(4, generator=g) * torch.tensor([0.8, 0.8, 0.4, 0.4]) + torch.tensor(
            [-0.4, -0.4, 0.25, 0.25])).tolist()
        masks.append((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).float())
    return composite, torch.stack(masks)[:, None]


def _assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    diff = (actual - expected).abs()
    assert actual.shape == expected.shape
    assert torch.isfinite(actual).all()
    assert diff.max().item() <= MAX_TOL, f"max |diff| {diff.max().item():.3g}"
    assert diff.mean().item() <= MEAN_TOL, f"mean |diff| {diff.mean().item():.3g}"


# ----------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize(("name", "count"), [("iharmony", 9_994_295), ("ffhqh", 39_921_641)])
def test_layout_matches_spec_tsv(name: str, count: int) -> None:
    model = PHNet(CONFIGS[name])
    specs = FILL.read_specs(DATA / f"phnet_{name}_state_dict.tsv")
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == specs
    assert sum(p.numel() for p in model.parameters()) == count


def test_config_from_state_dict_tells_configurations_apart() -> None:
    assert config_from_state_dict(_spec_state_dict("iharmony")) == PHNET_IHARMONY
    ffhqh = _spec_state_dict("ffhqh")
    assert config_from_state_dict(ffhqh) == PHNET_FFHQH
    assert config_from_state_dict(ffhqh, resolution=1024).resolution == 1024
    wrapped = {"module." + k: v for k, v in ffhqh.items()}
    assert config_from_state_dict({"state_dict": wrapped}).name == "ffhqh"
    tiny = config_from_state_dict(PHNet(PHNET_TINY).state_dict())
    assert (tiny.name, tiny.enc, tiny.grids) == ("custom", PHNET_TINY.enc, PHNET_TINY.grids)


def test_wrong_state_dicts_give_readable_errors() -> None:
    with pytest.raises(ValueError, match="not a PHNet state dict: missing .*encoder.0.0.weight"):
        config_from_state_dict({"net.conv1.weight": torch.zeros(8, 3, 3, 3)})
    with pytest.raises(ValueError, match="not a PHNet state dict"):
        build_from_state_dict({})
    sd = _spec_state_dict("iharmony")
    del sd["skip.6.rconv.weight"]
    sd["decoder.0.1.running_mean"] = torch.zeros(3)
    with pytest.raises(StateDictMismatchError, match=r"(?s)Missing keys \(1\): skip.6.rconv.weight.*Shape mismatch"):
        build_from_state_dict(sd, what="broken.pth")


def test_build_from_state_dict_strips_prefixes_and_returns_eval_module() -> None:
    sd = {"module." + k: v for k, v in PHNet(PHNET_TINY).state_dict().items()}
    model = build_from_state_dict(sd)
    assert not model.training
    assert model.config.enc == PHNET_TINY.enc


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="7 positive channel counts"):
        PHNetConfig("bad", (3, 16, 32), (4, 3, 1), 512)
    with pytest.raises(ValueError, match="grids"):
        PHNetConfig("bad", PHNET_TINY.enc, (4,), 512)


# ------------------------------------------------------------------------------------------ conformance


@pytest.mark.parametrize("name", ["iharmony", "ffhqh"])
def test_fixture_conformance(name: str) -> None:
    fixture = torch.load(DATA / f"phnet_{name}_128x160.pt", weights_only=True)
    model = build_from_state_dict(_spec_state_dict(name, fixture["salt"]))
    with torch.inference_mode():
        output = model(fixture["composite"], fixture["mask"])
    _assert_close(output, fixture["output"])


@pytest.mark.parametrize(
    ("name", "height", "width", "salt"),
    [("iharmony", 136, 200, "a"), ("iharmony", 96, 264, "b"), ("ffhqh", 136, 200, "c"), ("ffhqh", 96, 264, "d")],
)
def test_matches_loop_reference_at_other_sizes_and_weights(name: str, height: int, width: int, salt: str) -> None:
    model = build_from_state_dict(_spec_state_dict(name, salt))
    composite, mask = _inputs(height, width, seed=len(salt) + height)
    with torch.inference_mode():
        output = model(composite, mask)
        expected = reference_forward(model, composite, mask)
    _assert_close(output, expected)


def test_batch_equals_single_images() -> None:
    model = build_from_state_dict(_spec_state_dict("iharmony", "batch"))
    composite, mask = _inputs(64, 96, seed=3, batch=3)
    with torch.inference_mode():
        batched = model(composite, mask)
        singles = torch.cat([model(composite[i : i + 1], mask[i : i + 1]) for i in range(3)])
    _assert_close(batched, singles)


def test_sizes_must_be_multiples_of_8() -> None:
    model = PHNet(PHNET_TINY).eval()
    with pytest.raises(ValueError, match=r"multiples of 8.*got 60x64.*Pad .* to 64x64"):
        model(torch.rand(1, 3, 60, 64), torch.ones(1, 1, 60, 64))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, 1, H, W\); got \(1, 3, 64, 64\)"):
        model(torch.rand(1, 3, 64, 64), torch.ones(1, 3, 64, 64))


def test_tiny_forward_is_a_whole_image_prediction() -> None:
    model = PHNet(PHNET_TINY).eval()
    composite, mask = _inputs(32, 48, seed=0, batch=2)
    with torch.inference_mode():
        out = model(composite, mask)
        expected = reference_forward(model, composite, mask)
    assert out.shape == (2, 3, 32, 48)
    assert ((out > 0) & (out < 1)).all()
    _assert_close(out, expected)


# ---------------------------------------------------------------------------------- blocks vs loop code


@pytest.mark.parametrize(("grid", "height", "width"), [(10, 68, 100), (5, 13, 29), (3, 9, 9), (10, 4, 6), (1, 7, 5)])
def test_pn_block_matches_loops(grid: int, height: int, width: int) -> None:
    g = torch.Generator().manual_seed(grid * 100 + height)
    block = PatchNormalization(4, grid)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + 0.5)
    f = torch.randn(2, 4, height, width, generator=g) * 2 + 1
    m = (torch.rand(2, 1, height, width, generator=g) > 0.6).float()
    m[1, :, : height // 2] = 0  # one sample with a whole band of background only
    with torch.no_grad():
        _assert_close(block(f, m), reference_pn(block, f, m))
        # the same formulas in float64 agree as well
        _assert_close(block.double()(f.double(), m.double()).float(), reference_pn(block, f, m))


@pytest.mark.parametrize(("grid", "height", "width"), [(5, 128, 160), (5, 37, 53), (3, 136, 200), (3, 8, 13)])
def test_colour_transfer_matches_loops(grid: int, height: int, width: int) -> None:
    block = PatchColorTransfer(grid)
    with torch.no_grad():
        block.patch_harmonizer.grid_weights.copy_(torch.tensor([0.7, 0.4]))
    composite, mask = _inputs(height, width, seed=grid + width, batch=2)
    with torch.no_grad():
        _, transferred = block.transfer(composite, mask)
        _assert_close(transferred, reference_transfer(block, composite, mask))
        _assert_close(block(composite, mask), reference_feature_extractor(block, composite, mask))


# ------------------------------------------------------------------------------------------ patch helpers


@pytest.mark.parametrize(("size", "grid"), [(10, 3), (68, 10), (9, 9), (4, 10), (1, 1), (100, 7)])
def test_patch_bounds_and_index(size: int, grid: int) -> None:
    bounds = patch_bounds(size, grid)
    assert bounds == loop_patch_bounds(size, grid)
    index = patch_index(size, grid)
    for i, (start, end) in enumerate(bounds):
        assert (index[start:end] == i).all()
    assert index.shape == (size,)


def test_patch_statistics_match_loops() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 23, 17, generator=g, dtype=torch.float64)
    w = torch.rand(2, 1, 23, 17, generator=g, dtype=torch.float64)
    grid = 4
    sums, means, variances, masked = (torch.zeros(2, 3, grid, grid, dtype=torch.float64) for _ in range(4))
    for i, (y0, y1) in enumerate(loop_patch_bounds(23, grid)):
        for j, (x0, x1) in enumerate(loop_patch_bounds(17, grid)):
            patch = x[:, :, y0:y1, x0:x1]
            sums[:, :, i, j] = patch.sum(dim=(2, 3))
            means[:, :, i, j] = patch.mean(dim=(2, 3))
            variances[:, :, i, j] = patch.var(dim=(2, 3))
            wp = w[:, :, y0:y1, x0:x1]
            masked[:, :, i, j] = (patch * wp).sum(dim=(2, 3)) / (wp.sum(dim=(2, 3)) + 1e-3)
    torch.testing.assert_close(patch_sum(x, grid), sums)
    torch.testing.assert_close(patch_mean(x, grid), means)
    mean, var = patch_var(x, grid)
    torch.testing.assert_close(mean, means)
    torch.testing.assert_close(var, variances)
    torch.testing.assert_close(patch_masked_mean(x, w, grid, 1e-3), masked)
    assert patch_counts(23, 17, grid).sum().item() == 23 * 17
    assert patch_counts(23, 17, grid)[-1, -1].item() == (23 - 3 * 5) * (17 - 3 * 4)
    pixels = patches_to_pixels(means, 23, 17)
    assert pixels.shape == x.shape
    assert pixels[1, 2, 22, 16] == means[1, 2, 3, 3] and pixels[0, 0, 5, 4] == means[0, 0, 1, 1]


def test_patch_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        patch_index(10, 0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        patch_sum(torch.zeros(3, 4, 5), 2)


# ------------------------------------------------------------------------------------------------ bench


def test_bench_runs_a_registered_case(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    tiny = BenchCase("phnet-tiny", lambda: PHNet(PHNET_TINY).eval(), composite_and_mask, 8)
    row = run_case(tiny, size=30, repeats=2, warmup=0)
    assert row.size == 32 and row.repeats == 2 and row.median_ms > 0 and row.images_per_s > 0
    assert "| phnet-tiny | cpu | fp32 | 32x32 | 1 |" in format_table([row])
    monkeypatch.setitem(BENCHMARKS, "tiny", lambda: [tiny])
    rows = main(["tiny", "--sizes", "16", "24", "--repeats", "1", "--device", "cpu"])
    assert [r.size for r in rows] == [16, 24]
    assert "| network | device | dtype | size |" in capsys.readouterr().out
