"""Cut a masked foreground, scale it and place it on a background.

By default the cut is cleaned at its edge (see :func:`place_foreground`): a binary mask gets a narrow soft alpha that
follows the photo, and the partially transparent pixels are pasted with the object's own colour (foreground
estimation, :mod:`harmonization.ops.matting`) instead of the photo's, which still holds the colour of the background
the object was cut from. ``decontaminate=False`` is the plain cut-and-paste.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ops.closed_form import matting_alpha
from ..ops.mask import blend, check_image, check_mask, mask_bbox
from ..ops.matting import foreground_in_band, is_soft_mask, soft_alpha

__all__ = ["place_foreground", "default_edge_radius", "EDGE_ALPHAS"]

# How a binary mask's soft edge is made: "guided" = guided filter of the mask with the photo as guide
# (ops.matting.soft_alpha), "matting" = closed-form matting in the edge band, smoothed by a guided filter of the same
# radius (ops.closed_form.matting_alpha; opt-in: on the benchmark's tune split it takes the fringe's lean from -0.40 to
# -0.06 dE but raises the band error by 64 %, see the README's clean-edges section).
EDGE_ALPHAS = ("guided", "matting")


def default_edge_radius(height: int, width: int) -> int:
    """Half-width in pixels of the soft edge given to a binary mask: 1/320 of the photo's long side, at least 2 px
    (2 px on a 640 px photo, 6 px at 2000 px, 17 px at 20 megapixels)."""
    return max(2, round(max(height, width) / 320))


def _context(radius: int) -> int:
    """Tile margin of the foreground estimation: the soft band's half-width and 16 pixels more, where the object's own
    colour and the old background's are seen clearly."""
    return 16 + radius


def _paste(stacked: torch.Tensor, top: int, left: int, out_h: int, out_w: int) -> torch.Tensor | None:
    """A zero ``(1, C, out_h, out_w)`` canvas holding ``stacked`` with its top-left corner at ``(top, left)`` (cut off
    at the borders), or None when nothing of it lands on the canvas."""
    new_h, new_w = stacked.shape[-2:]
    dy0, dx0 = max(0, top), max(0, left)
    dy1, dx1 = min(out_h, top + new_h), min(out_w, left + new_w)
    if dy0 >= dy1 or dx0 >= dx1:
        return None
    canvas = torch.zeros(1, stacked.shape[1], out_h, out_w, dtype=stacked.dtype, device=stacked.device)
    canvas[..., dy0:dy1, dx0:dx1] = stacked[..., dy0 - top : dy1 - top, dx0 - left : dx1 - left]
    return canvas


def _edge_alpha_and_colour(
    foreground: torch.Tensor, foreground_mask: torch.Tensor, box: tuple[int, int, int, int], radius: int,
    edge_alpha: str = "guided",
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]:
    """Alpha and decontaminated colour of the part of the photo that is pasted.

    That part (``crop = (top, left, bottom, right)`` in the photo) is the object's box grown by ``radius + 1`` px for
    a binary mask (the soft edge reaches ``radius`` px outside it, one more for the resampling footprint), or every
    pixel a soft mask does not exclude (``> 0``) and one more around them. The edge operations see a wider region
    (``2 * radius + 16`` more pixels, the tile margins of both) so that the crop's border does not change them.
    Returns ``(alpha, colour, crop)``, ``alpha`` and ``colour`` of the crop's size.
    """
    height, width = foreground.shape[-2:]
    soft = is_soft_mask(foreground_mask)
    if soft:
        top, left, bottom, right = mask_bbox(foreground_mask, threshold=1e-12) or box
        pad = 1
    else:
        top, left, bottom, right = box
        pad = radius + 1
    crop = (max(0, top - pad), max(0, left - pad), min(height, bottom + pad), min(width, right + pad))
    context = (4 if edge_alpha == "matting" else 2) * radius + 16
    region = (max(0, crop[0] - context), max(0, crop[1] - context), min(height, crop[2] + context),
              min(width, crop[3] + context))
    image = foreground[..., region[0] : region[2], region[1] : region[3]]
    mask = foreground_mask[..., region[0] : region[2], region[1] : region[3]].to(image.dtype)
    if soft:
        alpha = mask
    elif edge_alpha == "matting":
        alpha = matting_alpha(image, mask, radius, smooth_radius=radius)
    else:
        alpha = soft_alpha(image, mask, radius)
    colour = foreground_in_band(image, alpha, margin=_context(radius))
    rows = slice(crop[0] - region[0], crop[2] - region[0])
    cols = slice(crop[1] - region[1], crop[3] - region[1])
    return alpha[..., rows, cols], colour[..., rows, cols], crop


