"""Metrics: MSE, fMSE, PSNR, fPSNR on hand-computed examples, and ``evaluate`` in both conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from harmonization import metrics
from harmonization.metrics import evaluate, fmse, fpsnr, mse, psnr, psnr_from_mse

# ------------------------------------------------------------------------------------------- low-level functions


def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 1x2 RGB images in the 0..255 scale and a mask selecting the first pixel."""
    target = torch.tensor([[[10.0, 200.0]], [[20.0, 30.0]], [[40.0, 50.0]]]).view(1, 3, 1, 2)
    # errors: pixel 0 -> (1, 2, 3); pixel 1 -> (4, 0, -6)
    pred = target + torch.tensor([[[1.0, 4.0]], [[2.0, 0.0]], [[3.0, -6.0]]]).view(1, 3, 1, 2)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    return pred, target, mask


def test_mse_hand_computed() -> None:
    pred, target, _ = _pair()
    out = mse(pred, target)
    assert out.shape == (1,) and out.dtype == torch.float64
    assert float(out) == pytest.approx((1 + 4 + 9 + 16 + 0 + 36) / 6)


def test_fmse_hand_computed_hard_and_soft() -> None:
    pred, target, mask = _pair()
    assert float(fmse(pred, target, mask)) == pytest.approx(14 / (3 + 1e-6))
    soft = torch.tensor([0.5, 0.25]).view(1, 1, 1, 2)
    assert float(fmse(pred, target, soft)) == pytest.approx((0.5 * 14 + 0.25 * 52) / (3 * 0.75 + 1e-6))
    assert float(fmse(pred, target, mask, eps=0.0)) == pytest.approx(14 / 3, rel=1e-12)


def test_psnr_and_fpsnr_use_the_target_peak_by_default() -> None:
    pred, target, mask = _pair()
    assert float(psnr(pred, target)) == pytest.approx(10 * math.log10(200**2 / (11 + 1e-6)))
    assert float(psnr(pred, target, peak=255.0)) == pytest.approx(10 * math.log10(255**2 / (11 + 1e-6)))
    expected_f = 10 * math.log10(200**2 / (14 / (3 + 1e-6) + 1e-6))
    assert float(fpsnr(pred, target, mask)) == pytest.approx(expected_f)
    assert float(psnr_from_mse(torch.tensor(100.0, dtype=torch.float64), 255.0, eps=0.0)) == pytest.approx(
        10 * math.log10(255**2 / 100)
    )


def test_metrics_are_per_image_over_a_batch() -> None:
    pred, target, mask = _pair()
    preds = torch.cat([pred, target])
    targets = torch.cat([target, target])
    masks = torch.cat([mask, mask])
    out = mse(preds, targets)
    assert out.shape == (2,)
    assert out.tolist() == pytest.approx([11.0, 0.0])
    assert fmse(preds, targets, masks).tolist() == pytest.approx([14 / (3 + 1e-6), 0.0])
    assert float(psnr(preds, targets)[1]) == pytest.approx(10 * math.log10(200**2 / 1e-6))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        mse(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3))
    with pytest.raises(ValueError, match="shape"):
        mse(torch.zeros(3, 2, 2), torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="mask"):
        fmse(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))


# -------------------------------------------------------------------------------------------------------- evaluate
#
# 256x256 inputs: neither convention resizes anything (bilinear at scale 1 is the identity, PIL returns a copy), so
# the expected numbers follow directly from the definitions in the spec.

N = 256
ERR = 10.0
FG = 64 * 64  # the error region
SOFT = 32 * 32  # a region with mask 0.4 and no error


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    target = np.full((N, N, 3), 50, np.uint8)
    target[200, 200] = 250  # outside the mask: sets max(target) = 250
    pred = target.copy()
    pred[:64, :64] += int(ERR)
    mask = np.zeros((N, N), np.float32)
    mask[:64, :64] = 1.0
    mask[100:132, 100:132] = 0.4
    return pred, target, mask


def test_evaluate_idih_hand_computed() -> None:
    pred, target, mask = _case()
    out = evaluate(pred, target, mask, convention="idih")
    assert set(out) == {"mse", "fmse", "psnr", "fpsnr"} and all(isinstance(v, float) for v in out.values())
    expected_mse = ERR**2 * FG / (N * N)  # 6.25
    expected_fmse = ERR**2 * 3 * FG / (3 * (FG + 0.4 * SOFT) + 1e-6)  # the soft mask counts in the denominator
    assert out["mse"] == pytest.approx(expected_mse, rel=1e-9)
    assert out["fmse"] == pytest.approx(expected_fmse, rel=1e-6)
    assert out["psnr"] == pytest.approx(10 * math.log10(250**2 / (expected_mse + 1e-6)), rel=1e-9)
    assert out["fpsnr"] == pytest.approx(10 * math.log10(250**2 / (expected_fmse + 1e-6)), rel=1e-6)


