"""Alias kept for the documented ``python -m harmonization.calibrate``; the code is in
:mod:`harmonization.evaluation.calibrate`."""

from __future__ import annotations

import sys

from .evaluation.calibrate import main

if __name__ == "__main__":
    sys.exit(main())
