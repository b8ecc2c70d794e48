"""The built-in method table: each harmonization method is one :func:`register_method` entry here."""

from __future__ import annotations

from .classical import global_transfer, local_transfer
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

