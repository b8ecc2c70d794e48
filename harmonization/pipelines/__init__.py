"""Pipelines: validation, resizing, normalisation and blending around the models; the method registry."""

from __future__ import annotations

from . import methods as _methods  # noqa: F401  (registers the built-in methods)
from .registry import Method, available_methods, get_method, list_methods, register_method

__all__ = ["Method", "available_methods", "get_method", "list_methods", "register_method"]
