"""Cleanup of automatic subject masks: keep the subject, drop stray islands and faint specks, refuse an empty find.

A segmentation (the people model's probability, a GrabCut result) often holds, besides the subject, small islands
elsewhere in the photo and faint soft areas; pasted, those become ghosts, and the mask's bounding box (which places
the subject where the user clicks) grows to include them. :func:`clean_mask`:

1. takes the regions (8-connected) of ``mask >= 0.5``;
2. counts, in each, the *confident* pixels (``mask >= confident``); a region is a candidate when that core holds at
   least ``min_core`` of the image's pixels, and when no region is, there is no subject: :class:`NoSubjectFoundError`
   (a photo with no person gives the people model faint blotches, never a confident core);
3. keeps the largest candidate and every candidate at least ``keep_fraction`` of its area (two people side by side
   stay), and every region that touches an object seed (a stroke the user drew on the object);
4. optionally fills the holes of the kept regions (enclosed background pockets, 4-connected);
5. keeps soft values only within ``edge`` pixels of the kept regions (their soft rim), zero elsewhere, and, for soft
   masks, stretches the values linearly so that ``[0.25, 0.75]`` spans ``[0, 1]``: the 0.5 level (the hard mask)
   is unchanged, confident pixels become exactly 1 and faint ones exactly 0, so no semi-transparent interior or
   faint halo is pasted.

Shapes: masks ``(1, 1, H, W)`` float in [0, 1] (1 = subject); seeds ``(1, 1, H, W)`` bool.
"""

from __future__ import annotations

import math

import torch

from ..cvbridge import connected_components
from ..ops.mask import check_mask, dilate

__all__ = ["CONFIDENT", "KEEP_FRACTION", "MIN_CORE", "NoSubjectFoundError", "clean_mask", "fill_holes"]

#: Probability from which a pixel is confidently subject.
CONFIDENT = 0.9
#: The confident core a region needs, as a fraction of the image's pixels (0.1 %: a person of a few percent of the
#: photo has a core far larger; a landscape's faint blotches have none).
MIN_CORE = 1e-3
#: Regions this fraction of the largest kept one's area, or larger, are kept too.
KEEP_FRACTION = 0.2
# Soft masks are stretched so that this interval spans [0, 1] (0.5 stays 0.5).
_STRETCH = (0.25, 0.75)


class NoSubjectFoundError(ValueError):
    """The mask holds no confident region: nothing was found to cut out."""


def fill_holes(mask: torch.Tensor) -> torch.Tensor:
    """Fill the enclosed holes of a binary mask.

    A hole is a 4-connected region of background pixels that does not touch the image border.

    Args:
        mask: ``(1, 1, H, W)`` bool (or 0/1) tensor.

    Returns:
        ``(1, 1, H, W)`` bool tensor: the mask with its holes set.
    """
    check_mask(mask.float(), name="mask")
    solid = mask.bool()
    labels, _ = connected_components(~solid, connectivity=4)
    border = torch.cat([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).unique()
    outside = torch.isin(labels, border[border > 0])
    return solid | ((labels > 0) & ~outside)[None, None]


def clean_mask(
    mask: torch.Tensor,
    *,
    seeds: torch.Tensor | None = None,
    confident: float = CONFIDENT,
    min_core: float = MIN_CORE,
    keep_fraction: float = KEEP_FRACTION,
    edge: int | None = None,
    holes: bool = False,
    stretch: bool = True,
    nothing_found: str = "No subject was found in the image.",
) -> torch.Tensor:
    """Keep the main region(s) of a subject mask, drop islands and faint specks, refuse a mask with no subject.

    Args:
        mask: ``(1, 1, H, W)`` float in [0, 1], 1 = subject (a probability or a binary mask).
        seeds: optional ``(1, 1, H, W)`` bool, pixels known to be on the subject: every region touching them is
            kept, whatever its size or confidence.
        confident: probability from which a pixel is part of a confident core (in (0.5, 1]).
        min_core: confident pixels a region needs, as a fraction of the image's pixels (in [0, 1)).
        keep_fraction: candidates at least this fraction of the largest candidate's area are kept (in (0, 1]).
        edge: soft values survive within this many pixels of a kept region (default: 1 % of the long side, at
            least 2 px).
        holes: fill the enclosed holes of the kept regions (for object masks; people masks keep theirs: the gap
            between an arm and the body is background).
        stretch: map ``[0.25, 0.75]`` linearly onto ``[0, 1]`` (soft masks; a binary one is unchanged).
        nothing_found: the message of the error raised when nothing is kept (say what to do instead).

    Returns:
        ``(1, 1, H, W)`` float32 in [0, 1]: 0 beyond ``edge`` pixels of the kept regions.

    Raises:
        NoSubjectFoundError: no region has a confident core (and none touches a seed).
        ValueError: an option out of range.
    """
    check_mask(mask, name="mask")
    if mask.shape[0] != 1:
        raise ValueError(f"clean_mask works on one mask at a time; got a batch of {mask.shape[0]}.")
    if not 0.5 < confident <= 1.0:
        raise ValueError(f"confident must be in (0.5, 1]; got {confident}.")
    if not 0.0 <= min_core < 1.0:
        raise ValueError(f"min_core must be in [0, 1); got {min_core}.")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1]; got {keep_fraction}.")
    height, width = mask.shape[-2:]
    if edge is None:
        edge = max(2, math.ceil(0.01 * max(height, width)))
    mask = mask.float()
    hard = mask >= 0.5
    labels, areas = connected_components(hard, connectivity=8)
    count = int(areas.numel())
    core = torch.bincount(labels[(mask[0, 0] >= confident) & hard[0, 0]], minlength=count)
    candidate = core >= max(1.0, min_core * height * width)
    candidate[0] = False
    keep = torch.zeros(count, dtype=torch.bool, device=labels.device)
    if bool(candidate.any()):
        largest = int(areas[candidate].max())
        keep = candidate & (areas >= keep_fraction * largest)
    if seeds is not None:
        check_mask(seeds.float(), mask, "seeds")
        touched = labels[seeds[0, 0].bool()].unique()
        keep[touched[touched > 0]] = True
    if not bool(keep.any()):
        raise NoSubjectFoundError(nothing_found)
    kept = keep[labels][None, None]
    if holes:
        filled = fill_holes(kept)
        mask = torch.where(filled & ~kept, 1.0, mask)
        kept = filled
    rim = dilate(kept.float(), edge) > 0
    out = torch.where(rim & ~(hard & ~kept), mask, 0.0)
    if stretch:
        low, high = _STRETCH
        out = ((out - low) / (high - low)).clamp(0.0, 1.0)
    return out
