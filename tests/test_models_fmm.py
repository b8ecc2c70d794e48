"""FMM: state-dict layout, conformance with the original network's outputs, and the exact fast rewrites.

Conformance data (tests/data): ``fmm_128x160.pt`` holds a composite, a mask and the ORIGINAL network's output for
the weights ``fill(read_specs(fmm_state_dict.tsv), salt="")`` (tests/data/fill_weights.py, the spec's
deterministic weight generator), wrapped here in the original file format. Other sizes and salts are checked
against the literal N x N reference in tests/_fmm_reference.py.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from harmonization.benchmarks.networks import fmm_cases
from harmonization.benchmarks.runner import BenchCase, format_table, run_case
from harmonization.models._loading import StateDictMismatchError
from harmonization.models.fmm import (
    FMM,
    FMMAttention,
    FMMConfig,
    _upsample2x_linear,
    build_from_state_dict,
    normalize_original_checkpoint,
)
from harmonization.ops.attention import fused_attention, spatial_std

from _fmm_reference import fb_fmm_reference, fmm_reference  # isort: skip

from _fill import DATA, FILL  # isort: skip

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_TOL, MEAN_TOL = 5e-5, 1e-6
RELEASED_PARAMETERS = 11_590_789


SPECS = FILL.read_specs(DATA / "fmm_state_dict.tsv")


def _specs_of(model: FMM) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def _original_format(sd: dict[str, torch.Tensor]) -> dict:
    return {"epoch": 1, "state_dict": {"module." + k: v for k, v in sd.items()}, "optimizer": {}}


@pytest.fixture(scope="module")
def released_sd() -> dict[str, torch.Tensor]:
    return FILL.fill(SPECS, "")


@pytest.fixture(scope="module")
def released_model(released_sd: dict[str, torch.Tensor]) -> FMM:
    return build_from_state_dict(_original_format(released_sd), what="fill('')")


def _mask(batch: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Random rectangles (at arbitrary pixel offsets, so 8x8 cells are partly covered) as a {0, 1} mask."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, 1, height, width)
    for b in range(batch):
        y0, x0 = (int(torch.randint(0, s // 2, (1,), generator=gen)) for s in (height, width))
        y1 = y0 + int(torch.randint(3, height - y0, (1,), generator=gen))
        x1 = x0 + int(torch.randint(3, width - x0, (1,), generator=gen))
        mask[b, :, y0:y1, x0:x1] = 1.0
    return mask


def _diff(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    d = (a.double() - b.double()).abs()
    return d.max().item(), d.mean().item()


# --------------------------------------------------------------------------------------------- layout, loading


def test_state_dict_layout_and_parameter_count() -> None:
    model = FMM()
    assert _specs_of(model) == SPECS  # same keys, shapes and order as the released file
    assert len(SPECS) == 100
    assert sum(p.numel() for p in model.parameters()) == RELEASED_PARAMETERS


def test_tiny_config_has_the_same_key_names() -> None:
    tiny = FMM(FMMConfig.tiny())
    assert list(tiny.state_dict()) == [k for k, _ in SPECS]
    assert FMMConfig.from_state_dict(tiny.state_dict()) == FMMConfig.tiny()
    assert FMMConfig.from_state_dict(FMM().state_dict()) == FMMConfig.released()


def test_normalize_accepts_original_format_and_plain_dicts(released_sd: dict[str, torch.Tensor]) -> None:
    original = normalize_original_checkpoint(_original_format(released_sd))
    assert list(original) == list(released_sd)
    assert all(original[k] is released_sd[k] for k in released_sd)
    assert list(normalize_original_checkpoint(released_sd)) == list(released_sd)


@pytest.mark.parametrize("bad", [[1, 2], "network.pth", {}, {"state_dict": [1]}, {"epoch": 3, "optimizer": {}}])
def test_normalize_rejects_other_objects_readably(bad: object) -> None:
    with pytest.raises(TypeError, match="state dict|state_dict"):
        normalize_original_checkpoint(bad)


def test_strict_loading_reports_missing_unexpected_and_shapes(released_sd: dict[str, torch.Tensor]) -> None:
    sd = dict(released_sd)
    del sd["FB_FMM.gamma"]
    sd["FB_FMM.extra"] = torch.zeros(1)
    sd["Up3.conv2d.bias"] = torch.zeros(17)
    with pytest.raises(StateDictMismatchError) as info:
        build_from_state_dict(_original_format(sd), what="broken.pth")
    text = str(info.value)
    assert "broken.pth" in text and "FB_FMM.gamma" in text and "FB_FMM.extra" in text
    assert "Up3.conv2d.bias: file (17,) vs model (16,)" in text


def test_phnet_like_dict_is_refused_with_a_report() -> None:
    with pytest.raises(StateDictMismatchError, match="Missing keys"):
        build_from_state_dict({"encoder.0.weight": torch.zeros(3, 3, 3, 3)})


def test_build_gives_eval_mode_model(released_model: FMM) -> None:
    assert not released_model.training
    assert released_model.config == FMMConfig.released()


# ----------------------------------------------------------------------------------------------- conformance


def test_fixture_conformance_original_file_format(released_model: FMM) -> None:
    fixture = torch.load(DATA / "fmm_128x160.pt", weights_only=True)
    assert fixture["salt"] == ""
    with torch.inference_mode():
        out = released_model(fixture["composite"], fixture["mask"])
    assert out.shape == (1, 3, 128, 160) and out.dtype == torch.float32
    max_diff, mean_diff = _diff(out, fixture["output"])
    assert max_diff <= MAX_TOL and mean_diff <= MEAN_TOL, (max_diff, mean_diff)


def test_fixture_conformance_literal_path(released_sd: dict[str, torch.Tensor]) -> None:
    model = build_from_state_dict(released_sd)
    model.fast = False
    fixture = torch.load(DATA / "fmm_128x160.pt", weights_only=True)
    with torch.inference_mode():
        out = model(fixture["composite"], fixture["mask"])
    max_diff, mean_diff = _diff(out, fixture["output"])
    assert max_diff <= MAX_TOL and mean_diff <= MEAN_TOL, (max_diff, mean_diff)


def test_reference_reproduces_the_fixture(released_sd: dict[str, torch.Tensor]) -> None:
    """The literal reference itself is trustworthy: it matches the original's output in float64."""
    fixture = torch.load(DATA / "fmm_128x160.pt", weights_only=True)
    ref = fmm_reference(released_sd, fixture["composite"].double(), fixture["mask"].double())
    max_diff, mean_diff = _diff(ref, fixture["output"])
    assert max_diff <= MAX_TOL and mean_diff <= MEAN_TOL, (max_diff, mean_diff)


