"""Decisions compiled once per plan: the rule of each tag, of each private creator's element,
and the action each rule comes to per (SOP class, sequence path, mode), looked up by the
fast path per element instead of searched (Table E.1-1's tag patterns are many)."""

from __future__ import annotations

from dataclasses import dataclass, field

from veil.engine.context import Context, Mode
from veil.engine.handlers import effective_action
from veil.policy.model import Action
from veil.policy.plan import Plan, Rule

_MISSING = object()


@dataclass
class Tables:
    plan: Plan
    rules: dict[int, Rule | None] = field(default_factory=dict)
    private: dict[tuple[str | None, int, int], Rule] = field(default_factory=dict)
    actions: dict[tuple[str, int, tuple[str, ...], Mode], Action] = field(default_factory=dict)

    def rule_for(self, tag: int) -> Rule | None:
        found = self.rules.get(tag, _MISSING)
        if found is _MISSING:
            found = self.rules[tag] = self.plan.rule_for(tag)
        return found  # type: ignore[return-value]

    def private_rule(self, creator: str | None, group: int, low: int) -> Rule:
        key = (creator, group, low)
        found = self.private.get(key)
        if found is None:
            found = self.private[key] = self.plan.private_rule(creator, group, low)
        return found

    def action(
        self, rule: Rule, ctx: Context, path: tuple[str, ...], tag: int, mode: Mode
    ) -> Action:
        key = (ctx.sop_class, tag, path, mode)
        found = self.actions.get(key)
        if found is None:
            found = self.actions[key] = effective_action(rule, ctx, path, tag, mode)[0]
        return found


_TABLES: dict[int, tuple[Plan, Tables]] = {}


def tables_for(plan: Plan) -> Tables:
    """The tables of a plan, compiled on first use and kept for the process's life (a
    worker serves one job, a node a handful of plans)."""
    entry = _TABLES.get(id(plan))
    if entry is None or entry[0] is not plan:
        if len(_TABLES) > 64:
            _TABLES.clear()
        entry = _TABLES[id(plan)] = (plan, Tables(plan))
    return entry[1]
