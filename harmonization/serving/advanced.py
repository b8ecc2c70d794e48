"""The page's "Advanced" options and the API's ``options`` text: one set of method options for every column.

Both front ends end in the same dict (``strength``, ``feather_radius``, ``resolution``, ``style_strength`` and the
painterly quality's ``size``/``steps``); :func:`harmonization.pipelines.comparison.options_for` then gives each
method the ones it takes, and the method's own checks (:mod:`harmonization.pipelines.options` for types, the run
functions for ranges) refuse bad values with the same messages as the CLI and the Python API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..pipelines.options import parse_option
from ..pipelines.registry import check_strength
from ..pipelines.run import MAX_FEATHER_RADIUS

__all__ = ["ADVANCED_KEYS", "NETWORK_RESOLUTIONS", "STYLE_STRENGTH_RANGE", "advanced_options", "parse_options_text"]

#: The options the page and the API take (``quality`` is turned into the painterly ``size`` and ``steps``).
ADVANCED_KEYS = ("strength", "feather_radius", "resolution", "style_strength", "quality")
#: Network resolutions (long side) the page offers; the API takes any whole number the networks accept (8..2048).
NETWORK_RESOLUTIONS = (256, 512, 1024)
#: Painterly style strength: 1 (subtle) .. 10 (strong); ``None`` estimates it from the painting.
STYLE_STRENGTH_RANGE = (1.0, 10.0)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]; got {value!r}.")
    return float(value)


def advanced_options(strength: float | None = None, feather_radius: float = 0.0, resolution: int | None = None,
                     style_strength: float | None = None, quality: Mapping[str, Any] | None = None
                     ) -> dict[str, Any]:
    """The method options of the "Advanced" values (``None``: the method's or checkpoint's default).

    Args:
        strength: 0 (no change) .. 2 (exaggerated), ``None`` = each method's default (the checkpoint's calibrated
            strength for the networks, 1 for the colour transfers).
        feather_radius: blur of the mask edge in pixels, 0 .. ``MAX_FEATHER_RADIUS`` (photo methods).
        resolution: the networks' long side, 8 .. 2048, ``None`` = the checkpoint's training resolution.
        style_strength: painterly, 1 .. 10, ``None`` = estimated from the painting.
        quality: painterly ``{"size", "steps"}`` (see ``serving.jobs.PAINTERLY_QUALITY``), or ``None``.

    Returns:
        Only the options that differ from the defaults (so an untouched accordion changes nothing).

    Raises:
        ValueError: a value out of its range, saying which and what is accepted.
    """
    options: dict[str, Any] = dict(quality or {})
    if strength is not None:
        options["strength"] = check_strength(strength)
    feather_radius = _number(feather_radius, "feather_radius", 0.0, MAX_FEATHER_RADIUS)
    if feather_radius > 0:
        options["feather_radius"] = feather_radius
    if resolution is not None:
        if isinstance(resolution, float) and resolution.is_integer():
            resolution = int(resolution)
        if isinstance(resolution, bool) or not isinstance(resolution, int) or not 8 <= resolution <= 2048:
            raise ValueError(f"resolution (the networks' long side) must be a whole number in [8, 2048]; got "
                             f"{resolution!r}.")
        options["resolution"] = resolution
    if style_strength is not None:
        options["style_strength"] = _number(style_strength, "style_strength", *STYLE_STRENGTH_RANGE)
    return options


def parse_options_text(text: str | None, quality_of: Any = None) -> dict[str, Any]:
    """The API's ``options`` text, ``"strength=0.8 feather_radius=4 resolution=512"`` (spaces, commas or new lines
    between items; ``key=none`` = the default), parsed with the CLI's parser (:func:`parse_option`) and checked
    like the page's values (:func:`advanced_options`).

    Args:
        text: the options, or ``None`` / empty for none.
        quality_of: ``quality_of(name) -> {"size", "steps"}`` for a ``quality=preview|standard`` item (``None``:
            ``quality`` is refused).

    Raises:
        ValueError: not ``key=value``, an unknown key (the accepted ones are named), a repeated key, a bad value.
    """
    if text is None:
        return {}
    if not isinstance(text, str):
        raise ValueError(f"options must be text like 'strength=0.8 feather_radius=4'; got {text!r}.")
    values: dict[str, Any] = {}
    for item in text.replace(",", " ").split():
        key, value = parse_option(item)
        if key not in ADVANCED_KEYS:
            raise ValueError(f"Unknown option {key!r}; the options are {', '.join(ADVANCED_KEYS)} "
                             f"(e.g. 'strength=0.8 feather_radius=4 resolution=512').")
        if key in values:
            raise ValueError(f"Option {key!r} is given twice in {text!r}.")
        values[key] = value
    quality = values.pop("quality", None)
    if quality is not None:
        if quality_of is None:
            raise ValueError("quality is not an option of this endpoint.")
        quality = quality_of(str(quality))
    for key in ("strength", "resolution", "style_strength"):
        if isinstance(values.get(key), str):
            raise ValueError(f"{key} must be a number (or none for the default); got {values[key]!r}.")
    return advanced_options(values.get("strength"), values.get("feather_radius") or 0.0, values.get("resolution"),
                            values.get("style_strength"), quality)