@pytest.mark.parametrize(("height", "width", "salt", "batch"), [(96, 136, "a", 1), (64, 200, "b", 2)])
def test_released_width_other_sizes_and_salts_match_reference(height: int, width: int, salt: str, batch: int) -> None:
    """Float32 literal reference (it agrees with the original to ~6e-8 on the fixture, far inside the tolerance)."""
    sd = FILL.fill(SPECS, salt)
    model = build_from_state_dict(_original_format(sd))
    gen = torch.Generator().manual_seed(len(salt) + height)
    image = torch.rand(batch, 3, height, width, generator=gen)
    mask = _mask(batch, height, width, seed=height + width)
    with torch.inference_mode():
        out = model(image, mask)
        ref = fmm_reference(sd, image, mask)
    max_diff, mean_diff = _diff(out, ref)
    assert max_diff <= MAX_TOL and mean_diff <= MEAN_TOL, (max_diff, mean_diff)
    assert (out - image).abs().mean() > 1e-3  # the network does change the image


@pytest.mark.parametrize("kind", ["empty", "full", "mixed"])
def test_empty_full_and_batched_masks_match_reference(kind: str) -> None:
    config = FMMConfig.tiny()
    sd = FILL.fill(_specs_of(FMM(config)), "edge")
    model = build_from_state_dict(sd).double()
    image = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mask = {"empty": torch.zeros(2, 1, 40, 48), "full": torch.ones(2, 1, 40, 48)}.get(kind)
    if mask is None:
        mask = torch.cat([torch.zeros(1, 1, 40, 48), _mask(1, 40, 48, seed=5)])
    mask = mask.double()
    with torch.inference_mode():
        out = model(image, mask)
    ref = fmm_reference(sd, image, mask)
    assert _diff(out, ref)[0] < 1e-12


