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
MASK_DISPLAY_OPACITY = 0.5
"""How opaque the editors' paint looks (display only: the page lays the photo over it at 1 - this, see
demo.editor_js; the brush layer the app receives stays fully opaque where painted)."""
# The largest image the editors show as it is: a larger one (a phone photo) comes back from the mask tools as a
# display copy (see harmonization.serving.jobs.mask_tool_full); uploads and brush strokes are not limited by it.
EDITOR_CANVAS = (4096, 4096)
EDITOR_CANVAS_SIZE = (1, 1)
"""The editors' ``canvas_size``: the blank canvas before an upload (the canvas then follows the image). Gradio's
editor draws a layer the app sends into a frame of the size of everything it holds, and its brush keeps a
transparent sprite of that size; a canvas larger than the image left a sprite of canvas size until the first stroke,
so a mask layer sent later was drawn scaled into the top-left corner (or, padded to the canvas, before any stroke
only). With a canvas no larger than any image, the frame is the image, and the mask tools send layers of the
image's size."""
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
