"""The OpenCV boundary: the two OpenCV calls the mask tools use, with tensors in and tensors out.

OpenCV works on NumPy arrays; this module is the only place (besides :mod:`harmonization.image_io`) that converts
tensors to NumPy, and the only one that imports ``cv2`` (``opencv-python-headless``). Everything above it sees
tensors only:

- :func:`grabcut`: OpenCV's GrabCut (Rother, Kolmogorov, Blake, "GrabCut: interactive foreground extraction using
  iterated graph cuts", SIGGRAPH 2004): Gaussian-mixture colour models of object and background and a min-cut on the
  pixel grid, iterated. It is run one iteration per call so that the caller can report progress; the colour models
  are carried from one call to the next, which gives the same result as one call with all iterations.
- :func:`connected_components`: labels of the 8- or 4-connected regions of a binary mask and their areas.

Shapes: images ``(1, 3, H, W)`` float RGB in [0, 1]; masks ``(1, 1, H, W)``; batches of one (these are interactive
tools working on one photo).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

try:
    import cv2
except ImportError as exc:  # pragma: no cover - the dependency is declared; this names it when it is missing
    raise ImportError(
        "The box/scribble subject mask needs OpenCV: pip install opencv-python-headless "
        "(it is listed in requirements.txt and in the package's dependencies)."
    ) from exc

__all__ = ["BACKGROUND", "OBJECT", "PROBABLY_BACKGROUND", "PROBABLY_OBJECT", "connected_components", "grabcut"]

#: Seed labels of :func:`grabcut` (OpenCV's values): sure background, sure object, probable background, probable
#: object. Sure pixels never change; probable ones are decided by the colour models and the cut.
BACKGROUND, OBJECT, PROBABLY_BACKGROUND, PROBABLY_OBJECT = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD

# GrabCut's Gaussian-mixture colour models need a few samples per component (5 components per model).
_MIN_SAMPLES = 10


def _single(tensor: torch.Tensor, channels: int, name: str) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] != channels:
        got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name} must be a (1, {channels}, H, W) tensor; got {got}.")


def _rgb8(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8, C-contiguous (what ``cv2.grabCut`` reads)."""
    array = image[0].detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).permute(1, 2, 0)
    return np.ascontiguousarray(array.cpu().numpy())


def grabcut(
    image: torch.Tensor,
    seeds: torch.Tensor,
    iterations: int,
    *,
    on_iteration: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Object mask from seed labels by GrabCut.

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1] (quantised to 8 bits, as OpenCV takes it).
        seeds: ``(1, 1, H, W)`` integer tensor of :data:`BACKGROUND`, :data:`OBJECT`, :data:`PROBABLY_BACKGROUND`
            and :data:`PROBABLY_OBJECT`; both colour models need samples (sure or probable pixels of each side).
        iterations: rounds of colour-model fitting and min-cut (>= 1).
        on_iteration: called with the number of finished iterations after each one (for progress).

    Returns:
        ``(1, 1, H, W)`` bool tensor on the image's device, True = object (sure or probable after the last cut).

    Raises:
        ValueError: wrong shapes, an iteration count below 1, or too few pixels on one side to fit a colour model.
    """
    _single(image, 3, "image")
    _single(seeds, 1, "seeds")
    if seeds.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"seeds are {tuple(seeds.shape[-2:])} but the image is {tuple(image.shape[-2:])}; "
                         "give one label per pixel.")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1; got {iterations}.")
    labels = np.ascontiguousarray(seeds[0, 0].detach().to(torch.uint8).cpu().numpy())
    if labels.max() > 3:
        raise ValueError(f"seed labels must be 0..3 (background, object, probable background, probable object); "
                         f"got {int(labels.max())}.")
    object_side = int(np.count_nonzero((labels == OBJECT) | (labels == PROBABLY_OBJECT)))
    background_side = labels.size - object_side
    if min(object_side, background_side) < _MIN_SAMPLES:
        raise ValueError(
            f"GrabCut needs at least {_MIN_SAMPLES} pixels on each side to fit its colour models; got "
            f"{object_side} object and {background_side} background pixels. Leave some background outside the box "
            "(or draw background strokes), and give the object some pixels (a larger box or longer strokes)."
        )
    rgb = _rgb8(image)
    background_model = np.zeros((1, 65), np.float64)
    object_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # the k-means that seeds the colour models draws from OpenCV's global generator
    mode = cv2.GC_INIT_WITH_MASK
    for index in range(iterations):
        try:
            cv2.grabCut(rgb, labels, None, background_model, object_model, 1, mode)
        except cv2.error as exc:  # pragma: no cover - the checks above cover the documented failure modes
            raise RuntimeError(f"OpenCV's grabCut failed: {exc}") from exc
        mode = cv2.GC_EVAL
        if on_iteration is not None:
            on_iteration(index + 1)
    found = (labels == OBJECT) | (labels == PROBABLY_OBJECT)
    return torch.from_numpy(found)[None, None].to(image.device)


def connected_components(mask: torch.Tensor, connectivity: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Connected regions of a binary mask.

    Args:
        mask: ``(1, 1, H, W)`` tensor; nonzero (or True) pixels are the foreground.
        connectivity: 8 (diagonal neighbours connect) or 4.

    Returns:
        ``labels``: ``(H, W)`` int64 tensor, 0 for background and ``1..N`` for the regions (on the mask's device);
        ``areas``: ``(N + 1,)`` int64 pixel counts, ``areas[0]`` the background's.
    """
    _single(mask, 1, "mask")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8; got {connectivity}.")
    binary = np.ascontiguousarray((mask[0, 0].detach() != 0).to(torch.uint8).cpu().numpy())
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=connectivity, ltype=cv2.CV_32S)
    areas = torch.from_numpy(stats[:, cv2.CC_STAT_AREA].astype(np.int64))
    return torch.from_numpy(labels.astype(np.int64)).to(mask.device), areas[:count]
