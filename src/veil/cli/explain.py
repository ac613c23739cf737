"""`veil explain`: every attribute of one file, before and after, and the rule that decided it.

Values are printed to the terminal of the person who asked and nowhere else: nothing here is
logged, and when the output is not a terminal values are masked unless --values is given.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
from pydicom.dataset import Dataset
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veil.cli.common import key_options
from veil.cli.errors import CommandError
from veil.cli.explain_view import added_rows, fold_private, unfolded
from veil.cli.key_notice import load_mapper_announced
from veil.dicom import tag_text
from veil.engine import Decision, deidentify
from veil.explain import find_element, show_value
from veil.io.dicomfile import SkippedFile, read_dataset
from veil.pipeline import compile_policy
from veil.pixels.explain import explain_pixels


def _why_unrecorded(path: str, removed: bool) -> str:
    """Elements the engine never visited: those inside a sequence it removed or replaced."""
    if removed:
        return "removed with the enclosing sequence"
    return "inside a sequence the engine did not walk: kept"


def explain(original: Dataset, output: Dataset, records: dict[str, Decision]) -> list[Decision]:
    """A decision for every element of ``original``, nested ones included, in file order: the
    engine's own record (the rule, and what its action's handler does) where it visited the
    element."""
    decisions: list[Decision] = []

    def visit(ds: Dataset, prefix: str) -> None:
        for elem in ds:
            path = f"{prefix}{tag_text(elem.tag)}"
            recorded = records.get(path)
            if recorded is not None:
                decisions.append(recorded)
            else:
                after = find_element(output, path)
                decisions.append(
                    Decision(
                        path,
                        elem.tag,
                        show_value(elem),
                        "(removed)" if after is None else show_value(after),
                        _why_unrecorded(path, after is None),
                        "removed" if after is None else "kept as it is",
                    )
                )
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value):
                    visit(item, f"{path}[{index}].")

    visit(original, "")
    # Recorded for a path the input does not have: added by a rule (a derived PatientAge).
    seen = {d.path for d in decisions}
    return decisions + [d for path, d in records.items() if path not in seen]


@click.command("explain")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "-p",
    default="basic",
    show_default=True,
    help="Built-in policy name or YAML policy file.",
)
@click.option(
    "--for",
    "profiles",
    multiple=True,
    metavar="PROFILE",
    help="Destination requirement profile (repeatable), as for `veil deid`.",
)
@click.option("--no-quality-checks", is_flag=True, help="As for `veil deid`.")
@key_options
@click.option("--changed-only", is_flag=True, help="Only attributes whose value changes.")
@click.option(
    "--all-private",
    is_flag=True,
    help="List every private element (default: one line per private block and creator).",
)
@click.option(
    "--values/--no-values",
    default=None,
    help="Show values (default: only when writing to a terminal).",
)
@click.option(
    "--render",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG: the first frame with the regions Clean Pixel Data removes outlined, "
    "and the result beside it (needs veil[pixels]).",
)
def command(
    file: Path,
    policy: str,
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    key_path: Path | None,
    lookup: Path | None,
    changed_only: bool,
    all_private: bool,
    values: bool | None,
    render: Path | None,
) -> None:
    """For every attribute of FILE (nested ones too): value before, after, and the rule.

    The rule is the Table E.1-1 row (edition 2024b) and option, a policy override (with its
    line), or a destination requirement. Values appear only on your terminal.

    \b
    Example:
      veil explain ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/IM1.dcm --changed-only
      veil explain ../shared/corpus/pydicom/test_files/examples_palette.dcm --render out.png

    \b
    Exit codes:
      0  explained
      2  usage error (not a DICOM image, bad policy, profile or key; --render cannot
         decode the pixels or write the PNG)
    """
    plan = compile_policy(policy, profiles, quality_checks=not no_quality_checks).plan
    mapper = load_mapper_announced(key_path, lookup)
    try:
        original = read_dataset(file)
    except SkippedFile as skipped:
        raise CommandError(f"{file}: nothing to explain ({skipped.reason})") from None
    records: dict[str, Decision] = {}

    def record(decision: Decision) -> None:
        # Two steps on one attribute (an age derived, then kept by the walk): the first
        # "before", the last "after", both rules.
        first = records.get(decision.path)
        if first is not None and first.rule != decision.rule:
            decision = replace(
                decision,
                before=first.before,
                rule=f"{first.rule}; then {decision.rule}",
                does=f"{first.does}; then {decision.does}" if first.does else decision.does,
            )
        records[decision.path] = decision

    output = deidentify(original, plan, mapper, recorder=record)
    show_values = values if values is not None else sys.stdout.isatty()
    decisions = explain(original, output, records)
    rows = unfolded(decisions) if all_private else fold_private(original, decisions)
    rows += added_rows(original, output, set(records))
    # The terminal's width (or $COLUMNS); long values and rules wrap, paths never do.
    console = Console(highlight=False)
    table = Table(show_lines=False, expand=True)
    # Paths stay whole (searchable, copyable) as long as half the width allows.
    longest = max((len(row.attribute.split(" ")[0]) for row in rows), default=10)
    table.add_column(
        "attribute", overflow="fold", ratio=3, min_width=min(longest, console.width // 2)
    )
    table.add_column("before", overflow="fold", ratio=2)
    table.add_column("after", overflow="fold", ratio=2)
    table.add_column("action", overflow="fold", ratio=2)
    table.add_column("decided by", overflow="fold", ratio=3)
    for row in rows:
        if changed_only and not row.changed:
            continue
        masked = show_values or not row.shows_values
        before = row.before if masked else "***"
        after = row.after if masked or row.after == "(removed)" else "***"
        table.add_row(
            escape(row.attribute), escape(before), escape(after), escape(row.does), escape(row.rule)
        )
    for note in plan.notes:
        console.print(f"note: {note}")
    console.print(table)
    for line in explain_pixels(original, output, plan.pixels, render):
        console.print(line)
    console.print(f"policy {plan.policy_name}; key fingerprint {mapper.fingerprint()}")
