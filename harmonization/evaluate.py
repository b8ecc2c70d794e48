"""Alias kept for the documented ``python -m harmonization.evaluate``; the code is in
:mod:`harmonization.evaluation.evaluate`."""

from __future__ import annotations

import sys

from .evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
