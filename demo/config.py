"""The demo's settings and shared state: constants, the queue lanes and the memory budget (one of each per process,
shared by the page's buttons and the API endpoints)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harmonization.serving import demo_lanes, memory_budget_from_env, return_freed_memory_promptly

TITLE = "Image harmonization"
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_METHOD = "local"
BRUSH_COLOR = "#ff2d6f"
# The editors' canvas_size: layers the app sends are padded to it (see mask_to_editor_layer), so the mask tools work
# on images up to this size; uploads and brush strokes are not limited by it (the canvas follows the upload).
EDITOR_CANVAS = (4096, 4096)
DOWNLOADS_DIR = Path(tempfile.gettempdir()) / "harmonization-downloads"
DOWNLOADS_TTL_S, CACHE_TTL_S = 120, 3600
"""Result PNGs are written to DOWNLOADS_DIR and copied by Gradio into its cache at once (the page and clients fetch
those copies): ours are removed after 2 minutes, Gradio's after an hour (delete_cache), both on start (what a
killed server left) and all of them on shutdown."""
MAX_UPLOAD = os.environ.get("HARMONIZATION_MAX_UPLOAD", "100M")
"""The largest file an upload may be (Gradio's ``max_file_size``): a 40-megapixel photo is 10-30 MB as JPEG and
up to ~120 MB as PNG; the pixel limit is checked from the header anyway."""

# Lanes (see harmonization.serving.lanes): the page's run button, /harmonize and /harmonize_painterly share them, so
# two painterly jobs (minutes each) never hold up the photo methods (a second each).
FAST_LANE, PAINTERLY_LANE, MASK_LANE = demo_lanes()
# Every job reserves its estimated peak memory (from the image's header) before decoding anything, so concurrent
# large images wait instead of taking the server past HARMONIZATION_MEMORY_BUDGET (default 8 GiB).
MEMORY = memory_budget_from_env()
return_freed_memory_promptly()  # large freed bands go back to the system at once (see serving.memory)
