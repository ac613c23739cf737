"""`veil policy`: list the built-in policies and show what one does, with its provenance."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click
from rich.console import Console
from rich.table import Table

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

    \b
    Exit codes:
      0  done
      2  usage error (see each subcommand)
    """


@command.command("list")
def list_policies() -> None:
    """The built-in policies.

    \b
    Exit codes:
      0  listed
    """
    for name in BUILTIN_NAMES:
        policy = load_policy(name)
        console.print(f"[bold]{name}[/]  {policy.description}")


@command.command("show")
@click.argument("policy")
@click.option("--rules", is_flag=True, help="Print the compiled rule of every attribute too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(policy: str, rules: bool, as_json: bool) -> None:
    """What POLICY (a built-in name or a YAML file) does, and where its tables come from.

    \b
    Exit codes:
      0  shown
      2  no such policy, or the policy file is invalid (the message names the line)
    """
    loaded = load_policy(policy)
    plan = compile_plan(loaded)
    actions = dict(sorted(Counter(rule.action.value for rule in plan.exact.values()).items()))
    options = sorted(option.value for option in loaded.options)
    overrides = [
        {"line": o.line, "attribute": o.label, "action": o.action.value} for o in loaded.overrides
    ]
    rule_rows = [
        {"attribute": describe_tag(tag), "action": rule.action.value, "source": rule.source}
        for tag, rule in sorted(plan.exact.items())
    ]
    data: dict[str, Any] = {
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
        "options": options,
        "overrides": overrides,
        "actions": actions,
        "patterns": [rule.source for _, rule in plan.patterns],
        "private_elements": plan.private_default.source,
        "de_identification_method": list(plan.method_text),
        "notes": list(plan.notes),
    }
    if rules:
        data["rules"] = rule_rows
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{loaded.name}[/] ({loaded.source}): {loaded.description}")
    console.print(
        f"Standard: PS3.15 Table E.1-1, edition {EDITION}, {len(profile_rows())} rows, "
        f"from {TABLE_SOURCE}; safe private list PS3.15 Table E.3.10-1 ({SAFE_PRIVATE_EDITION})"
    )
    console.print("Options: " + (", ".join(options) or "none"))
    for override in overrides:
        console.print(
            f"Override (line {override['line']}): {override['attribute']} -> {override['action']}"
        )
    console.print(
        "Actions on listed attributes: "
        + ", ".join(f"{action} {count}" for action, count in actions.items())
    )
    console.print(f"Private elements: {plan.private_default.source}")
    for note in plan.notes:
        console.print(f"Note: {note}")
    if rules:
        table = Table("attribute", "action", "decided by")
        for row in rule_rows:
            table.add_row(str(row["attribute"]), str(row["action"]), str(row["source"]))
        console.print(table)
