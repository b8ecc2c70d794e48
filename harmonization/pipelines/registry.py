"""The registry of harmonization methods: adding a method is one :func:`register_method` call.

A method's ``run`` function receives the composite ``(1, 3, H, W)`` float32 RGB in [0, 1] and a mask
``(1, 1, H, W)`` and returns a ``(1, 3, H, W)`` image. What the mask holds and what happens afterwards depends on the
method's ``family``:

- ``"photo"``: ``run`` gets the binarised mask (``>= 0.5``) and returns a prediction of the whole image (or at least
  of the masked region); :func:`harmonization.harmonize` blends it with the user's soft mask, so every pixel where the
  mask is 0 stays bit-identical.
- ``"painterly"``: ``run`` gets the soft mask and returns the final image itself (it may change a thin band around
  the mask for a seamless edge, or the whole image for a global style transfer).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..errors import MethodUnavailableError
from .options import check_option_values, option_defaults

__all__ = ["Method", "register_method", "get_method", "list_methods", "available_methods", "MethodUnavailableError",
           "check_strength", "MAX_STRENGTH"]

RunFn = Callable[..., torch.Tensor]


#: Upper bound of every photo method's ``strength`` option (0 = no change, 1 = the method's full effect).
MAX_STRENGTH = 2.0


def check_strength(strength: float, what: str = "strength") -> float:
    """Validate a photo method's ``strength`` (0 = no change, 1 = full effect, up to 2 = exaggerated).

    Raises:
        ValueError: not a number in ``[0, 2]``.
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"{what} must be in [0, {MAX_STRENGTH:g}] (1 = the method's full effect, 0 = no change); "
                         f"got {strength!r}.")
    return float(strength)


@dataclass(frozen=True)
class Method:
    """One harmonization method.

    Attributes:
        name: identifier used by ``harmonize(method=...)``, the CLI and the app.
        label: short human-readable name for the UI.
        run: ``run(composite, mask, **options) -> image`` (see the module docstring for shapes); its keyword-only
            parameters with defaults are the method's options (:attr:`options`), and their annotations say which
            values each option takes.
        description: one sentence for the UI and ``--help``.
        family: ``"photo"`` (the pipeline blends with the soft mask) or ``"painterly"`` (``run`` returns the final
            image and receives ``progress``).
        counterpart: the method shown beside this one as its "global" baseline in the app.
        unavailable_reason: returns ``None`` when the method can run, else a sentence saying why not and how to fix
            it; called without touching the network.
        source_info: returns a short description of what produces the result (e.g. which checkpoint file), shown
            under the result in the app.
    """

    name: str
    label: str
    run: RunFn
    description: str
    family: Literal["photo", "painterly"] = "photo"
    counterpart: str = "global"
    unavailable_reason: Callable[[], str | None] | None = None
    source_info: Callable[[], str] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """Option names and their defaults, read from ``run``'s signature."""
        return option_defaults(self.run)

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise ``ValueError`` for unknown options and values of the wrong type (see
        :func:`harmonization.pipelines.options.check_option_values`)."""
        check_option_values(self.name, self.run, options)

    def describe_source(self) -> str:
        """What produces this method's results (checkpoint name and file, or "no weights")."""
        return self.source_info() if self.source_info is not None else "no weights"

    def check_available(self) -> None:
        """Raise :class:`MethodUnavailableError` when the method cannot run here."""
        reason = self.unavailable_reason() if self.unavailable_reason is not None else None
        if reason:
            raise MethodUnavailableError(f"Method {self.name!r} is not available: {reason}")


_METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (a second registration of the same name replaces the first, with a warning)."""
    if method.name in _METHODS:
        warnings.warn(f"Harmonization method {method.name!r} registered twice; the later one wins.", stacklevel=2)
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """Return the registered method called ``name``.

    Raises:
        ValueError: naming the known methods when ``name`` is unknown.
    """
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS)) or "(none)"
        raise ValueError(f"Unknown harmonization method {name!r}. Known methods: {known}.") from None


def list_methods(family: str | None = None) -> list[str]:
    """Names of all registered methods (optionally of one family), in registration order."""
    return [name for name, m in _METHODS.items() if family is None or m.family == family]


def available_methods(family: str | None = None) -> list[str]:
    """Names of the registered methods that can run on this machine now (no network access is attempted)."""
    result = []
    for name in list_methods(family):
        method = _METHODS[name]
        if method.unavailable_reason is None or method.unavailable_reason() is None:
            result.append(name)
    return result