def test_evaluate_dovenet_hand_computed() -> None:
    pred, target, mask = _case()
    out = evaluate(pred, target, mask, convention="dovenet")
    expected_mse = ERR**2 * FG / (N * N)
    expected_fmse = ERR**2  # binary mask: the 0.4 region is not foreground
    data_range = 250 - 50  # pred.max() - pred.min()
    assert out["mse"] == pytest.approx(expected_mse, rel=1e-12)
    assert out["fmse"] == pytest.approx(expected_fmse, rel=1e-12)
    assert out["psnr"] == pytest.approx(10 * math.log10(data_range**2 / expected_mse), rel=1e-12)
    assert out["fpsnr"] == pytest.approx(10 * math.log10(data_range**2 / expected_fmse), rel=1e-12)


def test_evaluate_accepts_pil_and_tensors() -> None:
    pred, target, mask = _case()
    reference = evaluate(pred, target, mask, convention="idih")
    pred_t = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255
    target_t = torch.from_numpy(target).permute(2, 0, 1)[None].float() / 255
    mask_t = torch.from_numpy(mask)[None, None]
    from_tensors = evaluate(pred_t, target_t, mask_t, convention="idih")
    for key in reference:
        assert from_tensors[key] == pytest.approx(reference[key], rel=1e-4)
    mask8 = Image.fromarray(np.rint(mask * 255).astype(np.uint8), mode="L")
    from_pil = evaluate(Image.fromarray(pred), Image.fromarray(target), mask8, convention="dovenet")
    dovenet = evaluate(pred, target, mask, convention="dovenet")
    for key in dovenet:
        assert from_pil[key] == pytest.approx(dovenet[key], rel=1e-12)
    from_tensors = evaluate(pred_t, target_t, mask_t, convention="dovenet")
    for key in dovenet:
        assert from_tensors[key] == pytest.approx(dovenet[key], rel=1e-12)


@pytest.mark.parametrize("convention", metrics.CONVENTIONS)
def test_identical_images_give_zero_error_and_large_psnr(convention: str) -> None:
    _, target, mask = _case()
    out = evaluate(target, target, mask, convention=convention)  # type: ignore[arg-type]
    assert out["mse"] == 0.0 and out["fmse"] == 0.0
    assert out["psnr"] > 100 and out["fpsnr"] > 100
    if convention == "idih":
        assert out["psnr"] == pytest.approx(10 * math.log10(250**2 / 1e-6))


def test_idih_resizes_bilinearly_to_256() -> None:
    pred, target, mask = _case()
    reference = evaluate(pred, target, mask, convention="idih")
    # Each pixel repeated 2x2: bilinear downsampling by 2 (align_corners=False) averages two equal pixels, exactly.
    big = [np.kron(a, np.ones((2, 2, 1), a.dtype)) for a in (pred, target)]
    big_mask = np.kron(mask, np.ones((2, 2), mask.dtype))
    out = evaluate(big[0], big[1], big_mask, convention="idih")
    for key in reference:
        assert out[key] == pytest.approx(reference[key], rel=1e-9)


@pytest.mark.parametrize("convention", metrics.CONVENTIONS)
def test_other_sizes_are_resized(convention: str) -> None:
    gen = np.random.default_rng(0)
    target = gen.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    pred = np.clip(target.astype(int) + gen.integers(-20, 21, target.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((90, 130), bool)
    mask[20:60, 30:90] = True
    out = evaluate(pred, target, mask, convention=convention)  # type: ignore[arg-type]
    assert all(math.isfinite(v) for v in out.values())
    assert 0 < out["mse"] < 20**2 and 0 < out["fmse"] < 20**2


def test_dovenet_empty_mask_gives_nan_fmse() -> None:
    pred, target, _ = _case()
    out = evaluate(pred, target, np.zeros((N, N), bool), convention="dovenet")
    assert math.isnan(out["fmse"]) and out["mse"] > 0


def test_unknown_convention_lists_the_known_ones() -> None:
    pred, target, mask = _case()
    with pytest.raises(ValueError) as info:
        evaluate(pred, target, mask, convention="ssim")  # type: ignore[arg-type]
    assert "idih" in str(info.value) and "dovenet" in str(info.value)
