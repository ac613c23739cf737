"""Destination requirement profiles and `veil check`: will this data process, before and after
de-identification? Profiles are declarative (YAML); results are per study and series."""

from veil.check.evaluate import Collector, RuleResult, SeriesResult
from veil.check.model import Outcome, RequirementProfile, Severity
from veil.check.profile import builtin_names, load_profile, parse_profile
from veil.check.run import CheckReport, check_inputs

__all__ = [
    "CheckReport",
    "Collector",
    "Outcome",
    "RequirementProfile",
    "RuleResult",
    "SeriesResult",
    "Severity",
    "builtin_names",
    "check_inputs",
    "load_profile",
    "parse_profile",
]
