"""A policy text reviewed as it is edited: its errors by line, every conflict, the notes of
what the compiler resolved, and, per destination profile, whether the plan keeps what the
destination needs. The console's Privacy studio calls this on every change.

    review = review_policy_text(text, "draft", catalog)
    review.errors      # ("draft: line 7: unknown action 'kepp'; use one of ...",)
    review.conflicts   # each names the privacy rule and the requirement
    review.coverage    # {"neuroquant": [Coverage(...), ...], ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from veil.check.catalog import ProfileCatalog
from veil.check.coverage import Coverage, coverage
from veil.check.model import RequirementProfile
from veil.errors import PolicyError, ProfileError
from veil.pipeline import requirement_profiles
from veil.policy.document import PolicyDocument, document_from_yaml
from veil.policy.loader import parse_policy
from veil.policy.plan import Conflict, Plan, find_conflicts


@dataclass(frozen=True)
class PolicyReview:
    """What the studio shows beside a policy being edited."""

    text: str
    document: PolicyDocument | None = None
    errors: tuple[str, ...] = ()  # each names the line ("draft: line 7: ...")
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = ()  # conflicts the compiler resolved, in words
    plan: Plan | None = None
    requirements: tuple[str, ...] = ()  # the profiles the policy names
    coverage: dict[str, list[Coverage]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Savable and usable: no error and no conflict."""
        return not self.errors and not self.conflicts

    @property
    def error_lines(self) -> frozenset[int]:
        """The lines of the text the errors point at (the YAML view marks them)."""
        lines = set()
        for error in self.errors:
            _, found, rest = error.partition(": line ")
            number = rest.split(":", 1)[0]
            if found and number.isdigit():
                lines.add(int(number))
        return frozenset(lines)


def review_policy_text(
    text: str,
    origin: str,
    catalog: ProfileCatalog,
    for_profiles: Sequence[str] = (),
    quality_checks: bool = True,
) -> PolicyReview:
    """Review a policy's YAML against the site's profiles: never raises for a bad policy."""
    try:
        document = document_from_yaml(text, origin)
        policy = parse_policy(text, origin)
        profiles: list[RequirementProfile] = requirement_profiles(policy, catalog.get, for_profiles)
    except (PolicyError, ProfileError) as exc:
        return PolicyReview(text, errors=(str(exc),))
    try:
        plan, conflicts = find_conflicts(policy, profiles, quality_checks)
    except PolicyError as exc:  # not a conflict of two rules: a plain error (named by line)
        return PolicyReview(text, document, errors=(str(exc),))
    return PolicyReview(
        text,
        document,
        conflicts=tuple(conflicts),
        notes=plan.notes,
        plan=plan,
        requirements=tuple(p.name for p in profiles),
        coverage={
            name: coverage(plan, catalog.get(name), quality_checks) for name in catalog.names()
        },
    )


__all__ = ["PolicyReview", "review_policy_text"]
