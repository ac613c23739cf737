"""`veil policy`: list the built-in policies and show what one does, with its provenance."""

from __future__ import annotations

import json
from collections import Counter

import click
from rich.console import Console
from rich.table import Table

from veil.cli.common import veil_errors_are_usage_errors
from veil.dicom import describe_tag
from veil.policy import BUILTIN_NAMES, compile_plan, load_policy
from veil.standard import EDITION, SAFE_PRIVATE_EDITION, TABLE_SOURCE, profile_rows

console = Console(highlight=False)


@click.group("policy")
def command() -> None:
    """Built-in policies, and what a policy (built-in or YAML file) does.

    \b
    Example:
      veil policy list
      veil policy show basic
      veil policy show my-policy.yaml --rules
    """


@command.command("list")
def list_policies() -> None:
    """The built-in policies."""
    for name in BUILTIN_NAMES:
        policy = load_policy(name)
        console.print(f"[bold]{name}[/]  {policy.description}")


@command.command("show")
@click.argument("policy")
@click.option("--rules", is_flag=True, help="Print the compiled rule of every attribute too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@veil_errors_are_usage_errors
def show(policy: str, rules: bool, as_json: bool) -> None:
    """What POLICY (a built-in name or a YAML file) does, and where its tables come from."""
    loaded = load_policy(policy)
    plan = compile_plan(loaded)
    actions = Counter(rule.action for rule in plan.exact.values())
    data = {
        "policy": loaded.name,
        "source": loaded.source,
        "description": loaded.description,
        "standard": {
            "table": "PS3.15 Annex E Table E.1-1",
            "edition": EDITION,
            "rows": len(profile_rows()),
            "from": TABLE_SOURCE,
            "safe_private_table": f"PS3.15 Table E.3.10-1, {SAFE_PRIVATE_EDITION}",
        },
        "options": sorted(option.value for option in loaded.options),
        "overrides": [
            {"line": o.line, "attribute": o.label, "action": o.action.value}
            for o in loaded.overrides
        ],
        "actions": dict(sorted(actions.items())),
        "patterns": [rule.source for _, rule in plan.patterns],
        "private_elements": plan.private_default.source,
        "de_identification_method": list(plan.method_text),
        "notes": list(plan.notes),
    }
    if rules:
        data["rules"] = [
            {"attribute": describe_tag(tag), "action": rule.action, "source": rule.source}
            for tag, rule in sorted(plan.exact.items())
        ]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{loaded.name}[/] ({loaded.source}): {loaded.description}")
    console.print(
        f"Standard: PS3.15 Table E.1-1, edition {EDITION}, {len(profile_rows())} rows, "
        f"from {TABLE_SOURCE}; safe private list PS3.15 Table E.3.10-1 ({SAFE_PRIVATE_EDITION})"
    )
    console.print("Options: " + (", ".join(data["options"]) or "none"))
    for override in data["overrides"]:
        console.print(
            f"Override (line {override['line']}): {override['attribute']} -> {override['action']}"
        )
    console.print(
        "Actions on listed attributes: "
        + ", ".join(f"{action} {count}" for action, count in data["actions"].items())
    )
    console.print(f"Private elements: {data['private_elements']}")
    for note in plan.notes:
        console.print(f"Note: {note}")
    if rules:
        table = Table("attribute", "action", "decided by")
        for row in data["rules"]:
            table.add_row(row["attribute"], row["action"], row["source"])
        console.print(table)
