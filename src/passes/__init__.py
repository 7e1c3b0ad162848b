"""Graph passes: the pass manager, rewrite rules as data with their one driver, and the passes.

`run_passes(graph, "canonicalize,fold-batchnorm", options)` runs a pipeline; a pass is a frozen
dataclass registered by name (manager.py). Rules are patterns (pattern.py) and what they become,
applied by `apply_rules` (rewrite.py).
"""
from __future__ import annotations

from . import (  # noqa: F401  (register the passes and schedules)
    batchnorm,
    canonicalize,
    schedule,
    schedule_conv,
    schedule_gemm,
    unroll,
)
from .canonicalize import CANONICAL_RULES, Canonicalize
from .cleanup import cse, dce
from .fold import FoldPolicy, fold_node
from .fuse import FUSION_RULES, Fuse, FusionRule, flatten_groups
from .lower import Lower, LoweringRules, RuleKernel, lower_graph, lowering_rules
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
from .memory_plan import MemoryPlan, PlanMemory, memory_plan, plan_memory
from .pattern import P, Pattern
from .rewrite import NoRewrite, Rewriter, RewriteStats, Rule, RuleSet, apply_rules

__all__ = ["CANONICAL_RULES", "FUSION_RULES", "Canonicalize", "FoldPolicy", "Fuse", "FusionRule",
           "Lower", "LoweringRules", "RuleKernel", "MemoryPlan", "NoRewrite", "P", "PASSES", "Pass",
           "PassContext", "Pattern", "PlanMemory", "RewriteStats", "Rewriter", "Rule", "RuleSet",
           "apply_rules", "available_passes", "cse", "dce", "default_pipeline", "describe_passes",
           "flatten_groups", "fold_node", "lower_graph", "lowering_rules", "make_pass",
           "memory_plan", "parse_pipeline", "plan_memory", "register_pass", "run_passes"]
