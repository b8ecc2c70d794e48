"""Compose: cut the masked object, scale it relative to the background, place, flip and clip it; clean its edge
(soft alpha and the object's own colour, ``decontaminate=True``, the default) or paste the plain cut."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from PIL import Image

import harmonization
from harmonization import compose
from harmonization.cli import main as cli_main
from harmonization.ops.mask import dilate, erode, mask_bbox
from harmonization.pipelines.compose import default_edge_radius, place_foreground

BG_H, BG_W = 100, 200
ROOT = Path(__file__).resolve().parents[1]
RED, GREEN, BLUE = (0.9, 0.2, 0.1), (0.1, 0.8, 0.2), (0.1, 0.2, 0.9)
BOTH = pytest.mark.parametrize("decontaminate", [False, True])


def _foreground() -> tuple[torch.Tensor, torch.Tensor]:
    """A 40x30 foreground whose object (rows 10..30, cols 5..15) is red on its left half and green on its right."""
    image = torch.zeros(1, 3, 40, 30)
    image[:, 2] = 1.0  # blue surroundings must not leak into the composite
    image[:, :, 10:30, 5:10] = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    image[:, :, 10:30, 10:15] = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
    mask = torch.zeros(1, 1, 40, 30)
    mask[..., 10:30, 5:15] = 1.0
    return image, mask


def _background() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, BG_H, BG_W, generator=gen) * 0.5


def _constant(colour: tuple[float, float, float], height: int, width: int) -> torch.Tensor:
    return torch.tensor(colour).view(1, 3, 1, 1).expand(1, 3, height, width).contiguous()


def _object_extent(mask: torch.Tensor) -> tuple[float, float]:
    """Height and width of a pasted object as its alpha's mass through the middle column and row (soft edges count
    by their opacity)."""
    top, left, bottom, right = mask_bbox(mask)  # type: ignore[misc]
    return float(mask[0, 0, :, (left + right) // 2].sum()), float(mask[0, 0, (top + bottom) // 2].sum())


@BOTH
@pytest.mark.parametrize("scale", [0.25, 0.5, 0.83, 1.0, 1.3])
def test_object_height_is_scale_times_background_height(scale: float, decontaminate: bool) -> None:
    fg, mask = _foreground()
    composite, out_mask = place_foreground(fg, mask, _background(), scale=scale, decontaminate=decontaminate)
    assert composite.shape == (1, 3, BG_H, BG_W) and out_mask.shape == (1, 1, BG_H, BG_W)
    box = mask_bbox(out_mask)
    assert box is not None
    top, left, bottom, right = box
    height, width = bottom - top, right - left
    if decontaminate and scale < 1:  # soft edges: measure by opacity (an edge's 0.5 level may move by 1/2 px)
        height, width = _object_extent(out_mask)
    if scale * BG_H <= BG_H:
        assert abs(height - scale * BG_H) <= 1
    else:
        assert (top, bottom) == (0, BG_H)  # taller than the background: clipped at both ends
    assert abs(width - scale * BG_H / 2) <= 1  # aspect ratio 1:2 is kept


@BOTH
@pytest.mark.parametrize("center", [(0.5, 0.5), (0.3, 0.6), (0.8, 0.25)])
def test_object_centre_is_placed_at_the_relative_position(center: tuple[float, float], decontaminate: bool) -> None:
    fg, mask = _foreground()
    _, out_mask = place_foreground(fg, mask, _background(), scale=0.4, center=center, decontaminate=decontaminate)
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    assert abs((top + bottom) / 2 - center[1] * BG_H) <= 1
    assert abs((left + right) / 2 - center[0] * BG_W) <= 1


@BOTH
def test_object_colours_and_untouched_background(decontaminate: bool) -> None:
    fg, mask = _foreground()
    bg = _background()
    composite, out_mask = place_foreground(fg, mask, bg, scale=0.4, decontaminate=decontaminate)
    outside = (out_mask == 0).expand_as(bg)
    assert torch.equal(composite[outside], bg[outside])
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    mid = (top + bottom) // 2
    tolerance = 1e-2 if decontaminate else 1e-4  # the soft alpha of a crisp photo edge is crisp within 1 %
    assert composite[0, :, mid, left + 1].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=tolerance)  # red left
    assert composite[0, :, mid, right - 2].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=tolerance)  # green right
    assert float(composite[0, 2][out_mask[0, 0] >= 0.5].max()) < 0.5  # no blue surroundings were pasted


@BOTH
def test_flip_mirrors_the_object(decontaminate: bool) -> None:
    fg, mask = _foreground()
    bg = _background()
    plain, plain_mask = place_foreground(fg, mask, bg, scale=0.4, center=(0.5, 0.5), decontaminate=decontaminate)
    flipped, flipped_mask = place_foreground(fg, mask, bg, scale=0.4, center=(0.5, 0.5), flip=True,
                                             decontaminate=decontaminate)
    top, left, bottom, right = mask_bbox(plain_mask)  # type: ignore[misc]
    assert mask_bbox(flipped_mask) == (top, left, bottom, right)
    # The object's extent (with any soft edge around it) mirrors; where it is opaque, so do its colours.
    rows, cols = slice(top - 4, bottom + 4), slice(left - 4, right + 4)
    assert torch.equal(flipped_mask[..., rows, cols], plain_mask[..., rows, cols].flip(-1))
    opaque = (flipped_mask[..., rows, cols] == 1).expand(1, 3, -1, -1)
    assert torch.equal(flipped[..., rows, cols][opaque], plain[..., rows, cols].flip(-1)[opaque])
    mid = (top + bottom) // 2
    assert flipped[0, :, mid, left + 1].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-2)  # green now left


@BOTH
@pytest.mark.parametrize(
    ("center", "expected_edges"),
    [((0.0, 0.0), ("top", "left")), ((1.0, 1.0), ("bottom", "right")), ((0.0, 0.95), ("bottom", "left"))],
)
def test_object_is_clipped_at_the_borders(center: tuple[float, float], expected_edges: tuple[str, str],
                                          decontaminate: bool) -> None:
    fg, mask = _foreground()
    composite, out_mask = place_foreground(fg, mask, _background(), scale=0.4, center=center,
                                           decontaminate=decontaminate)
    assert composite.shape == (1, 3, BG_H, BG_W)
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    edges = {"top": top == 0, "left": left == 0, "bottom": bottom == BG_H, "right": right == BG_W}
    assert all(edges[name] for name in expected_edges)
    assert (bottom - top) < 0.4 * BG_H or (right - left) < 0.2 * BG_H  # part of the object is cut off


@BOTH
@pytest.mark.parametrize("center", [(5.0, 5.0), (-1.0, 0.5), (0.5, 1.5), (2.0, -3.0)])
def test_fully_outside_raises(center: tuple[float, float], decontaminate: bool) -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="entirely outside"):
        place_foreground(fg, mask, _background(), scale=0.4, center=center, decontaminate=decontaminate)


def test_empty_mask_raises() -> None:
    fg, _ = _foreground()
    with pytest.raises(ValueError, match="empty"):
        place_foreground(fg, torch.zeros(1, 1, 40, 30), _background())
    with pytest.raises(ValueError, match="empty"):
        place_foreground(fg, torch.full((1, 1, 40, 30), 0.4), _background())  # nothing reaches 0.5


@pytest.mark.parametrize("scale", [0.0, -0.5, 4.5])
def test_bad_scale_raises(scale: float) -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="scale"):
        place_foreground(fg, mask, _background(), scale=scale)


def test_bad_edge_radius_raises() -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="edge_radius must be at least 1"):
        place_foreground(fg, mask, _background(), edge_radius=0)


@BOTH
def test_soft_mask_is_kept_as_opacity(decontaminate: bool) -> None:
    fg, mask = _foreground()
    mask = mask * 0.6
    bg = _background()
    composite, out_mask = place_foreground(fg, mask, bg, scale=0.4, decontaminate=decontaminate)
    inside = erode((out_mask > 0).float(), 2)[0, 0] > 0  # away from the resampled (upscaled 2x) rim
    assert bool(inside.any())
    assert torch.allclose(out_mask[0, 0][inside], torch.full_like(out_mask[0, 0][inside], 0.6), atol=1e-5)


def test_public_compose_returns_pil_images_at_background_size() -> None:
    fg = (np.random.default_rng(0).random((50, 40, 3)) * 255).astype(np.uint8)
    fg_mask = np.zeros((50, 40), np.uint8)
    fg_mask[5:45, 10:30] = 255
    bg = np.full((61, 83, 3), (20, 90, 160), np.uint8)
    composite, mask = compose(Image.fromarray(fg), fg_mask, bg, scale=0.5, center=(0.25, 0.5), flip=True)
    assert isinstance(composite, Image.Image) and isinstance(mask, Image.Image)
    assert composite.mode == "RGB" and mask.mode == "L"
    assert composite.size == (83, 61) and mask.size == (83, 61)
    comp, m = np.asarray(composite), np.asarray(mask)
    np.testing.assert_array_equal(comp[m == 0], bg[m == 0])
    rows = np.nonzero(m.max(axis=1) >= 128)[0]
    cols = np.nonzero(m.max(axis=0) >= 128)[0]
    assert abs((rows[-1] + 1 - rows[0]) - 0.5 * 61) <= 1
    assert abs((cols[0] + cols[-1] + 1) / 2 - 0.25 * 83) <= 1


def test_public_compose_rejects_a_mask_of_another_size() -> None:
    with pytest.raises(ValueError, match="same size"):
        compose(np.zeros((20, 20, 3), np.uint8), np.ones((10, 20), bool), np.zeros((30, 30, 3), np.uint8))


# ------------------------------------------------------------------------------------ decontaminate=False is the old


def _plain_cut_reference(fg: torch.Tensor, mask: torch.Tensor, bg: torch.Tensor, scale: float,
                         center: tuple[float, float], flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The cut-and-paste as compose did it before edge cleaning: crop the mask's >= 0.5 box, resize the photo and
    mask together (bilinear, antialiased when shrinking), place, ``lerp`` with the mask (background where it is 0)."""
    hard = mask[0, 0] >= 0.5
    rows, cols = torch.nonzero(hard.any(1)).flatten(), torch.nonzero(hard.any(0)).flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    out_h, out_w = bg.shape[-2:]
    factor = scale * out_h / (bottom - top)
    size = (max(1, round((bottom - top) * factor)), max(1, round((right - left) * factor)))
    obj = torch.cat([fg, mask], 1)[..., top:bottom, left:right]
    obj = F.interpolate(obj, size=size, mode="bilinear", align_corners=False, antialias=factor < 1).clamp(0, 1)
    if flip:
        obj = obj.flip(-1)
    y0, x0 = round(center[1] * out_h - size[0] / 2), round(center[0] * out_w - size[1] / 2)
    canvas = torch.zeros(1, 4, out_h, out_w)
    for i in range(size[0]):  # row by row, so that the reference shares no slicing arithmetic with the code
        if 0 <= y0 + i < out_h:
            for j in range(size[1]):
                if 0 <= x0 + j < out_w:
                    canvas[0, :, y0 + i, x0 + j] = obj[0, :, i, j]
    alpha = canvas[:, 3:]
    return torch.where(alpha > 0, torch.lerp(bg, canvas[:, :3], alpha), bg), alpha


