"""ZeroGPU durations (``spaces.GPU(duration=...)``, seconds) per handler, sized to the measured work.

A ZeroGPU Space holds a GPU for at most ``duration`` seconds per call and aborts the call after it; a shorter
duration gets a request scheduled sooner. Measured with ``python scripts/cold_start.py --handlers`` on the
project's 2-core CPU machine (busy with other jobs; request times include upload and download):

====================================================  ========
handler (size)                                         seconds
====================================================  ========
/harmonize global, local, phnet, fmm (12 MP)           21.7, 20.4, 7.7, 12.7
/auto_mask, /object_mask (20 MP)                       10.6, 8.0
/compare_all_composite, photo methods (3 MP)           14.7
/run_composite local: naive + global + local (3 MP)    11.7
/harmonize_painterly preview (512 px)                  12.0 (standard: one to two minutes)
====================================================  ========

Each duration covers the largest image (40 MP, about 3x the 12 MP case, 2x the 20 MP one) on that CPU, an upper
bound for the GPU, which is faster for the networks and painterly fusion; painterly "standard" is the longest job.
"""

from __future__ import annotations

GPU_SECONDS: dict[str, int] = {
    "harmonize": 60,  # /harmonize, /harmonize_options: one photo method (12 MP: 8-22 s on the CPU)
    "mask": 40,  # auto / object / refine mask (20 MP: 8-11 s)
    "run": 120,  # the page's Harmonize: naive + counterpart + method (painterly "standard": 1-2 min on the CPU)
    "compare": 180,  # Compare all methods (4 photo methods at 3 MP: 15 s; painterly ones when ticked: minutes)
}
"""/harmonize_painterly keeps demo.handlers' 120 s (one painterly method at "standard")."""
