"""Time the demo's naive+global+local run for a 1600x1200 background and a portrait through gradio_client.

Run from the repository root: ``python scripts/time_portrait_run.py`` (launches the app on 127.0.0.1:7862).
Prints each run's wall time (upload, compose, both methods, PNG encoding, download) and the median of runs 2-4.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _app import load_app
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
app = load_app()

EXAMPLES = ROOT / "examples"


def main() -> None:
    """Launch, run four times, print the timings."""
    background = Path(tempfile.mkdtemp()) / "background_1600x1200.jpg"
    Image.open(EXAMPLES / "gcompris_details_vincentvangoghbridge.jpg").resize((1600, 1200), Image.LANCZOS).save(
        background, quality=92)
    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=7862, prevent_thread_lock=True, quiet=True)
    client = Client(url, verbose=False)
    editor = {"background": handle_file(str(EXAMPLES / "skimage_astronaut.jpg")),
              "layers": [handle_file(str(EXAMPLES / "skimage_astronaut_layer.png"))], "composite": None}
    times = []
    for run in range(4):
        start = time.perf_counter()
        result = client.predict(editor, handle_file(str(background)), 0.7, 0.5, 0.6, False, "local",
                                api_name="/run_portrait")
        times.append(time.perf_counter() - start)
        print(f"run {run}: {times[-1]:.2f} s  " + result[5].replace("\n", " | "))
    print(f"median of runs 2-4: {statistics.median(times[1:]):.2f} s")
    app.demo.close()


if __name__ == "__main__":
    main()
