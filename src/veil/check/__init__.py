"""Destination requirement profiles and `veil check`: will this data process, before and after
de-identification? Profiles are declarative (YAML) and say what a destination uses; results
are a verdict per study, with the series used and not used."""

from veil.check.evaluate import Collector, RuleResult, SeriesResult
from veil.check.model import Outcome, RequirementProfile, Severity
from veil.check.profile import builtin_names, load_profile, parse_profile
from veil.check.run import CheckReport, check_inputs, check_items
from veil.check.study import ProfileVerdict, StudyResult

__all__ = [
    "CheckReport",
    "Collector",
    "Outcome",
    "ProfileVerdict",
    "RequirementProfile",
    "RuleResult",
    "SeriesResult",
    "Severity",
    "StudyResult",
    "builtin_names",
    "check_inputs",
    "check_items",
    "load_profile",
    "parse_profile",
]
