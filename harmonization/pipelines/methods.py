"""The built-in method table: each harmonization method is one :func:`register_method` entry here."""

from __future__ import annotations

import functools

from .classical import global_transfer, local_transfer
from .neural import network_source_info, network_unavailable_reason, run_network
from .registry import Method, register_method

register_method(
    Method(
        name="global",
        label="Global colour transfer",
        run=global_transfer,
        description="Moves the object's Lab mean and contrast to the whole background's (no weights needed).",
        options={"strength": 1.0},
    )
)
register_method(
    Method(
        name="local",
        label="Local colour transfer",
        run=local_transfer,
        description="Like global, but with the light and colour of the background around each part of the object.",
        options={"strength": 1.0, "radius": 0.5, "work_size": 128},
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
        options={"checkpoint": None, "transfer": "affine", "device": None},
    )


register_method(_network_method(
    "phnet", "PHNet",
    "Patch-based normalization network (Efremyan et al. 2024); full-resolution colour transfer of its prediction.",
))
register_method(_network_method(
    "fmm", "FMM",
    "Attention-based deep feature modulation network (Hao et al. 2020); full-resolution colour transfer.",
))
