"""Policies: the standard's profile and options, overrides and requirements, compiled to a plan."""

from veil.policy.loader import BUILTIN_NAMES, load_policy, parse_policy
from veil.policy.model import Action, Layout, Override, Policy, PrivateSelector, RequirementRef
from veil.policy.plan import Plan, Rule, compile_plan

__all__ = [
    "BUILTIN_NAMES",
    "Action",
    "Layout",
    "Override",
    "Plan",
    "Policy",
    "PrivateSelector",
    "RequirementRef",
    "Rule",
    "compile_plan",
    "load_policy",
    "parse_policy",
]
