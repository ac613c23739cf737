"""Try it on a sample: one file through the node's pipeline with a chosen policy, shown so that
no role sees an original it may not.

The explain table's *before* column is where originals would show. It is masked for every
role: a value the policy keeps is shown once, as *after*; a value it changes or removes is
shown by its kind and shape only ("PN, 3 components"). The reidentifier may reveal the
originals of the sample in front of them, with a reason, and every reveal is written to the
audit log before the page is rendered (never stored, never redirected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veil.check.catalog import ProfileCatalog
from veil.console.jobrunner import APPLIED, PolicyChoice, choose_policy, compile_choice
from veil.explain import Change, ExplainRow, FoldedBlock, fold_private_blocks
from veil.mapping import Mapper
from veil.node.store import Store
from veil.pipeline import Settings
from veil.policy.loader import BUILTIN_NAMES
from veil.sample import SamplePreview, preview_file


@dataclass(frozen=True)
class ShownRow:
    """One row as the page shows it: ``before`` already masked unless revealed."""

    path: str
    keyword: str
    vr: str
    change: Change
    before: str
    after: str
    rule: str
    does: str
    masked: bool  # ``before`` is a summary, not the value
    depth: int


@dataclass(frozen=True)
class ShownBlock:
    label: str
    summary: str
    rule: str
    rows: tuple[ShownRow, ...]


def shown(row: ExplainRow, reveal: bool) -> ShownRow:
    if reveal or row.change is Change.KEPT:
        before, masked = row.before, False
    else:
        before, masked = row.before_summary, True
    return ShownRow(
        row.path,
        row.keyword,
        row.vr,
        row.change,
        before,
        row.after,
        row.rule,
        row.does,
        masked,
        row.depth,
    )


def table(preview: SamplePreview, reveal: bool, changed_only: bool) -> list[ShownRow | ShownBlock]:
    """The explain table for the page: private blocks folded, originals masked unless
    ``reveal``."""
    rows = [r for r in preview.rows if not changed_only or r.change is not Change.KEPT]
    items: list[ShownRow | ShownBlock] = []
    for item in fold_private_blocks(rows):
        if isinstance(item, FoldedBlock):
            items.append(
                ShownBlock(
                    item.block.label(),
                    item.summary,
                    item.rule,
                    tuple(shown(r, reveal) for r in item.rows),
                )
            )
        else:
            items.append(shown(item, reveal))
    return items


def policy_choices(store: Store) -> list[tuple[str, str]]:
    """(value, label) for the policy select: the applied version, every saved version
    (newest first, 100 at most), the built-in policies."""
    choices: list[tuple[str, str]] = []
    applied = store.policies.applied()
    if applied is not None:
        choices.append((APPLIED, f"the node's policy ({applied.version.label})"))
    choices += [(f"version:{v.id}", v.label) for v in store.policies.all()[:100]]
    choices += [(name, f"built-in {name}") for name in BUILTIN_NAMES]
    return choices


def default_choice(store: Store) -> str:
    return APPLIED if store.policies.applied() is not None else "basic"


def run(
    store: Store,
    catalog: ProfileCatalog,
    mapper: Mapper,
    data: bytes,
    choice: str,
    profiles: Sequence[str],
) -> tuple[SamplePreview, PolicyChoice]:
    """De-identify the sample in memory with the chosen policy (VeilError if it cannot be
    compiled: the page says why)."""
    chosen = choose_policy(store, choice)
    known = [p for p in profiles if p in catalog.profiles]
    compiled = compile_choice(store, catalog, chosen, known)
    settings = Settings(compiled.plan, mapper, audit=True)
    return preview_file(data, "sample", settings, compiled.profiles), chosen


__all__ = ["ShownBlock", "ShownRow", "default_choice", "policy_choices", "run", "shown", "table"]
