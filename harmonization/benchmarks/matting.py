"""Clean edges when pasting: the naive cut against colour decontamination with a soft alpha, on synthetic mattes.

``python -m harmonization.benchmarks.matting --photos DIR --masks DIR [--cases 40] [--split eval] [--sizes 1 20]
[--reference] [--figure DIR]``

Each case has a known answer. The object colour ``F`` is a photo inside its binary mask ``M``, continued smoothly
outside it (normalised Gaussian convolution of the object's colours, sigma 3 px); the true alpha is ``M`` blurred by a
Gaussian of sigma drawn in [0.75, 2] px per case; the "source photo" is ``I_A = alpha F + (1 - alpha) A`` over another
photo ``A``. The cut uses the binary ``M`` (what a brush or an automatic mask gives) and pastes onto a third photo
``B`` at the same place and size (no resampling), through :func:`harmonization.pipelines.compose.place_foreground`;
the truth is ``alpha F + (1 - alpha) B``. Photos with an object covering 3 % to 70 % of the frame are used; the
``eval`` and ``tune`` splits halve them by a hash of the name, and the parameters (edge radius, guided-filter eps)
were chosen on ``tune`` only.

Scores, over the band of 8 px around the edge of ``M`` (both sides), median over the cases:

- band MSE in 8-bit units; the ratio to the naive cut;
- fringe colour: mean CIE76 distance (Lab) of the band pixels to ``A`` and to ``B``, minus the truth's. A negative
  distance to ``A`` means the fringe leans towards the background the object was cut from.

Rows: the naive cut (``decontaminate=False``); the soft alpha with the photo's colours (ablation); the default
``compose`` (soft alpha and estimated ``F``); ``compose`` with ``edge_alpha="matting"`` (closed-form matting in the
band, :mod:`harmonization.ops.closed_form`, and estimated ``F``); the true alpha with the estimated ``F`` (isolates
the colour estimate); with ``--reference``, the soft alpha with pymatting's ``estimate_foreground_ml`` (when pymatting
is installed; it is not a dependency). Timing and peak memory (resident set, ``VmHWM`` reset before the call) of the
paste of one case upscaled to each of ``--sizes`` megapixels run in a fresh process each. ``--figure DIR`` writes the
README figure: the two public-domain portraits pasted onto a Van Gogh, naive against decontaminated, with zoomed crops
at the edge.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from ..image_io import load_image, load_mask, tensor_to_pil
from ..ops.color import local_masked_mean_std, rgb_to_lab
from ..ops.mask import blend, dilate, erode, mask_bbox
from ..ops.matting import foreground_in_band, soft_alpha
from ..pipelines.compose import default_edge_radius, place_foreground
from .runner import markdown_table

BAND = 8
EXAMPLES = Path(__file__).absolute().parents[2] / "examples"


@dataclass(frozen=True)
class MatteCase:
    """One synthetic matte: source photo ``I_A`` over ``A``, its binary mask, the new background and the truth."""

    name: str
    source: torch.Tensor  # I_A, (1, 3, H, W)
    mask: torch.Tensor  # binary M, (1, 1, H, W)
    alpha: torch.Tensor  # true alpha
    foreground: torch.Tensor  # true F
    old_background: torch.Tensor  # A
    new_background: torch.Tensor  # B
    sigma: float

    @property
    def truth(self) -> torch.Tensor:
        return blend(self.foreground, self.new_background, self.alpha)


def _split_of(name: str) -> str:
    return "eval" if zlib.crc32(name.encode()) % 2 == 0 else "tune"


def list_photos(photos: Path, masks: Path, split: str) -> list[str]:
    """Names of the photos with a mask covering 3 % to 70 % of the frame, in the given split, sorted."""
    names = []
    for path in sorted(photos.glob("*.jpg")):
        if not (masks / f"{path.stem}.png").exists():
            continue
        if split != "all" and _split_of(path.stem) != split:
            continue
        names.append(path.stem)
    chosen = []
    for name in names:
        mask = load_mask(masks / f"{name}.png")
        if 0.03 <= float((mask >= 0.5).float().mean()) <= 0.7:
            chosen.append(name)
    return chosen


def _resized(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    antialias = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=antialias).clamp(0, 1)


def make_case(photos: Path, masks: Path, name: str, others: Sequence[str], index: int) -> MatteCase:
    """The synthetic matte of photo ``name``; ``A`` and ``B`` are two other photos of ``others`` (by ``index``)."""
    photo = load_image(photos / f"{name}.jpg")
    mask = (load_mask(masks / f"{name}.png") >= 0.5).float()
    size = tuple(photo.shape[-2:])
    rest = [other for other in others if other != name]
    old = _resized(load_image(photos / f"{rest[(7 * index + 3) % len(rest)]}.jpg"), size)
    new = _resized(load_image(photos / f"{rest[(7 * index + 5) % len(rest)]}.jpg"), size)
    continued, _, _ = local_masked_mean_std(photo, mask, 3.0)
    foreground = torch.where(mask > 0.5, photo, continued).clamp(0, 1)
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    sigma = 0.75 + 1.25 * float(torch.rand((), generator=generator))
    size_k = 2 * math.ceil(3 * sigma) + 1
    alpha = gaussian_blur2d(mask, (size_k, size_k), (sigma, sigma), border_type="replicate")
    alpha = torch.where(alpha < 1e-4, 0.0, torch.where(alpha > 1 - 1e-4, 1.0, alpha))
    source = blend(foreground, old, alpha)
    return MatteCase(name, source, mask, alpha, foreground, old, new, sigma)


def paste_in_place(case: MatteCase, **options: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste ``case.source`` cut by ``case.mask`` onto ``case.new_background`` at its own place and size."""
    height, width = case.mask.shape[-2:]
    top, left, bottom, right = mask_bbox(case.mask)  # type: ignore[misc]
    center = ((left + right) / 2 / width, (top + bottom) / 2 / height)
    return place_foreground(case.source, case.mask, case.new_background, scale=(bottom - top) / height,
                            center=center, **options)  # type: ignore[arg-type]


