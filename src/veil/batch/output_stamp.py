"""What an output folder was written with: key, policy and layout, checked once per run.

A second run into the same folder with another key or policy would otherwise fail file by
file ("already exists with different content", 8,000 times), or worse, put the same patient
under two pseudonyms side by side. `veil deid` writes ``.veil/deid.json`` at the folder's top
(the key's public fingerprint, the policy's name and a digest of its compiled plan, the layout;
no identifying value) and compares it before writing anything: one message, once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from veil.io.atomic import write_atomic
from veil.policy.model import Layout
from veil.policy.plan import Plan, Rule

STAMP_NAME = ".veil/deid.json"  # the output's bookkeeping folder (see veil.batch.placement)


def plan_digest(plan: Plan) -> str:
    """A digest of everything a compiled plan decides (same policy -> same digest).

    Built from sorted values, not ``repr``: sets of options iterate in a per-process order."""

    def rule(r: Rule) -> list[object]:
        return [r.action, r.value, r.fallback, r.declares.value if r.declares else None]

    canonical = [
        plan.policy_name,
        sorted(option.value for option in plan.options),
        sorted(option.value for option in plan.declared_options),
        sorted([tag, *rule(r)] for tag, r in plan.exact.items()),
        [[repr(pattern), *rule(r)] for pattern, r in plan.patterns],
        rule(plan.private_default),
        sorted([repr(key), *rule(r)] for key, r in plan.private_keep.items()),
        [plan.shift_dates, plan.derive_age, list(plan.method_text)],
    ]
    text = json.dumps(canonical, default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


@dataclass(frozen=True)
class OutputStamp:
    key_fingerprint: str
    policy: str
    plan_digest: str
    layout: str

    @classmethod
    def of(cls, fingerprint: str, plan: Plan, layout: Layout) -> OutputStamp:
        return cls(fingerprint, plan.policy_name, plan_digest(plan), layout.value)

    def to_json(self) -> bytes:
        data = {
            "key_fingerprint": self.key_fingerprint,
            "policy": self.policy,
            "plan_digest": self.plan_digest,
            "layout": self.layout,
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def read_stamp(out: Path) -> OutputStamp | None:
    """The folder's stamp, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
        return OutputStamp(
            str(data["key_fingerprint"]),
            str(data["policy"]),
            str(data["plan_digest"]),
            str(data["layout"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def differences(before: OutputStamp, now: OutputStamp) -> list[str]:
    """What differs between the folder's earlier run and this one, in words."""
    found = []
    if before.key_fingerprint != now.key_fingerprint:
        found.append(
            f"another key (fingerprint {before.key_fingerprint}; this run "
            f"{now.key_fingerprint}): the same patients would get other pseudonyms"
        )
    if before.policy != now.policy or before.plan_digest != now.plan_digest:
        changed = "" if before.policy != now.policy else " (changed since)"
        found.append(f"another policy ('{before.policy}'{changed}; this run '{now.policy}')")
    if before.layout != now.layout:
        found.append(f"another layout ({before.layout}; this run {now.layout})")
    return found


def write_stamp(out: Path, stamp: OutputStamp) -> None:
    write_atomic(out / STAMP_NAME, stamp.to_json())
