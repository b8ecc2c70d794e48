"""The painterly benchmark's measurements (harmonization.benchmarks.painterly_cases) on hand-made images."""

from __future__ import annotations

import pytest
import torch

from harmonization.benchmarks.painterly_cases import CASES, measure, naive_composite, regions
from harmonization.ops.color import rgb_to_lab


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    support = torch.zeros(1, 1, 96, 96)
    support[..., 32:64, 32:64] = 1.0
    return torch.full((1, 3, 96, 96), 0.6), support


def test_colour_distance_is_the_lab_wasserstein_distance() -> None:
    painting, support = _scene()
    composite = torch.where(support > 0, torch.full_like(painting, 0.2), painting)  # grey on grey: only L differs
    lab_region = rgb_to_lab(torch.full((1, 3, 1, 1), 0.2))
    lab_ring = rgb_to_lab(torch.full((1, 3, 1, 1), 0.6))
    expected = float((lab_region - lab_ring).abs().mean())  # two point masses: |difference| per channel
    assert measure(composite, composite, support)["color"] == pytest.approx(expected, abs=1e-3)
    assert measure(painting, composite, support)["color"] == pytest.approx(0.0, abs=1e-4)


def test_texture_structure_and_unchanged() -> None:
    g = torch.Generator().manual_seed(0)
    painting, support = _scene()
    noisy = (painting + 0.1 * torch.rand(1, 1, 96, 96, generator=g)).clamp(0, 1).expand(1, 3, 96, 96).contiguous()
    flat_region = torch.where(support > 0, torch.full_like(noisy, 0.6), noisy)
    m = measure(flat_region, flat_region, support)
    assert m["texture"] == pytest.approx(0.0, abs=1e-6) and m["unchanged"]
    assert measure(noisy, noisy, support)["texture"] == pytest.approx(1.0, abs=0.15)  # same noise inside and out
    yy = torch.linspace(0.2, 0.8, 96).view(1, 1, 96, 1).expand(1, 3, 96, 96)
    ramp = torch.where(support > 0, yy, painting)
    assert measure(ramp, ramp, support)["structure"] == pytest.approx(1.0, abs=1e-4)
    assert measure(1.0 - ramp, ramp, support)["structure"] < -0.99  # inverted luminance
    moved = ramp.clone()
    moved[..., 0, 0] += 0.1  # far from the mask
    assert not measure(moved, ramp, support)["unchanged"]
    region, ring = regions(support)
    assert not bool((region & ring).any()) and bool(ring.any())


def test_naive_composite_pastes_the_object_at_its_place() -> None:
    obj = torch.rand(1, 3, 40, 20)
    obj_mask = torch.zeros(1, 1, 40, 20)
    obj_mask[..., 10:30, 5:15] = 1.0
    painting = torch.zeros(1, 3, 100, 100)
    comp, mask = naive_composite(obj, obj_mask, painting, 0.2, (0.5, 0.5))
    assert mask.sum() == 20 * 10 and torch.equal(comp[mask.expand_as(comp) == 0], painting[mask.expand_as(comp) == 0])
    ys, xs = torch.nonzero(mask[0, 0], as_tuple=True)
    assert (int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())) == (40, 59, 45, 54)
    assert len(CASES) >= 18 and len({c.style for c in CASES}) >= 6