def _pymatting_foreground(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    from pymatting import estimate_foreground_ml

    array = image[0].permute(1, 2, 0).double().numpy()
    fg = estimate_foreground_ml(array, alpha[0, 0].double().numpy())
    return torch.from_numpy(fg.copy()).permute(2, 0, 1)[None].float().clamp(0, 1)


def variants(reference: bool) -> dict[str, Callable[[MatteCase], torch.Tensor]]:
    """The compared pastes, each a function of a case returning the composite."""

    def soft(case: MatteCase) -> torch.Tensor:
        return soft_alpha(case.source, case.mask, default_edge_radius(*case.mask.shape[-2:]))

    rows: dict[str, Callable[[MatteCase], torch.Tensor]] = {
        "naive cut (decontaminate=False)": lambda case: paste_in_place(case, decontaminate=False)[0],
        "soft alpha, photo colours": lambda case: blend(case.source, case.new_background, soft(case)),
        "compose default (soft alpha + F)": lambda case: paste_in_place(case)[0],
        "compose edge_alpha='matting' (closed-form alpha + F)": lambda case: paste_in_place(
            case, edge_alpha="matting")[0],
        "true alpha + estimated F": lambda case: blend(foreground_in_band(case.source, case.alpha),
                                                       case.new_background, case.alpha),
    }
    if reference:
        try:
            import pymatting  # noqa: F401
        except ImportError:
            print("pymatting is not installed: the reference row is left out (pip install pymatting)", file=sys.stderr)
        else:
            def with_pymatting(case: MatteCase) -> torch.Tensor:
                alpha = soft(case)
                return blend(_pymatting_foreground(case.source, alpha), case.new_background, alpha)

            rows["soft alpha + pymatting F (reference)"] = with_pymatting
    return rows


def band_scores(result: torch.Tensor, case: MatteCase) -> dict[str, float]:
    """Band MSE (8-bit units) and the mean Lab distances to ``A`` and ``B`` of the band pixels (``to_a``, ``to_b``)
    and of the band pixels whose true alpha is partial (``partial_to_a``, ``partial_to_b``: the fringe itself)."""
    band = ((dilate(case.mask, BAND) - erode(case.mask, BAND)) > 0)[0, 0]
    partial = band & (case.alpha[0, 0] > 0) & (case.alpha[0, 0] < 1)
    diff = (result - case.truth)[0][:, band] * 255.0
    lab = rgb_to_lab(result.clamp(0, 1))[0]
    to_a = (lab - rgb_to_lab(case.old_background)[0]).norm(dim=0)
    to_b = (lab - rgb_to_lab(case.new_background)[0]).norm(dim=0)
    return {"mse": float(diff.square().mean()), "to_a": float(to_a[band].mean()), "to_b": float(to_b[band].mean()),
            "partial_to_a": float(to_a[partial].mean()), "partial_to_b": float(to_b[partial].mean())}


def quality_table(photos: Path, masks: Path, cases: int, split: str, reference: bool) -> str:
    """Score every variant on ``cases`` synthetic mattes; a Markdown table of the medians."""
    names = list_photos(photos, masks, split)
    if len(names) < 3:
        raise SystemExit(f"Found {len(names)} usable photos in {photos} with masks in {masks}; need at least 3.")
    chosen = names[:cases]
    rows = variants(reference)
    scores: dict[str, list[dict[str, float]]] = {row: [] for row in rows}
    truth_scores: list[dict[str, float]] = []
    seconds: dict[str, float] = dict.fromkeys(rows, 0.0)
    sigmas = []
    for index, name in enumerate(chosen):
        case = make_case(photos, masks, name, names, index)
        sigmas.append(case.sigma)
        truth_scores.append(band_scores(case.truth, case))
        for row, run in rows.items():
            start = time.perf_counter()
            result = run(case)
            seconds[row] += time.perf_counter() - start
            scores[row].append(band_scores(result, case))
    naive = [s["mse"] for s in scores["naive cut (decontaminate=False)"]]
    intro = (f"Synthetic mattes: {len(chosen)} photos of the {split!r} split (of {len(names)}), alpha blur sigma "
             f"{min(sigmas):.2f}-{max(sigmas):.2f} px, {BAND} px band; medians over the cases.")
    header = ("paste", "band MSE", "naive / this", "band: ΔE to A − truth's", "band: ΔE to B − truth's",
              "fringe: ΔE to A − truth's", "fringe: ΔE to B − truth's", "s per case")

    def lean(values: list[dict[str, float]], key: str) -> str:
        return f"{statistics.median(s[key] - t[key] for s, t in zip(values, truth_scores, strict=True)):+.2f}"

    table = []
    for row, values in scores.items():
        mse = statistics.median(s["mse"] for s in values)
        ratio = statistics.median(n / max(s["mse"], 1e-12) for n, s in zip(naive, values, strict=True))
        table.append((row, f"{mse:.1f}", f"{ratio:.2f}x",
                      *(lean(values, key) for key in ("to_a", "to_b", "partial_to_a", "partial_to_b")),
                      f"{seconds[row] / len(chosen):.3f}"))
    lines = [intro, "", markdown_table(header, table, "lrrrrrrr")]
    truth = {key: statistics.median(t[key] for t in truth_scores)
             for key in ("to_a", "to_b", "partial_to_a", "partial_to_b")}
    lines += ["", f"naive / this: median of the per-case ratios of band MSE. Fringe: the band pixels whose true "
              f"alpha is partial. Truth (medians): band pixels are ΔE {truth['to_a']:.1f} from A and "
              f"{truth['to_b']:.1f} from B, fringe pixels {truth['partial_to_a']:.1f} and "
              f"{truth['partial_to_b']:.1f}. A negative 'to A' means the paste is closer to the old background A "
              "than the truth is (the fringe leans towards A)."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- time and memory


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def measure(photos: Path, masks: Path, name: str, megapixels: float, decontaminate: bool) -> dict[str, float]:
    """Time and peak RSS of one paste of case ``name`` upscaled to ``megapixels`` (run in a fresh process)."""
    names = list_photos(photos, masks, "all")
    case = make_case(photos, masks, name, names, 0)
    height, width = case.mask.shape[-2:]
    factor = math.sqrt(megapixels * 1e6 / (height * width))
    size = (round(height * factor), round(width * factor))
    source = _resized(case.source, size)
    mask = (_resized(case.alpha, size) >= 0.5).float()
    background = _resized(case.new_background, size)
    del case
    big = MatteCase(name, source, mask, mask, source, background, background, 0.0)
    small = MatteCase(name, source[..., :64, :64], mask[..., :64, :64], mask[..., :64, :64], source[..., :64, :64],
                      background[..., :64, :64], background[..., :64, :64], 0.0)
    if bool(small.mask.any()):
        paste_in_place(small, decontaminate=decontaminate)  # warm-up: one-time initialisation is not timed
    exact = _reset_peak()
    before = _rss_kib("VmRSS")
    start = time.perf_counter()
    composite, out_mask = paste_in_place(big, decontaminate=decontaminate)
    seconds = time.perf_counter() - start
    peak = _rss_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"height": size[0], "width": size[1], "seconds": seconds, "inputs_mib": before / 1024,
            "peak_mib": peak / 1024, "exact_peak": float(exact)}


def timing_table(photos: Path, masks: Path, sizes: Sequence[float], name: str) -> str:
    """Each size and mode in a fresh process (so the peak memory is that call's); a Markdown table."""
    rows = []
    for megapixels in sizes:
        for decontaminate in (False, True):
            command = [sys.executable, "-m", "harmonization.benchmarks.matting", "--photos", str(photos), "--masks",
                       str(masks), "--measure", str(megapixels), name, str(int(decontaminate))]
            done = subprocess.run(command, capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(Path(__file__).absolute().parents[2])})
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((f"{row['width']}x{row['height']} ({megapixels:g} MP)", decontaminate,
                         f"{row['seconds']:.2f}", f"{row['inputs_mib']:.0f}", f"{row['peak_mib']:.0f}",
                         f"{row['peak_mib'] - row['inputs_mib']:.0f}"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    intro = (f"Time and memory of one paste (`place_foreground`, case {name} upscaled), {torch.get_num_threads()} "
             f"threads on {os.cpu_count()} CPUs (load average at the end {load}); peak RSS of a fresh process, reset "
             "after the inputs were built.")
    header = ("size", "decontaminate", "s", "RSS with inputs (MiB)", "peak RSS (MiB)", "peak − inputs (MiB)")
    return intro + "\n\n" + markdown_table(header, rows, "llrrrr")


# ------------------------------------------------------------------------------------------------------ the figure

# (subject, scene, scale, centre, zoomed edge points): a point is (side, fraction of the object's height), the
# edge of the pasted mask on that side ("left", "right") of that row, or the top of the object ("top", 0).
FIGURE_CASES = [
    ("skimage_astronaut", "gcompris_details_vincentvangogh0012", 0.8, (0.5, 0.6), (("top", 0.0), ("left", 0.12))),
    ("matplotlib_grace_hopper", "gcompris_details_vincentvangogh0012", 0.8, (0.5, 0.6),
     (("left", 0.12), ("left", 0.4))),
]
ZOOM_WINDOW = 64  # composite pixels per zoomed crop
ZOOM = 3
PANEL_HEIGHT = ZOOM_WINDOW * ZOOM
GAP = 6


def _edge_window(mask: torch.Tensor, side: str, fraction: float, window: int) -> tuple[int, int]:
    """Top-left corner of the ``window`` square centred on an edge point of ``mask >= 0.5`` (see FIGURE_CASES)."""
    hard = mask[0, 0] >= 0.5
    top, left, bottom, right = mask_bbox(mask)  # type: ignore[misc]
    row = top + int(fraction * (bottom - top))
    cols = torch.nonzero(hard[row]).flatten()
    col = int(cols[0]) if side == "left" else int(cols[-1]) if side == "right" else (int(cols[0]) + int(cols[-1])) // 2
    height, width = hard.shape
    return (min(max(0, row - window // 2), height - window), min(max(0, col - window // 2), width - window))


def figure_row(naive: torch.Tensor, clean: torch.Tensor, windows: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``(1, 3, PANEL_HEIGHT, W)``: naive and clean composites (the zoom windows outlined in white), then each window
    zoomed ``ZOOM`` times (nearest), naive beside clean, separated by white gaps."""
    gap = torch.ones(1, 3, PANEL_HEIGHT, GAP)
    panels = []
    for view in (naive, clean):
        outlined = view.clone()
        for top, left in windows:
            bottom, right = top + ZOOM_WINDOW, left + ZOOM_WINDOW
            outlined[..., [top, bottom - 1], left:right] = 1.0
            outlined[..., top:bottom, [left, right - 1]] = 1.0
        width = round(view.shape[-1] * PANEL_HEIGHT / view.shape[-2])
        panels += [_resized(outlined, (PANEL_HEIGHT, width)), gap]
    for top, left in windows:
        panels.append(gap)
        for view in (naive, clean):
            crop = view[..., top : top + ZOOM_WINDOW, left : left + ZOOM_WINDOW]
            panels += [crop.repeat_interleave(ZOOM, dim=-2).repeat_interleave(ZOOM, dim=-1), gap]
    return torch.cat(panels[:-1], dim=-1)


def make_figure(out_dir: Path, examples: Path = EXAMPLES) -> list[Path]:
    """Write one JPEG per portrait, left to right: the naive and the decontaminated paste (the zoomed squares
    outlined in white), then each zoomed square, naive beside decontaminated."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for subject, scene, scale, centre, points in FIGURE_CASES:
        portrait = load_image(examples / f"{subject}.jpg")
        mask = load_mask(examples / f"{subject}_mask.png")
        background = load_image(examples / f"{scene}.jpg")
        options = {"scale": scale, "center": centre}
        naive, naive_mask = place_foreground(portrait, mask, background, decontaminate=False, **options)
        clean, _ = place_foreground(portrait, mask, background, **options)
        windows = [_edge_window(naive_mask, side, fraction, ZOOM_WINDOW) for side, fraction in points]
        path = out_dir / f"decontaminate_{subject}.jpg"
        tensor_to_pil(figure_row(naive, clean, windows)).save(path, quality=88, optimize=True)
        written.append(path)
    return written


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harmonization.benchmarks.matting", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos"), help="folder of photos")
    parser.add_argument("--masks", type=Path, default=Path("../shared/data/photos_masks"), help="their masks")
    parser.add_argument("--cases", type=int, default=40, help="synthetic mattes (default 40; at least 30)")
    parser.add_argument("--split", choices=("eval", "tune", "all"), default="eval",
                        help="photos to use: parameters were chosen on 'tune'; report on 'eval' (default)")
    parser.add_argument("--sizes", type=float, nargs="*", default=[1.0, 20.0],
                        help="megapixels for the time and memory table (default 1 20; none to skip)")
    parser.add_argument("--reference", action="store_true", help="add pymatting's estimate_foreground_ml as a row")
    parser.add_argument("--figure", type=Path, default=None, help="also write the README figure into this folder")
    parser.add_argument("--figure-only", action="store_true", help="only write the figure (no tables)")
    parser.add_argument("--measure", nargs=3, metavar=("MP", "NAME", "DECONTAMINATE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the quality and timing tables (and write the figure with ``--figure``)."""
    args = _parse_args(argv)
    if args.measure:
        megapixels, name, decontaminate = args.measure
        print(json.dumps(measure(args.photos, args.masks, name, float(megapixels), decontaminate == "1")))
        return
    if args.figure_only:
        if args.figure is None:
            raise SystemExit("--figure-only needs --figure DIR.")
        for path in make_figure(args.figure):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")
        return
    torch.manual_seed(0)
    print(quality_table(args.photos, args.masks, args.cases, args.split, args.reference))
    if args.sizes:
        name = list_photos(args.photos, args.masks, args.split)[0]
        print()
        print(timing_table(args.photos, args.masks, args.sizes, name))
    if args.figure is not None:
        for path in make_figure(args.figure):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
