"""Evaluating methods on datasets (:mod:`.evaluate`) and calibrating a checkpoint's default strength on folds its
network never saw (:mod:`.calibrate`): ``harmonization evaluate`` / ``harmonization calibrate``."""

from __future__ import annotations

from .calibrate import calibrate_strength
from .evaluate import (
           BUCKETS,
           best_strengths,
           bucket_of,
           evaluate_methods,
           expand_strengths,
           format_table,
           parse_options,
)

__all__ = ["BUCKETS", "best_strengths", "bucket_of", "calibrate_strength", "evaluate_methods", "expand_strengths",
           "format_table", "parse_options"]
