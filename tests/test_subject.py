"""Subject masks: the op-graph runner (TFLite semantics), the shipped selfie-segmentation network, its cleanup, edge
refinement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from harmonization import auto_mask, refine_mask
from harmonization.cvbridge import connected_components
from harmonization.image_io import load_image, load_mask
from harmonization.models.segmentation import OpGraph
from harmonization.ops.mask import dilate, erode, refine_mask_edges
from harmonization.pipelines.cleanup import NoSubjectFoundError
from harmonization.pipelines.subject import person_mask, subject_mask

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _graph(ops: list[dict], tensors: dict[str, torch.Tensor], size: tuple[int, int]) -> OpGraph:
    spec = {"input": "x", "output": ops[-1]["out"], "input_size": list(size), "ops": ops}
    return OpGraph.from_file_contents(tensors, {"format": "op-graph", "graph": json.dumps(spec)})


def test_same_padding_puts_the_extra_pixel_after_as_tensorflow_does() -> None:
    """4x4 ones, 3x3 ones kernel, stride 2, SAME: TF pads one row/column at the bottom/right only, so the four
    outputs count 9, 6, 6 and 4 ones (symmetric padding would give 4, 6, 6, 9)."""
    graph = _graph([{"op": "conv", "in": ["x"], "out": "y", "param": "c", "stride": [2, 2], "groups": 1,
                     "padding": "same", "act": None}],
                   {"c.weight": torch.ones(1, 1, 3, 3), "c.bias": torch.zeros(1)}, (4, 4))
    out = graph(torch.ones(1, 1, 4, 4))
    assert out.tolist() == [[[[9.0, 6.0], [6.0, 4.0]]]]


def test_transposed_conv_bias_and_activations() -> None:
    """Kernel == stride: every input pixel becomes a 2x2 block ``value * kernel + bias``."""
    kernel = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    graph = _graph([
        {"op": "conv_transpose", "in": ["x"], "out": "t", "param": "u", "stride": [2, 2]},
        {"op": "hardswish", "in": ["t"], "out": "h"},
        {"op": "add", "in": ["h", "t"], "out": "s", "act": "relu"},
    ], {"u.weight": kernel, "u.bias": torch.tensor([-1.0])}, (1, 2))
    x = torch.tensor([[[[1.0, -1.0]]]])
    t = torch.tensor([[0.0, 1.0, -2.0, -3.0], [2.0, 3.0, -4.0, -5.0]])
    expected = torch.relu(t * torch.clamp(t + 3, 0, 6) / 6 + t)
    torch.testing.assert_close(graph(x)[0, 0], expected)


def test_graph_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="Unsupported ops in the graph: softmax"):
        _graph([{"op": "softmax", "in": ["x"], "out": "y"}], {}, (2, 2))
    with pytest.raises(ValueError, match="missing"):
        _graph([{"op": "conv", "in": ["x"], "out": "y", "param": "c", "stride": [1, 1], "groups": 1,
                 "padding": "valid", "act": None}], {"c.weight": torch.ones(1, 1, 1, 1)}, (2, 2))
    with pytest.raises(ValueError, match="Not an op-graph file"):
        OpGraph.from_file_contents({}, {"format": "phnet-safetensors"})


@pytest.mark.parametrize("stem", ["matplotlib_grace_hopper", "skimage_astronaut"])
def test_shipped_selfie_model_reproduces_the_reference_masks(stem: str) -> None:
    """The examples' masks were made with MediaPipe's selfie model through an independent TorchScript conversion
    (256x256, resized back, threshold 0.5); ours must agree."""
    image = np.asarray(Image.open(EXAMPLES / f"{stem}.jpg").convert("RGB"))
    reference = np.asarray(Image.open(EXAMPLES / f"{stem}_mask.png").convert("L")) > 127
    found = np.asarray(auto_mask(image)) > 127
    assert found.shape == reference.shape
    assert (found & reference).sum() / (found | reference).sum() > 0.99


def test_subject_mask_finds_no_person_in_a_plain_scene() -> None:
    t = torch.linspace(0, 1, 96)
    scene = torch.stack([t.view(1, -1).expand(64, -1), 0.5 * torch.ones(64, 96), t.flip(0).view(1, -1).expand(64, -1)])
    probability = subject_mask(scene[None])
    assert probability.shape == (1, 1, 64, 96) and float(probability.mean()) < 0.05
    with pytest.raises(ValueError, match="No person was found"):
        auto_mask(scene[None].permute(0, 2, 3, 1)[0].mul(255).byte().numpy())


def _disk_scene(size: int = 96, radius: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disk = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius**2).float()[None, None]
    torch.manual_seed(0)
    fg, bg = torch.tensor([0.9, 0.6, 0.3]), torch.tensor([0.1, 0.3, 0.6])
    image = (disk * fg.view(1, 3, 1, 1) + (1 - disk) * bg.view(1, 3, 1, 1) + 0.03 * torch.randn(1, 3, size, size))
    return image.clamp(0, 1), disk


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a >= 0.5, b >= 0.5
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("grow", [True, False], ids=["painted-too-wide", "painted-too-narrow"])
def test_refine_snaps_a_rough_mask_to_the_edge(grow: bool) -> None:
    image, disk = _disk_scene()
    rough = dilate(disk, 5) if grow else erode(disk, 5)
    refined = refine_mask_edges(image, rough, band=8)
    assert _iou(rough, disk) < 0.85
    assert _iou(refined, disk) > 0.97
    # farther than the band from the painted edge nothing changes
    far = (erode(rough, 8) + (1 - dilate(rough, 8))) > 0
    assert torch.equal(refined[far], rough[far])


def test_refine_mask_api_and_errors() -> None:
    image, disk = _disk_scene()
    rgb8 = image[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    refined = refine_mask(rgb8, (dilate(disk, 4)[0, 0] * 255).byte().numpy())
    assert refined.size == (96, 96) and refined.mode == "L"
    assert _iou(torch.from_numpy(np.asarray(refined) / 255.0)[None, None], disk) > 0.97
    with pytest.raises(ValueError, match="The mask is empty"):
        refine_mask(rgb8, np.zeros((96, 96), np.uint8))
    with pytest.raises(ValueError, match="covers the whole image"):
        refine_mask(rgb8, np.full((96, 96), 255, np.uint8))
    with pytest.raises(ValueError, match="band must be at least 1"):
        refine_mask_edges(image, disk, band=0)


def test_separable_morphology_equals_the_square_max_filter() -> None:
    torch.manual_seed(1)
    mask = (torch.rand(1, 1, 37, 53) > 0.8).float()
    for radius in (1, 2, 5):
        size = 2 * radius + 1
        torch.testing.assert_close(dilate(mask, radius), F.max_pool2d(mask, size, 1, radius), rtol=0, atol=0)
        torch.testing.assert_close(erode(mask, radius), -F.max_pool2d(-mask, size, 1, radius), rtol=0, atol=0)


def test_person_mask_keeps_the_person_and_drops_the_stray_islands() -> None:
    """The selfie model's raw mask of the astronaut has a few small islands besides her; the cleaned mask is one
    region, exactly 0 beyond its narrow rim, and still the reference mask."""
    image = load_image(EXAMPLES / "skimage_astronaut.jpg")
    reference = load_mask(EXAMPLES / "skimage_astronaut_mask.png")
    _, raw_areas = connected_components(subject_mask(image) >= 0.5)
    assert len(raw_areas) > 2, "the raw mask must have islands for this test to mean anything"
    calls: list[tuple[float, str]] = []
    cleaned = person_mask(image, progress=lambda fraction, message: calls.append((fraction, message)))
    _, areas = connected_components(cleaned >= 0.5)
    assert len(areas) == 2
    assert bool((cleaned[dilate((cleaned >= 0.5).float(), 6) == 0] == 0).all())
    assert _iou(cleaned, reference) > 0.99
    fractions = [fraction for fraction, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_person_mask_cleans_a_large_photo_at_the_working_size() -> None:
    image = load_image(EXAMPLES / "matplotlib_grace_hopper.jpg")
    reference = load_mask(EXAMPLES / "matplotlib_grace_hopper_mask.png")
    cleaned = person_mask(image, work_side=128)
    assert cleaned.shape == reference.shape and _iou(cleaned, reference) > 0.97
    with pytest.raises(NoSubjectFoundError, match="No person was found"):
        person_mask(torch.full((1, 3, 64, 64), 0.5))


def test_auto_mask_reports_progress_and_says_no_person_on_an_empty_scene() -> None:
    calls: list[float] = []
    mask = auto_mask(EXAMPLES / "skimage_astronaut.jpg", progress=lambda fraction, message: calls.append(fraction))
    assert mask.mode == "L" and calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    with pytest.raises(ValueError, match="draw a box around the subject"):
        auto_mask(np.full((64, 64, 3), 128, np.uint8))
