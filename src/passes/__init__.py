"""Graph passes: the pass manager, rewrite rules as data with their one driver, and the passes.

`run_passes(graph, "canonicalize,fold-batchnorm", options)` runs a pipeline; a pass is a frozen
dataclass registered by name (manager.py). Rules are patterns (pattern.py) and what they become,
applied by `apply_rules` (rewrite.py).
"""
from __future__ import annotations

from . import batchnorm, canonicalize  # noqa: F401  (register the passes)
from .canonicalize import CANONICAL_RULES, Canonicalize
from .cleanup import cse, dce
from .fold import FoldPolicy, fold_node
from .manager import (
    PASSES,
    Pass,
    PassContext,
    available_passes,
    default_pipeline,
    describe_passes,
    make_pass,
    parse_pipeline,
    register_pass,
    run_passes,
)
from .pattern import P, Pattern
from .rewrite import NoRewrite, Rewriter, RewriteStats, Rule, RuleSet, apply_rules

__all__ = ["CANONICAL_RULES", "Canonicalize", "FoldPolicy", "NoRewrite", "P", "PASSES", "Pass",
           "PassContext", "Pattern", "RewriteStats", "Rewriter", "Rule", "RuleSet",
           "apply_rules", "available_passes", "cse", "dce", "default_pipeline", "describe_passes",
           "fold_node",
           "make_pass", "parse_pipeline", "register_pass", "run_passes"]
