"""Method options: the one parser of ``key=value`` text and the one check of option values against a method.

A method's options are the keyword-only parameters (with defaults) of its ``run`` function; their annotations say
which values are allowed, so every front end (Python API, CLI, evaluator, app) refuses the same bad values with the
same message, before any work is done. Ranges are checked by the methods themselves.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["check_option_values", "option_defaults", "parse_option", "parse_option_value"]

#: Parameters of a run function that are not user options.
_NOT_OPTIONS = frozenset({"progress"})


def parse_option_value(text: str) -> Any:
    """``"none"``/``"null"`` -> None, ``"true"``/``"false"`` -> bool, integers, floats, else the text itself.

    Example:
        >>> [parse_option_value(t) for t in ("0.8", "3", "true", "none", "phnet-shared-photos")]
        [0.8, 3, True, None, 'phnet-shared-photos']
    """
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, parse_option_value(value))``.

    Raises:
        ValueError: no ``=`` or an empty key.
    """
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"Options look like key=value (e.g. strength=0.8); got {text!r}.")
    return key.strip(), parse_option_value(raw)


def _unwrap(run: Callable[..., Any]) -> tuple[Callable[..., Any], set[str]]:
    """The function inside ``functools.partial`` layers and the keywords they bind."""
    bound: set[str] = set()
    while isinstance(run, functools.partial):
        bound |= set(run.keywords)
        run = run.func
    return run, bound


def option_defaults(run: Callable[..., Any]) -> dict[str, Any]:
    """The options of a run function: its keyword-only parameters with defaults (minus those a ``partial`` binds)."""
    function, bound = _unwrap(run)
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
            and name not in _NOT_OPTIONS and name not in bound}


def _allowed(hint: Any) -> tuple[set[type], tuple[Any, ...]]:
    """(accepted Python types, accepted literal values) of an annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        types_: set[type] = set()
        literals: tuple[Any, ...] = ()
        for arg in typing.get_args(hint):
            t, lit = _allowed(arg)
            types_ |= t
            literals += lit
        return types_, literals
    if origin is typing.Literal:
        return set(), typing.get_args(hint)
    if hint is type(None) or hint is None:
        return {type(None)}, ()
    if hint is float:
        return {float, int}, ()
    if origin is not None:
        return {origin}, ()
    return ({hint} if isinstance(hint, type) else {object}), ()


def _describe(types_: set[type], literals: tuple[Any, ...]) -> str:
    names = {float: "a number", int: "a whole number", str: "text", bool: "true/false", type(None): "none",
             os.PathLike: "a path", torch.device: "a device"}
    shown = types_ - {int} if float in types_ else types_  # a float option takes integers too: "a number"
    parts = [names.get(t, t.__name__) for t in sorted(shown, key=lambda t: t.__name__)]
    parts += [repr(v) for v in literals]
    return " or ".join(dict.fromkeys(parts))


def check_option_values(method_name: str, run: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Refuse unknown options and values of the wrong type (with the method's name and the accepted ones).

    Numbers must be finite; ``bool`` is not accepted where a number is expected.

    Raises:
        ValueError: unknown option, wrong type, NaN or infinity.
    """
    defaults = option_defaults(run)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise ValueError(f"Unknown option(s) {', '.join(map(repr, unknown))} for method {method_name!r}; "
                         f"known options: {known}.")
    hints = typing.get_type_hints(_unwrap(run)[0])
    for key, value in options.items():
        if key not in hints:
            continue
        types_, literals = _allowed(hints[key])
        if object in types_:
            continue
        ok = value in literals if literals and isinstance(value, str) else False
        if not ok and not (isinstance(value, bool) and bool not in types_):
            ok = isinstance(value, tuple(types_)) if types_ else False
        if not ok:
            raise ValueError(f"Option {key!r} of method {method_name!r} must be {_describe(types_, literals)}; "
                             f"got {value!r}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Option {key!r} of method {method_name!r} must be a finite number; got {value!r}.")
