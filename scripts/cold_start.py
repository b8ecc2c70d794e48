"""Cold start of the demo (import, launch, first request of each kind) and, with ``--handlers``, the work each
ZeroGPU handler does at the sizes users send (what ``demo/durations.py`` is sized to).

Run from the repository root::

    python scripts/cold_start.py               # import + launch + first requests, one table
    python scripts/cold_start.py --handlers    # also time each handler's work (minutes on a busy CPU)

The import is timed in a fresh interpreter (``python -c "import app"``: torch, gradio, the page built); the rest in
this process, through ``gradio_client`` against the app served on 127.0.0.1, so each request's time includes the
upload, the queue, the job and the download. "first" requests load what they need (network weights, the people
model); "again" is the same request once loaded. Prints a table: what, seconds, note.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
os.environ.setdefault("HARMONIZATION_WARM_EXAMPLES", "0")  # measured on its own below, not behind the requests

Row = tuple[str, float, str]


def time_import() -> float:
    """Seconds for ``import app`` in a fresh interpreter (the page built, nothing launched)."""
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(out.stdout.strip().splitlines()[-1])


def _timed(rows: list[Row], what: str, note: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    rows.append((what, time.perf_counter() - t0, note))
    print(f"  {what}: {rows[-1][1]:.2f} s", flush=True)
    return result


def _inputs(folder: Path, width: int, height: int) -> tuple[Path, Path, Path]:
    """A composite of ``width`` x ``height`` (the astronaut-in-cafe example resized), its mask, and a portrait of
    that size for the mask tools."""
    from PIL import Image

    composite, mask = folder / f"composite_{width}x{height}.png", folder / f"mask_{width}x{height}.png"
    portrait = folder / f"portrait_{width}x{height}.jpg"
    Image.open(EXAMPLES / "astronaut_in_cafe.png").convert("RGB").resize((width, height)).save(composite,
                                                                                               compress_level=1)
    Image.open(EXAMPLES / "astronaut_in_cafe_mask.png").convert("L").resize((width, height)).save(mask)
    Image.open(EXAMPLES / "matplotlib_grace_hopper.jpg").convert("RGB").resize((width, height)).save(portrait,
                                                                                                   quality=92)
    return composite, mask, portrait


def requests(handlers: bool) -> list[Row]:
    """Launch the app here and time the first requests (and, with ``handlers``, the large ones)."""
    from gradio_client import Client, handle_file

    rows: list[Row] = []
    sys.path.insert(0, str(ROOT / "scripts"))
    from _app import load_app

    app = _timed(rows, "import app (warm, this process)", "modules cached by the OS now", load_app)
    folder = Path(tempfile.mkdtemp(prefix="cold-start-"))
    with app.serve_locally() as url:
        client = _timed(rows, "first page config (gradio_client)", "", lambda: Client(url, verbose=False))
        composite, mask, portrait = _inputs(folder, 512, 512)

        def harmonize(method: str, c: Path = composite, m: Path = mask) -> Any:
            return client.predict(handle_file(str(c)), handle_file(str(m)), method, api_name="/harmonize")

        for method in ("local", "phnet", "fmm"):
            _timed(rows, f"/harmonize {method} 512x512 first", "loads its weights" if method != "local" else "",
                   lambda method=method: harmonize(method))
            _timed(rows, f"/harmonize {method} 512x512 again", "", lambda method=method: harmonize(method))
        editor = {"background": handle_file(str(portrait)), "layers": [], "composite": None}
        _timed(rows, "/auto_mask 512x512 first", "loads the people model",
               lambda: client.predict(editor, api_name="/auto_mask"))
        _timed(rows, "/auto_mask 512x512 again", "", lambda: client.predict(editor, api_name="/auto_mask"))
        from demo import warm

        _timed(rows, "examples cache (background thread)", f"{sum(len(e.examples) for e in warm._PENDING)} "
               "examples, off the request path", warm.warm)
        if handlers:
            big_c, big_m, _ = _inputs(folder, 4000, 3000)
            for method in ("global", "local", "phnet", "fmm"):
                _timed(rows, f"/harmonize {method} 12 MP", "ZeroGPU 'harmonize'",
                       lambda method=method: harmonize(method, big_c, big_m))
            _, _, big_portrait = _inputs(folder, 5472, 3648)
            big_editor = {"background": handle_file(str(big_portrait)), "layers": [], "composite": None}
            _timed(rows, "/auto_mask 20 MP", "ZeroGPU 'mask'",
                   lambda: client.predict(big_editor, api_name="/auto_mask"))
            _timed(rows, "/object_mask 20 MP (box)", "ZeroGPU 'mask'",
                   lambda: client.predict(big_editor, "box", "1500, 600, 4000, 3600", api_name="/object_mask"))
            mid_c, mid_m, _ = _inputs(folder, 2000, 1500)
            editor_c = {"background": handle_file(str(mid_c)), "layers": [handle_file(str(mid_m))],
                        "composite": None}
            _timed(rows, "/compare_all_composite 3 MP (photo methods)", "ZeroGPU 'compare'",
                   lambda: client.predict(editor_c, False, api_name="/compare_all_composite"))
            _timed(rows, "/run_composite local 3 MP", "ZeroGPU 'run'",
                   lambda: client.predict(editor_c, "local", api_name="/run_composite"))
            _timed(rows, "/harmonize_painterly painterly preview 512x512", "ZeroGPU 'harmonize_painterly'",
                   lambda: client.predict(handle_file(str(composite)), handle_file(str(mask)), "painterly",
                                          "preview", api_name="/harmonize_painterly"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handlers", action="store_true", help="also time each ZeroGPU handler's work at size")
    args = parser.parse_args(argv)
    print("Timing import app in a fresh interpreter ...", flush=True)
    rows: list[Row] = [("import app (fresh interpreter)", time_import(), "torch, gradio, the page built")]
    print(f"  {rows[0][0]}: {rows[0][1]:.2f} s", flush=True)
    rows += requests(args.handlers)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'seconds':>8}  note")
    for what, seconds, note in rows:
        print(f"{what:<{width}}  {seconds:8.2f}  {note}")
    first = rows[0][1] + sum(s for w, s, _ in rows if w.startswith(("first page", "/harmonize local 512x512 first")))
    print(f"\ncold start to the first result (fresh import + page + first /harmonize local): {first:.2f} s")


if __name__ == "__main__":
    main()