# ----------------------------------------------------------------------------------- attention block and ops


@pytest.mark.parametrize(
    ("mask_size", "soft"),
    [((96, 64), False), ((24, 16), False), ((12, 8), False), ((12, 8), True)],
    ids=["pooled-stride8", "pooled-stride2", "same-height-binary", "same-height-soft"],
)
def test_fb_fmm_block_matches_literal_reference(mask_size: tuple[int, int], soft: bool) -> None:
    """The FB_FMM block alone, in float64, both mask branches (pooled when the mask is taller, as is)."""
    config = FMMConfig.released()
    block = FMMAttention(config.bottleneck_channels, config.attention_channels).double()
    sd = FILL.fill([(f"FB_FMM.{k}", tuple(v.shape)) for k, v in block.state_dict().items()], "block")
    block.load_state_dict({k.removeprefix("FB_FMM."): v.double() for k, v in sd.items()})
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 256, 12, 8, generator=gen, dtype=torch.float64)
    mask = _mask(2, *mask_size, seed=7).double()
    if soft:
        mask = mask * torch.rand(mask.shape, generator=gen, dtype=torch.float64)
    with torch.inference_mode():
        out = block(x, mask)
    sd64 = {k: v.double() for k, v in sd.items()}
    ref = fb_fmm_reference(sd64, x, mask)
    assert out.shape == ref.shape == x.shape
    scale = ref.abs().max().item()
    assert _diff(out, ref)[0] <= 1e-10 * scale
    # sensitivity: both attention terms move the output far more than the tolerance
    without_fmm = fb_fmm_reference({**sd64, "FB_FMM.gamma": torch.zeros(1, dtype=torch.float64)}, x, mask)
    assert _diff(ref, without_fmm)[0] > 1e-3 * scale
    assert _diff(without_fmm, x)[0] > 1e-3 * scale


def test_mask_downsampling_rule() -> None:
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 0:1, 0:2] = 1  # the top-left 2x2 of the first 8x8 cell has mean 0.5 -> rounds to 0
    mask[..., 8:10, 8:9] = 1  # mean 0.5 again -> 0
    mask[..., 0:2, 9:11] = 1  # cell (0, 1): pixels (0,8),(1,8) are 0, (0,9),(1,9) are 1 -> 0.5 -> 0
    mask[..., 9:10, 0:2] = 1  # cell (1, 0): 2x2 window (8..9, 0..1) has 2 ones -> 0.5 -> 0
    mask[..., 8:10, 0:2] = 1  # now 4 ones -> 1
    pooled = FMMAttention.mask_at(mask, 2)
    assert pooled.tolist() == [[[[0.0, 0.0], [1.0, 0.0]]]]
    assert FMMAttention.mask_at(mask, 16) is mask


@pytest.mark.parametrize(("dk", "dv", "with_bias"), [(4, 16, False), (4, 16, True), (16, 16, True), (16, 4, True)])
def test_fused_attention_equals_explicit_softmax(dk: int, dv: int, with_bias: bool) -> None:
    gen = torch.Generator().manual_seed(dk + dv)
    q = torch.randn(2, 7, dk, generator=gen, dtype=torch.float64) * 2
    k = torch.randn(2, 9, dk, generator=gen, dtype=torch.float64)
    v = torch.randn(2, 9, dv, generator=gen, dtype=torch.float64)
    bias = torch.randn(2, 9, generator=gen, dtype=torch.float64) if with_bias else None
    scores = q @ k.transpose(1, 2) + (bias[:, None, :] if with_bias else 0)  # no 1/sqrt(d) scaling
    expected = torch.softmax(scores, dim=-1) @ v
    out = fused_attention(q, k, v, bias)
    assert out.shape == (2, 7, dv)
    assert torch.allclose(out, expected, atol=1e-12, rtol=0)


