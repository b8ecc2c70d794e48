"""Alias kept for the documented ``python -m harmonization.train``; the code is in :mod:`harmonization.training`."""

from __future__ import annotations

import sys

from .training.cli import main

if __name__ == "__main__":
    sys.exit(main())
