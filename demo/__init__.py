"""The Gradio UI of the demo (``app.py`` builds and launches it): layout, events, examples and error messages.

Modules: ``config`` (constants, the queue lanes and the memory budget), ``handlers`` (event handlers: they hand the
work to :mod:`harmonization.serving.jobs` and turn library errors into ``gr.Error``), ``examples`` (example rows)
and ``layout`` (:func:`demo.layout.build_demo`). No image math here (checked by ``tests/test_layering.py``): every
pixel is handled in the ``harmonization`` package.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Gradio keeps uploads and results in GRADIO_TEMP_DIR (default <tempdir>/gradio, shared by every Gradio app on the
# machine). The app takes a folder of its own unless one is set, so that sweeping it by age on start (what a killed
# server left behind) touches nothing of other apps. Set before Gradio is imported (it reads the variable then):
# every module of this package imports Gradio after this file ran.
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "harmonization-gradio"))