def test_fused_attention_key_bias_counts_duplicate_keys() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, n, d, generator=gen, dtype=torch.float64) for n, d in ((5, 3), (4, 3), (4, 6)))
    repeated_k = torch.cat([k, k[:, -1:].expand(1, 6, 3)], dim=1)  # the last key 7 times in all
    repeated_v = torch.cat([v, v[:, -1:].expand(1, 6, 6)], dim=1)
    bias = torch.tensor([[0.0, 0.0, 0.0, math.log(7)]], dtype=torch.float64)
    assert torch.allclose(fused_attention(q, k, v, bias), fused_attention(q, repeated_k, repeated_v), atol=1e-12)


def test_fused_attention_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="3-D"):
        fused_attention(torch.zeros(2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="same number of positions"):
        fused_attention(torch.zeros(1, 2, 3), torch.zeros(1, 4, 3), torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="key_bias"):
        fused_attention(torch.zeros(1, 2, 3), torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.zeros(1, 3))


def test_spatial_std_is_unbiased_over_the_whole_map_plus_eps() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    # mean 3, unbiased variance (4 + 1 + 0 + 9) / 3
    assert spatial_std(x, 1e-5).item() == pytest.approx(math.sqrt(14 / 3 + 1e-5), rel=1e-7)
    half = spatial_std(x.half(), 1e-5)
    assert half.dtype == torch.float32 and half.item() == pytest.approx(math.sqrt(14 / 3 + 1e-5), rel=1e-6)


# ---------------------------------------------------------------------------------- fast eval-mode rewrites


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_upsample2x_linear_equals_bilinear_align_corners(n: int) -> None:
    x = torch.randn(2, n, 3, 4, dtype=torch.float64)
    out = _upsample2x_linear(_upsample2x_linear(x, dim=1), dim=2)
    expected = F.interpolate(x.permute(0, 3, 1, 2), scale_factor=2, mode="bilinear", align_corners=True)
    assert torch.allclose(out, expected.permute(0, 2, 3, 1), atol=1e-14, rtol=0)


@pytest.mark.parametrize(("height", "width"), [(8, 16), (40, 24), (56, 72)])
def test_fast_path_equals_literal_path(height: int, width: int) -> None:
    """Folded batch norm, channels-last, reordered decoder, reduced FB attention == layer-by-layer (float64)."""
    config = FMMConfig.tiny()
    sd = FILL.fill(_specs_of(FMM(config)), f"fast{height}")
    model = build_from_state_dict(sd).double()
    image = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mask = _mask(2, height, width, seed=height).double()
    with torch.inference_mode():
        fast = model(image, mask)
        model.fast = False
        literal = model(image, mask)
    assert _diff(fast, literal)[0] < 1e-12
    assert _diff(fast, fmm_reference(sd, image, mask))[0] < 1e-12


def test_folded_weights_follow_parameter_updates() -> None:
    model = FMM(FMMConfig.tiny()).eval()
    image, mask = torch.rand(1, 3, 16, 24), _mask(1, 16, 24, seed=2)
    with torch.no_grad():
        first = model(image, mask)
        model.Down4.bn.running_var.mul_(4.0)  # in-place change: the folded cache must notice
        second = model(image, mask)
        model.fast = False
        literal = model(image, mask)
    assert not torch.equal(first, second)
    assert _diff(second, literal)[0] < 1e-6


def test_training_mode_is_literal_and_differentiable() -> None:
    model = FMM(FMMConfig.tiny()).train()
    image = torch.rand(2, 3, 16, 16, requires_grad=True)
    out = model(image, _mask(2, 16, 16, seed=1))
    out.square().mean().backward()
    assert model.Down1.conv2d.weight.grad is not None and image.grad is not None
    assert model.Down1.bn.num_batches_tracked.item() == 1  # batch statistics were used


def test_gradients_flow_in_eval_mode_fast_path() -> None:
    model = FMM(FMMConfig.tiny()).eval()
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    model(image, _mask(1, 16, 16, seed=4)).sum().backward()
    assert image.grad is not None and model.Up3.conv2d.weight.grad is not None


def test_bfloat16_runs_close_to_float32() -> None:
    model = FMM(FMMConfig.tiny()).eval()
    image, mask = torch.rand(1, 3, 32, 40), _mask(1, 32, 40, seed=9)
    with torch.inference_mode():
        ref = model(image, mask)
        out = model.to(torch.bfloat16)(image.bfloat16(), mask.bfloat16())
    assert out.dtype == torch.bfloat16
    assert _diff(out.float(), ref)[0] < 0.05


# --------------------------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(("height", "width"), [(100, 128), (128, 130), (8, 8)])
def test_sizes_not_multiple_of_8_are_refused_with_the_fix(height: int, width: int) -> None:
    model = FMM(FMMConfig.tiny()).eval()
    with pytest.raises(ValueError, match=rf"multiples of 8.*received {height}x{width}.*Resize or pad"):
        model(torch.rand(1, 3, height, width), torch.ones(1, 1, height, width))


def test_bad_shapes_and_dtypes_are_refused() -> None:
    model = FMM(FMMConfig.tiny()).eval()
    with pytest.raises(ValueError, match=r"mask has W=8 but image has W=16; the shapes \(B, 1, H, W\) must agree"):
        model(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 8))
    with pytest.raises(ValueError, match=r"image must have shape \(B, 3, H, W\); got \(1, 4, 16, 16\)"):
        model(torch.rand(1, 4, 16, 16), torch.ones(1, 1, 16, 16))
    with pytest.raises(ValueError, match="mask must be a floating-point tensor"):
        model(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16, dtype=torch.bool))
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        model([1.0], torch.ones(1, 1, 16, 16))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- memory, bench


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, torch
    from harmonization.models.fmm import FMM, FMMConfig
    config = FMMConfig.tiny() if sys.argv[1] == "tiny" else FMMConfig.released()
    model = FMM(config).eval()
    size = int(sys.argv[2])
    image = torch.rand(1, 3, size, size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: size // 2, size // 3: 2 * size // 3] = 1
    with torch.inference_mode():  # warm up (libraries, kernels) on a small input first
        model(image[..., :64, :64].contiguous(), mask[..., :64, :64].contiguous())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.inference_mode():
        out = model(image, mask)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(before // 1024, peak // 1024, bool(torch.isfinite(out).all()))
    """
)


def _peak_rss_mb(config: str, size: int) -> tuple[int, int, bool]:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, config, str(size)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=True,
    )
    before, peak, finite = result.stdout.split()
    return int(before), int(peak), finite == "True"


def test_attention_memory_is_linear_at_1024() -> None:
    """N = 16,384 positions: an N x N float32 score matrix alone would take 1 GiB; the fused path stays small."""
    before, peak, finite = _peak_rss_mb("tiny", 1024)
    assert finite
    assert peak - before < 400, (before, peak)


@pytest.mark.slow
def test_released_width_1024_runs_within_a_few_gb() -> None:
    _, peak, finite = _peak_rss_mb("released", 1024)
    assert finite
    assert peak < 3000, peak


def test_bench_cases_run_and_format() -> None:
    cases = fmm_cases()
    assert [c.name for c in cases] == ["fmm", "fmm-literal"]
    assert all(isinstance(c, BenchCase) and c.size_multiple == 8 for c in cases)
    row = run_case(cases[0], size=30, repeats=1, warmup=0)
    assert row.size == 32 and row.median_ms > 0
    assert "| fmm | cpu | fp32 | 32x32 |" in format_table([row])
