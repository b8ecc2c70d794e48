"""Image harmonization: make a pasted object take the light and colour of its new scene.

Public API::

    import harmonization
    result = harmonization.harmonize(composite, mask, method="local")   # -> PIL.Image at full resolution
    harmonization.available_methods()                                   # -> ["global", "local", ...]
    composite, mask = harmonization.compose(portrait, portrait_mask, background, scale=0.8)
    mask = harmonization.auto_mask(portrait)                            # person mask (offline network)
    mask = harmonization.refine_mask(photo, rough_brush_mask)           # snap a rough mask to the edges
    harmonization.metrics.evaluate(pred, target, mask, convention="idih")
"""

from __future__ import annotations

from . import metrics as metrics
from .api import auto_mask as auto_mask
from .api import compose as compose
from .api import harmonize as harmonize
from .api import harmonize_tensor as harmonize_tensor
from .api import refine_mask as refine_mask
from .pipelines import available_methods as available_methods
from .pipelines import get_method as get_method
from .pipelines import list_methods as list_methods
from .pipelines import register_method as register_method

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "auto_mask",
    "available_methods",
    "compose",
    "get_method",
    "harmonize",
    "harmonize_tensor",
    "list_methods",
    "metrics",
    "refine_mask",
    "register_method",
]