def place_foreground(
    foreground: torch.Tensor,
    foreground_mask: torch.Tensor,
    background: torch.Tensor,
    *,
    scale: float = 1.0,
    center: tuple[float, float] = (0.5, 0.5),
    flip: bool = False,
    decontaminate: bool = True,
    edge_radius: int | None = None,
    edge_alpha: str = "guided",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste the masked part of ``foreground`` onto ``background``.

    The object (the bounding box of ``foreground_mask >= 0.5``) is resized so that its height is
    ``scale * background height`` (aspect ratio kept), optionally mirrored left-right, and placed with its centre at
    ``(center[0] * W, center[1] * H)`` of the background. Parts that fall outside the background are cut off.

    With ``decontaminate`` (the default) the edge is cleaned first, at the foreground's full resolution and only in
    a band along the edge:

    - Alpha: a mask that already has a soft edge (:func:`~harmonization.ops.matting.is_soft_mask`, e.g. a refined
      mask) is the alpha as it is, all of it (not only its ``>= 0.5`` box); a binary one (brush, thresholded
      automatic mask) gets a soft edge of ``edge_radius`` px on each side that follows the photo
      (``edge_alpha="guided"``: :func:`~harmonization.ops.matting.soft_alpha`, a guided filter of the mask;
      ``"matting"``: :func:`~harmonization.ops.closed_form.matting_alpha`, closed-form matting in that band
      smoothed by a guided filter of ``edge_radius``),
      exactly 1 inside and 0 outside that band.
    - Colour: where the alpha is partial, the photo's pixel mixes the object with the background it was cut from;
      the object's own colour is estimated (:func:`~harmonization.ops.matting.foreground_in_band`) and pasted with
      the alpha instead. Opaque pixels keep the photo's colour exactly.
    - The alpha and the premultiplied colour are resized together, so the resampling mixes no colour of transparent
      pixels in. The returned mask is the alpha used for the paste.

    ``decontaminate=False`` is the plain cut: the photo's colours with the mask as opacity, cropped to the box.

    Args:
        foreground: ``(1, 3, h, w)`` float RGB in [0, 1].
        foreground_mask: ``(1, 1, h, w)`` in [0, 1] (soft edges are kept as partial opacity).
        background: ``(1, 3, H, W)`` float RGB in [0, 1].
        scale: object height relative to the background height, in (0, 4].
        center: relative ``(x, y)`` position of the object's centre; values outside [0, 1] move it partly out.
        flip: mirror the object horizontally.
        decontaminate: soft alpha for binary masks and the object's own colour at the edge.
        edge_radius: half-width of the soft edge in foreground pixels (>= 1); default
            :func:`default_edge_radius` of the foreground's size. Only used with ``decontaminate``.
        edge_alpha: how a binary mask's soft edge is made, one of :data:`EDGE_ALPHAS` (see above). Only used with
            ``decontaminate``.

    Returns:
        ``(composite, mask)``: ``(1, 3, H, W)`` and ``(1, 1, H, W)`` at the background's resolution. Wherever
        ``mask`` is 0 the composite is ``background`` bit-identically; with ``decontaminate`` and a binary mask the
        mask is 0 beyond ``edge_radius + 1`` foreground pixels (resized with the object) of the pasted mask, with a
        soft mask beyond one pixel of where it is 0.

    Raises:
        ValueError: empty foreground mask, bad scale or edge radius, or an object placed entirely outside the
            background.
    """
    check_image(foreground, "foreground")
    check_mask(foreground_mask, foreground, "foreground_mask")
    check_image(background, "background")
    if not 0.0 < scale <= 4.0:
        raise ValueError(f"scale must be in (0, 4] (object height / background height); got {scale}.")
    if len(center) != 2 or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                                   for c in center):
        raise ValueError(f"center must be two finite numbers (x, y) relative to the background (0.5 0.5 = the "
                         f"middle); got {tuple(center)!r}.")
    if edge_radius is not None and edge_radius < 1:
        raise ValueError(f"edge_radius must be at least 1 pixel (or None for the default); got {edge_radius}.")
    if edge_alpha not in EDGE_ALPHAS:
        raise ValueError(f"edge_alpha must be one of {', '.join(EDGE_ALPHAS)}; got {edge_alpha!r}.")
    box = mask_bbox(foreground_mask)
    if box is None:
        raise ValueError("The foreground mask is empty: paint or upload a mask of the object to cut out.")
    top, left, bottom, right = box
    out_h, out_w = background.shape[-2:]
    factor = scale * out_h / (bottom - top)
    new_h = max(1, round((bottom - top) * factor))
    new_w = max(1, round((right - left) * factor))
    y0 = round(center[1] * out_h - new_h / 2)
    x0 = round(center[0] * out_w - new_w / 2)
    if max(0, y0) >= min(out_h, y0 + new_h) or max(0, x0) >= min(out_w, x0 + new_w):
        raise ValueError(
            f"The object placed at center={center} with scale={scale} lies entirely outside the background; "
            "use a center within [0, 1]."
        )
    if not decontaminate:
        obj = foreground[..., top:bottom, left:right]
        obj_mask = foreground_mask[..., top:bottom, left:right]
        stacked = torch.cat([obj, obj_mask], dim=1)
        stacked = F.interpolate(stacked, size=(new_h, new_w), mode="bilinear", align_corners=False,
                                antialias=factor < 1)
        stacked = stacked.clamp(0.0, 1.0)
        if flip:
            stacked = stacked.flip(-1)
        canvas = _paste(stacked.to(background.dtype), y0, x0, out_h, out_w)
        assert canvas is not None  # the box lands on the background (checked above)
        mask = canvas[:, 3:]
        return blend(canvas[:, :3], background, mask), mask

    height, width = foreground.shape[-2:]
    radius = default_edge_radius(height, width) if edge_radius is None else edge_radius
    alpha, colour, (c_top, c_left, c_bottom, c_right) = _edge_alpha_and_colour(foreground, foreground_mask, box,
                                                                               radius, edge_alpha)
    sy, sx = new_h / (bottom - top), new_w / (right - left)
    size = (max(1, round((c_bottom - c_top) * sy)), max(1, round((c_right - c_left) * sx)))
    stacked = torch.cat([colour * alpha, alpha], dim=1)  # premultiplied: transparent pixels add no colour
    stacked = F.interpolate(stacked, size=size, mode="bilinear", align_corners=False, antialias=factor < 1)
    stacked = stacked.clamp(0.0, 1.0)
    lead_x = left - c_left
    if flip:
        stacked = stacked.flip(-1)
        lead_x = c_right - right
    canvas = _paste(stacked.to(background.dtype), y0 - round((top - c_top) * sy), x0 - round(lead_x * sx), out_h,
                    out_w)
    assert canvas is not None  # the grown crop holds the box, which lands on the background
    mask = canvas[:, 3:]
    colour = torch.where(mask > 0, canvas[:, :3] / mask.clamp_min(1e-12), 0.0).clamp(0.0, 1.0)
    return blend(colour, background, mask), mask
