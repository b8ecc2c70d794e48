"""The ``/harmonize`` and ``/harmonize_options`` endpoints, which are also the MCP tools ``harmonize`` and
``harmonize_with_options``
(``python app.py --mcp``: Gradio's MCP server lists the page's public endpoints as tools, named after their
functions and described by their docstrings' Args sections)."""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

from harmonization.serving import jobs
from harmonization.serving.advanced import parse_options_text
from harmonization.serving.jobs import painterly_options, save_image

from .config import DEFAULT_METHOD, DOWNLOADS_DIR, DOWNLOADS_TTL_S, FAST_LANE
from .durations import GPU_SECONDS
from .handlers import _context, _gpu, _user_errors, refuse_painterly

MCP_ENV = "HARMONIZATION_MCP"


@_gpu(GPU_SECONDS["harmonize"])
def _harmonize_job(*args: Any) -> str:
    return save_image(jobs.harmonize_files(_context(None), *args), DOWNLOADS_DIR, DOWNLOADS_TTL_S)


@_user_errors
async def harmonize(composite: dict | str | None, mask: dict | str | None, method: str = DEFAULT_METHOD) -> Any:
    """Harmonize a composite photo: make the pasted region take the light and colour of the rest of the image.

    Photo methods only (a second or so each); pixels outside the mask are returned unchanged. Painterly methods
    take minutes and are refused here: call harmonize_painterly (/harmonize_painterly) for them; for strength,
    feather radius or network resolution call harmonize_with_options (/harmonize_options).

    Args:
        composite: the composite image (PNG or JPEG, up to 40 megapixels): a background with a pasted object.
        mask: the mask image, same size as the composite: white (255) where the pasted object is, black elsewhere;
            grey values give a soft edge.
        method: "local" (default, colour transfer from the background around each part of the object), "global"
            (from the whole background), "phnet" or "fmm" (neural networks).

    Returns:
        The harmonized image (PNG) at the composite's full resolution.
    """
    return await _run(composite, mask, method, {})


@_user_errors
async def harmonize_with_options(composite: dict | str | None, mask: dict | str | None,
                                 method: str = DEFAULT_METHOD, options: str = "") -> Any:
    """Harmonize a composite photo with method options (the page's Advanced values): strength, feather, resolution.

    Args:
        composite: the composite image (PNG or JPEG, up to 40 megapixels): a background with a pasted object.
        mask: the mask image, same size as the composite: white (255) where the pasted object is, black elsewhere.
        method: "local" (default), "global", "phnet" or "fmm".
        options: "key=value" items separated by spaces, e.g. "strength=0.8 feather_radius=4 resolution=512":
            strength 0..2 (1 = the method's full effect; default: the method's or checkpoint's), feather_radius in
            pixels (a soft mask edge), resolution the networks' long side (8..2048; phnet and fmm only).

    Returns:
        The harmonized image (PNG) at the composite's full resolution.
    """
    return await _run(composite, mask, method, parse_options_text(options, quality_of=painterly_options))


async def _run(composite: Any, mask: Any, method: str, options: dict[str, Any]) -> Any:
    method = method or DEFAULT_METHOD
    refuse_painterly(method)
    return await FAST_LANE.run(functools.partial(_harmonize_job, composite, mask, method, options))


def mcp_wanted(flag: bool) -> bool | None:
    """Whether to serve the MCP server: ``--mcp``, ``HARMONIZATION_MCP=1``, or on a Hugging Face Space (``SPACE_ID``
    set) when the ``mcp`` package is installed; ``None`` leaves it to Gradio's ``GRADIO_MCP_SERVER``.

    Raises:
        SystemExit: ``--mcp`` (or the variable) without the ``mcp`` package, saying how to install it.
    """
    asked = flag or os.environ.get(MCP_ENV, "").strip().lower() in ("1", "true", "yes")
    installed = importlib.util.find_spec("mcp") is not None
    if asked and not installed:
        raise SystemExit('The MCP server needs the mcp package: pip install "gradio[mcp]==6.31.0" (or -r '
                         "requirements.txt), then run python app.py --mcp again.")
    if asked or (os.environ.get("SPACE_ID") and installed):
        return True
    return None