@pytest.mark.parametrize(("scale", "center", "flip", "soft"),
                         [(0.4, (0.5, 0.5), False, False), (0.83, (0.3, 0.6), True, False),
                          (1.3, (0.9, 0.1), False, True), (0.25, (0.02, 0.97), True, True)])
def test_plain_cut_is_bit_identical_to_the_old_behaviour(scale: float, center: tuple[float, float], flip: bool,
                                                        soft: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    fg = torch.rand(1, 3, 40, 30, generator=gen)
    _, mask = _foreground()
    if soft:
        mask = gaussian_blur2d(mask, (7, 7), (1.5, 1.5))
    bg = _background()
    composite, out_mask = place_foreground(fg, mask, bg, scale=scale, center=center, flip=flip, decontaminate=False)
    expected, expected_mask = _plain_cut_reference(fg, mask, bg, scale, center, flip)
    assert torch.equal(out_mask, expected_mask)
    assert torch.equal(composite, expected)


# ----------------------------------------------------------------------------------------- decontamination proper


def _known_matte(sigma: float = 1.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(photo, alpha, binary mask)`` of 64x96: a red 32x48 rectangle (rows 16..48, cols 24..72) with edges blurred
    by ``sigma`` px, photographed over green."""
    mask = torch.zeros(1, 1, 64, 96)
    mask[..., 16:48, 24:72] = 1.0
    size = 2 * math.ceil(3 * sigma) + 1
    alpha = gaussian_blur2d(mask, (size, size), (sigma, sigma))
    alpha = torch.where(alpha < 1e-4, 0.0, torch.where(alpha > 1 - 1e-4, 1.0, alpha))
    photo = alpha * _constant(RED, 64, 96) + (1 - alpha) * _constant(GREEN, 64, 96)
    return photo, alpha, mask


def _paste_in_place(photo: torch.Tensor, mask: torch.Tensor, bg: torch.Tensor, **options: object):
    # The box (rows 16..48, cols 24..72 of 64x96) centred at scale 0.5 on a 64x96 background: factor exactly 1, the
    # object lands on the same pixels, so results compare pixel by pixel with the truth.
    return place_foreground(photo, mask, bg, scale=0.5, center=(0.5, 0.5), **options)  # type: ignore[arg-type]


def test_a_soft_mask_is_pasted_with_the_object_colour_not_the_old_background() -> None:
    photo, alpha, mask = _known_matte()
    bg = _constant(BLUE, 64, 96)
    truth = alpha * _constant(RED, 64, 96) + (1 - alpha) * bg
    clean, clean_mask = _paste_in_place(photo, alpha, bg)
    naive, _ = _paste_in_place(photo, alpha, bg, decontaminate=False)
    assert torch.equal(clean_mask, alpha)  # a soft mask is the alpha, as it is
    band = ((dilate(mask, 4) - erode(mask, 4)) > 0).expand_as(bg)
    assert float((naive - truth)[band].abs().max()) > 0.2  # the naive cut carries green into the fringe
    assert float((clean - truth)[band].abs().max()) < 0.01


def test_a_binary_mask_gets_a_soft_edge_and_a_cleaner_fringe() -> None:
    photo, alpha, mask = _known_matte()
    bg = _constant(BLUE, 64, 96)
    truth = alpha * _constant(RED, 64, 96) + (1 - alpha) * bg
    clean, clean_mask = _paste_in_place(photo, mask, bg, edge_radius=2)
    naive, _ = _paste_in_place(photo, mask, bg, decontaminate=False)
    band = ((dilate(mask, 4) - erode(mask, 4)) > 0).expand_as(bg)
    naive_mse = float((naive - truth)[band].square().mean())
    clean_mse = float((clean - truth)[band].square().mean())
    assert clean_mse < naive_mse / 3
    assert float(clean[:, 1][band[:, 1]].mean()) < float(naive[:, 1][band[:, 1]].mean())  # less green in the fringe
    partial = (clean_mask > 0) & (clean_mask < 1)
    assert bool(partial.any())
    assert not bool((partial & ((dilate(mask, 2) - erode(mask, 2)) == 0)).any())  # soft only within 2 px


def test_opaque_pixels_and_the_background_beyond_the_band_are_bit_identical() -> None:
    rng = np.random.default_rng(5)
    photo = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 255
    mask[30:40, 20:24] = 255  # a bump: not a plain rectangle
    background = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    # The box (rows 16..48, cols 20..72) at scale 0.5 and its own centre: factor 1, the object lands on its pixels.
    composite, out_mask = harmonization.compose(photo, mask, background, scale=0.5, center=(46 / 96, 0.5))
    comp, alpha = np.asarray(composite), np.asarray(out_mask)
    radius = default_edge_radius(64, 96)
    hard = torch.from_numpy(mask >= 128).float()[None, None]
    # Opaque pixels are the photo's, exactly; everything deeper inside than the edge radius is opaque.
    np.testing.assert_array_equal(comp[alpha == 255], photo[alpha == 255])
    assert (alpha[erode(hard, radius)[0, 0].numpy() > 0] == 255).all()
    # Beyond the soft band (edge radius + 1 px of the mask) the background is untouched and the mask is 0.
    beyond = (dilate(hard, radius + 1) == 0)[0, 0].numpy()
    np.testing.assert_array_equal(comp[beyond], background[beyond])
    assert not alpha[beyond].any()


@pytest.mark.parametrize("edge_alpha", ["guided", "matting"])
def test_both_edge_alphas_keep_the_interior_and_the_background_beyond_the_band(edge_alpha: str) -> None:
    rng = np.random.default_rng(6)
    photo = torch.from_numpy(rng.random((1, 3, 48, 64))).float()
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 12:36, 16:48] = 1.0
    background = torch.from_numpy(rng.random((1, 3, 48, 64))).float()
    # Scale 0.5 at the box's own centre: factor 1, the object lands on its own pixels.
    composite, alpha = place_foreground(photo, mask, background, scale=0.5, center=(0.5, 0.5), edge_radius=2,
                                        edge_alpha=edge_alpha)
    assert torch.equal(alpha[erode(mask, 2) > 0], torch.ones(int((erode(mask, 2) > 0).sum())))
    beyond = dilate(mask, 3) == 0
    assert not bool(alpha[beyond].any())
    assert torch.equal(composite[beyond.expand_as(composite)], background[beyond.expand_as(background)])
    assert bool(((alpha > 0) & (alpha < 1)).any())


def test_an_unknown_edge_alpha_says_which_exist() -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="guided, matting; got 'closed'"):
        place_foreground(fg, mask, _background(), edge_alpha="closed")


def test_the_returned_mask_is_the_alpha_used() -> None:
    # A red object shot over green with its true (soft) alpha, shrunk onto a random background: the paste must be
    # a F + (1 - a) B with F red and `a` the returned mask, at every pixel (no green).
    photo, alpha, _ = _known_matte()
    bg = _background()
    composite, out_mask = place_foreground(photo, alpha, bg, scale=0.27, center=(0.4, 0.6))
    expected = out_mask * _constant(RED, BG_H, BG_W) + (1 - out_mask) * bg
    assert float((composite - expected).abs().max()) < 0.02
    naive, naive_mask = place_foreground(photo, alpha, bg, scale=0.27, center=(0.4, 0.6), decontaminate=False)
    expected_naive = naive_mask * _constant(RED, BG_H, BG_W) + (1 - naive_mask) * bg
    assert float((naive - expected_naive).abs().max()) > 0.1  # the plain cut is not: its edge carries green


# ------------------------------------------------------------------------------------ the API, the CLI and the app


def test_public_compose_decontaminates_by_default() -> None:
    assert inspect.signature(compose).parameters["decontaminate"].default is True
    photo, _, mask = _known_matte()
    rgb = (photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    mask8 = (mask[0, 0].numpy() * 255).astype(np.uint8)
    background = np.full((64, 96, 3), 40, np.uint8)
    default = [np.asarray(im) for im in compose(rgb, mask8, background, scale=0.5)]
    clean = [np.asarray(im) for im in compose(rgb, mask8, background, scale=0.5, decontaminate=True)]
    plain = [np.asarray(im) for im in compose(rgb, mask8, background, scale=0.5, decontaminate=False)]
    for a, b in zip(default, clean, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(default[0], plain[0])
    np.testing.assert_array_equal(plain[1], mask8)  # the plain cut's mask is the given one; the default is softer
    assert ((default[1] > 0) & (default[1] < 255)).sum() > 0


def test_cli_compose_no_decontaminate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, _, mask = _known_matte()
    Image.fromarray((photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / "fg.png")
    Image.fromarray((mask[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.fromarray(np.full((64, 96, 3), 40, np.uint8)).save(tmp_path / "bg.png")
    for flag, decontaminate in (([], True), (["--no-decontaminate"], False)):
        out, mask_out = tmp_path / f"out{decontaminate}.png", tmp_path / f"mask{decontaminate}.png"
        code = cli_main(["compose", "--foreground", str(tmp_path / "fg.png"), "--foreground-mask",
                         str(tmp_path / "mask.png"), "--background", str(tmp_path / "bg.png"), "--scale", "0.5",
                         "--out", str(out), "--mask-out", str(mask_out), *flag])
        assert code == 0
        expected = compose(tmp_path / "fg.png", tmp_path / "mask.png", tmp_path / "bg.png", scale=0.5,
                           decontaminate=decontaminate)
        np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(expected[0]))
        np.testing.assert_array_equal(np.asarray(Image.open(mask_out)), np.asarray(expected[1]))
    capsys.readouterr()


def test_the_app_portrait_tab_composes_with_the_default() -> None:
    # The portrait tab (app.run_portrait hands harmonization.serving.jobs.run_portrait to its queue lane) calls
    # harmonization.compose without overriding decontaminate, so the demo inherits the default.
    tree = ast.parse((ROOT / "harmonization" / "serving" / "jobs.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module in ("harmonization", "api") for alias in node.names}
    assert "compose" in imported
    functions = {node.name: node for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def compose_calls(function: ast.AST) -> list[ast.Call]:
        return [node for node in ast.walk(function)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "compose"]

    callers = {name for name, function in functions.items() if compose_calls(function)}
    used = {node.id for node in ast.walk(functions["run_portrait"]) if isinstance(node, ast.Name)}
    assert "run_portrait" in callers or used & callers
    calls = [call for name in callers for call in compose_calls(functions[name])]
    assert all(keyword.arg not in ("decontaminate", None) for call in calls for keyword in call.keywords)
