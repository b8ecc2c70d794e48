"""Transitional alias of :mod:`harmonization.hub` (the checkpoint registry, resolver and files moved there).

Import from ``harmonization.hub``; this module goes away once nothing imports it.
"""

from __future__ import annotations

from .hub import *  # noqa: F403
from .hub import __all__ as __all__  # noqa: F401
