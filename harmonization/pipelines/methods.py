"""The built-in method table: each harmonization method is one :func:`register_method` entry here."""

from __future__ import annotations

import functools

from .classical import global_transfer, local_transfer
from .neural import network_source_info, network_unavailable_reason, run_network
from .painterly import painterly_fuse, vgg_source_info, vgg_unavailable_reason
from .registry import Method, register_method

register_method(
    Method(
        name="global",
        label="Global colour transfer",
        run=global_transfer,
        description="Moves the object's Lab mean and contrast to the whole background's (no weights needed).",
    )
)
register_method(
    Method(
        name="local",
        label="Local colour transfer",
        run=local_transfer,
        description="Like global, but with the light and colour of the background around each part of the object.",
    )
)


def _network_method(arch: str, label: str, description: str) -> Method:
    return Method(
        name=arch,
        label=label,
        run=functools.partial(run_network, arch=arch),
        description=description,
        unavailable_reason=functools.partial(network_unavailable_reason, arch),
        source_info=functools.partial(network_source_info, arch),
    )


register_method(_network_method(
    "phnet", "PHNet",
    "Patch-based normalization network (Efremyan et al. 2024); full-resolution colour transfer of its prediction.",
))
register_method(_network_method(
    "fmm", "FMM",
    "Attention-based deep feature modulation network (Hao et al. 2020); full-resolution colour transfer.",
))


def _painterly_method(name: str, mode: str, label: str, description: str) -> Method:
    return Method(
        name=name,
        label=label,
        run=functools.partial(painterly_fuse, mode=mode),
        description=description,
        family="painterly",
        counterpart="painterly-global",
        unavailable_reason=vgg_unavailable_reason,
        source_info=vgg_source_info,
    )


register_method(_painterly_method(
    "painterly", "local", "Painterly fusion",
    "Paints the pasted region in the painting's strokes and colours (Luan et al.'s two passes of VGG-19 patch-matched "
    "style inside the mask, then the painting's own fine texture); the painting beyond a few pixels is untouched.",
))
register_method(_painterly_method(
    "painterly-global", "global", "Global style transfer",
    "Neural style transfer of the whole image towards the painting (baseline: repaints the background too).",
))
