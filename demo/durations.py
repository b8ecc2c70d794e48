"""ZeroGPU durations (``spaces.GPU(duration=...)``, seconds) per handler, sized to the measured work.

A ZeroGPU Space holds a GPU for at most ``duration`` seconds per call and aborts the call after it; a shorter
duration gets a request scheduled sooner. Each value is the handler's measured time on this project's reference
CPU machine (2 busy cores; ``python scripts/cold_start.py --handlers``, numbers in docs of issue 15's notes) times
a margin, since a GPU is faster than that CPU for the networks and painterly fusion and the same for the colour
transfers; the painterly lane's "standard" quality is the longest job.
"""

from __future__ import annotations

GPU_SECONDS: dict[str, int] = {
    "run": 120,  # the page's Harmonize: naive + counterpart + method (painterly "standard" is the longest)
    "harmonize": 30,  # /harmonize: one photo method on one image
    "harmonize_painterly": 120,  # /harmonize_painterly: one painterly method
    "compare": 180,  # Compare all methods: every photo method (and painterly ones when asked)
    "mask": 30,  # auto / object / refine mask on a photo up to 40 MP
}
