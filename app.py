"""Gradio demo: paste a subject into a scene and compare naive | global | local harmonization side by side.

Run ``python app.py`` (``--host``, ``--port``, ``--share``, ``--mcp``). Importing this module builds ``demo`` without
launching it. This file only builds and launches the page; the UI is the ``demo/`` package beside it (layout, event
handlers, examples), and all image work is in the ``harmonization`` package. The names below are re-exported for
scripts and tests (``app.run_portrait``, ``app.PAINTERLY_LANE``, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The UI package demo/ lives beside this file (a Space's entry point, not installed): importable however this file
# is loaded (``python app.py``, pytest, scripts/_app.py). Importing it first sets GRADIO_TEMP_DIR before Gradio loads.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import warm  # noqa: E402
from demo.api import mcp_wanted  # noqa: E402
from demo.config import (  # noqa: E402
    CACHE_TTL_S,
    DEFAULT_METHOD,
    DOWNLOADS_DIR,
    DOWNLOADS_TTL_S,
    EDITOR_CANVAS,
    EXAMPLES_DIR,
    FAST_LANE,
    MASK_LANE,
    MAX_UPLOAD,
    MEMORY,
    PAINTERLY_LANE,
    TITLE,
)
from demo.handlers import (  # noqa: E402
    _gpu,
    api_harmonize,
    api_harmonize_painterly,
    auto_subject_mask,
    get_upload_folder,
    place_on_click,
    refine_subject_mask,
    run_composite,
    run_portrait,
)
from demo.layout import build_demo  # noqa: E402
from harmonization.serving import install_sigterm_as_interrupt, parse_bytes, sweep_older_than  # noqa: E402

__all__ = [
    "CACHE_TTL_S", "DEFAULT_METHOD", "DOWNLOADS_DIR", "DOWNLOADS_TTL_S", "EDITOR_CANVAS", "EXAMPLES_DIR", "FAST_LANE",
    "MASK_LANE", "MAX_UPLOAD", "MEMORY", "PAINTERLY_LANE", "TITLE", "_gpu", "api_harmonize",
    "api_harmonize_painterly", "auto_subject_mask", "build_demo", "demo", "main", "place_on_click",
    "refine_subject_mask", "run_composite", "run_portrait", "serve_locally", "sweep_on_start",
]

demo = build_demo()


def sweep_on_start() -> int:
    """Remove results that an earlier run (killed before it could clean up) left in the PNG downloads and Gradio's
    cache, older than :data:`DOWNLOADS_TTL_S` and :data:`CACHE_TTL_S`; returns how many entries were removed."""
    return sweep_older_than(DOWNLOADS_DIR, DOWNLOADS_TTL_S) + sweep_older_than(get_upload_folder(), CACHE_TTL_S)


def _launch_options() -> dict[str, Any]:
    return {"max_file_size": parse_bytes(MAX_UPLOAD)}


@contextlib.contextmanager
def serve_locally(mcp: bool = False) -> Iterator[str]:
    """Serve ``demo`` from this process on 127.0.0.1 at a free port (tests, ``scripts/load_test.py``); ``mcp``:
    with Gradio's MCP server (at ``gradio_api/mcp/``, its tools' schema at ``gradio_api/mcp/schema``).

    Yields:
        The URL, e.g. ``"http://127.0.0.1:40123/"``; the server is closed on exit.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, mcp_server=mcp,
                **_launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close(verbose=False)


def main(argv: list[str] | None = None) -> None:
    """Launch the demo: ``python app.py [--host 0.0.0.0] [--port 7860] [--share] [--mcp]``. Old results an earlier
    run left are removed on start; on Ctrl-C or SIGTERM the lanes stop (a running painterly job at its next step),
    the server closes, Gradio deletes its files and ours are removed."""
    parser = argparse.ArgumentParser(description="Image harmonization demo")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--mcp", action="store_true",
                        help="also serve the tools (harmonize, ...) over MCP at /gradio_api/mcp/ (needs gradio[mcp]; "
                             "on by default on a Space where it is installed, or with HARMONIZATION_MCP=1)")
    args = parser.parse_args(argv)
    mcp_server = mcp_wanted(args.mcp)
    if removed := sweep_on_start():
        print(f"Removed {removed} old result(s) left by an earlier run.")
    install_sigterm_as_interrupt()  # SIGTERM closes the server like Ctrl-C, so the cleanup below runs
    try:
        demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                    mcp_server=mcp_server, prevent_thread_lock=True, **_launch_options())
        warm.preload()  # the painterly methods' one-time imports and weights, in the background
        warm.start()  # the examples' cache, in the background (not in the first visitor's request)
        demo.block_thread()
    finally:
        for lane in (FAST_LANE, PAINTERLY_LANE, MASK_LANE):  # a running painterly job stops at its next step
            lane.shutdown()
        demo.close(verbose=False)
        sweep_older_than(DOWNLOADS_DIR, 0)


if __name__ == "__main__":
    main()
