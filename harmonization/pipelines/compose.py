"""Cut a masked foreground, scale it and place it on a background (the naive cut-and-paste composite)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ops.mask import blend, check_image, check_mask, mask_bbox

__all__ = ["place_foreground"]


def place_foreground(
    foreground: torch.Tensor,
    foreground_mask: torch.Tensor,
    background: torch.Tensor,
    *,
    scale: float = 1.0,
    center: tuple[float, float] = (0.5, 0.5),
    flip: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste the masked part of ``foreground`` onto ``background``.

    The object (the bounding box of ``foreground_mask >= 0.5``) is resized so that its height is
    ``scale * background height`` (aspect ratio kept), optionally mirrored left-right, and placed with its centre at
    ``(center[0] * W, center[1] * H)`` of the background. Parts that fall outside the background are cut off.

    Args:
        foreground: ``(1, 3, h, w)`` float RGB in [0, 1].
        foreground_mask: ``(1, 1, h, w)`` in [0, 1] (soft edges are kept as partial opacity).
        background: ``(1, 3, H, W)`` float RGB in [0, 1].
        scale: object height relative to the background height, in (0, 4].
        center: relative ``(x, y)`` position of the object's centre; values outside [0, 1] move it partly out.
        flip: mirror the object horizontally.

    Returns:
        ``(composite, mask)``: ``(1, 3, H, W)`` and ``(1, 1, H, W)`` at the background's resolution.

    Raises:
        ValueError: empty foreground mask, bad scale, or an object placed entirely outside the background.
    """
    check_image(foreground, "foreground")
    check_mask(foreground_mask, foreground, "foreground_mask")
    check_image(background, "background")
    if not 0.0 < scale <= 4.0:
        raise ValueError(f"scale must be in (0, 4] (object height / background height); got {scale}.")
    box = mask_bbox(foreground_mask)
    if box is None:
        raise ValueError("The foreground mask is empty: paint or upload a mask of the object to cut out.")
    top, left, bottom, right = box
    obj = foreground[..., top:bottom, left:right]
    obj_mask = foreground_mask[..., top:bottom, left:right]
    out_h, out_w = background.shape[-2:]
    factor = scale * out_h / (bottom - top)
    new_h = max(1, round((bottom - top) * factor))
    new_w = max(1, round((right - left) * factor))
    stacked = torch.cat([obj, obj_mask], dim=1)
    stacked = F.interpolate(stacked, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=factor < 1)
    stacked = stacked.clamp(0.0, 1.0)
    if flip:
        stacked = stacked.flip(-1)
    y0 = round(center[1] * out_h - new_h / 2)
    x0 = round(center[0] * out_w - new_w / 2)
    # Intersection of the placed object with the background canvas.
    dy0, dx0 = max(0, y0), max(0, x0)
    dy1, dx1 = min(out_h, y0 + new_h), min(out_w, x0 + new_w)
    if dy0 >= dy1 or dx0 >= dx1:
        raise ValueError(
            f"The object placed at center={center} with scale={scale} lies entirely outside the background; "
            "use a center within [0, 1]."
        )
    canvas = torch.zeros(1, 4, out_h, out_w, dtype=background.dtype, device=background.device)
    canvas[..., dy0:dy1, dx0:dx1] = stacked[..., dy0 - y0 : dy1 - y0, dx0 - x0 : dx1 - x0]
    mask = canvas[:, 3:]
    composite = blend(canvas[:, :3], background, mask)
    return composite, mask
