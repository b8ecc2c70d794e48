"""Checks made when a file is uploaded, not when Harmonize is pressed: an unreadable background is refused at once
(the message names the file, never a server path), and one over the pixel limit is downscaled with a note."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from harmonization.errors import USER_ERRORS
from harmonization.image_io import image_size
from harmonization.image_io.fit import fit_to_pixel_limit

from .handlers import _gate


def check_background(value: Any) -> Any:
    """``bg_image.upload``: the file as it is, its downscaled copy (with an info toast saying so), or ``None``
    (cleared, with a warning toast) when it is not an image the app can read."""
    path = _gate().file(value)
    if path is None:
        return gr.update()
    try:
        image_size(path)  # the header: is it an image at all
        fitted = fit_to_pixel_limit(path, tempfile.mkdtemp(prefix="fit-", dir=get_upload_folder()))
    except USER_ERRORS as exc:
        gr.Warning(f"{exc} The background was not loaded.")
        return None
    if fitted is None:
        return gr.update()
    copy, note = fitted
    gr.Info(note)
    return str(Path(copy))


def wire(bg_image: gr.Image) -> None:
    """Attach the checks to the page's background image (not API endpoints)."""
    bg_image.upload(check_background, bg_image, bg_image, api_name=False, preprocess=False, show_progress="minimal")
