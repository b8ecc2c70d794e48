"""The server side of the demo, without gradio: which files a request may open (and, added with it, how slow work
is kept away from fast work, how much memory concurrent jobs may take and how results are cleaned up).

``app.py`` (the only module that imports gradio) calls these at the request boundary; they take plain values (paths,
numbers, callbacks), so they are tested without a server.
"""

from __future__ import annotations

from .uploads import REFUSED_MESSAGE, UploadGate, UploadRefusedError

__all__ = ["REFUSED_MESSAGE", "UploadGate", "UploadRefusedError"]
