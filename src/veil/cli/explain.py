"""`veil explain`: every attribute of one file, before and after, and the rule that decided it.

Values are printed to the terminal of the person who asked and nowhere else: nothing here is
logged, and when the output is not a terminal values are masked unless --values is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from rich.console import Console
from rich.table import Table

from veil.cli.common import key_options
from veil.cli.errors import CommandError
from veil.dicom import tag_text
from veil.engine import Decision, deidentify
from veil.io.dicomfile import SkippedFile, read_dataset
from veil.keys import load_mapper
from veil.pipeline import compile_policy


def _show(value: object, vr: str) -> str:
    if vr == "SQ":
        return f"<sequence of {len(value)} item(s)>"  # type: ignore[arg-type]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _find(ds: Dataset, path: str) -> object | None:
    """The element at ``path`` ("(0008,1115)[0].(0020,000E)") in ``ds``, or None."""
    current: Dataset = ds
    parts = path.split(".")
    for index, part in enumerate(parts):
        text, _, item = part.partition("[")
        tag = int(text[1:5] + text[6:10], 16)
        if tag not in current:
            return None
        elem = current[tag]
        if index == len(parts) - 1:
            return elem
        position = int(item.rstrip("]"))
        if elem.VR != "SQ" or position >= len(elem.value):
            return None
        current = elem.value[position]
    return None


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
                after = _find(output, path)
                decisions.append(
                    Decision(
                        path,
                        elem.tag,
                        _show(elem.value, elem.VR),
                        "(removed)" if after is None else _show(after.value, after.VR),  # type: ignore[attr-defined]
                        _why_unrecorded(path, after is None),
                        "removed" if after is None else "kept as it is",
                    )
                )
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value):
                    visit(item, f"{path}[{index}].")

    visit(original, "")
    added = [d for path, d in records.items() if d.before == "(absent)"]
    return decisions + added


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
    "--values/--no-values",
    default=None,
    help="Show values (default: only when writing to a terminal).",
)
def command(
    file: Path,
    policy: str,
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    key_path: Path | None,
    lookup: Path | None,
    changed_only: bool,
    values: bool | None,
) -> None:
    """For every attribute of FILE (nested ones too): value before, after, and the rule.

    The rule is the Table E.1-1 row (edition 2024b) and option, a policy override (with its
    line), or a destination requirement. Values appear only on your terminal.

    \b
    Example:
      veil explain ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/IM1.dcm --changed-only

    \b
    Exit codes:
      0  explained
      2  usage error (not a DICOM image, bad policy, profile or key)
    """
    plan = compile_policy(policy, profiles, quality_checks=not no_quality_checks).plan
    mapper = load_mapper(key_path, lookup)
    try:
        original = read_dataset(file)
    except SkippedFile as skipped:
        raise CommandError(f"{file}: nothing to explain ({skipped.reason})") from None
    records: dict[str, Decision] = {}

    def record(decision: Decision) -> None:
        records[decision.path] = decision

    output = deidentify(original, plan, mapper, recorder=record)
    show_values = values if values is not None else sys.stdout.isatty()
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 400)
    table = Table(show_lines=False)
    table.add_column("attribute", no_wrap=True)  # a path must stay searchable (copy, grep)
    table.add_column("before")
    table.add_column("after")
    table.add_column("action")
    table.add_column("decided by")
    for decision in explain(original, output, records):
        if changed_only and decision.before == decision.after:
            continue
        name = (
            keyword_for_tag(decision.tag) or "private"
            if decision.tag >> 16 & 1
            else (keyword_for_tag(decision.tag) or "")
        )
        before = decision.before if show_values else "***"
        after = decision.after if show_values or decision.after == "(removed)" else "***"
        table.add_row(f"{decision.path} {name}", before, after, decision.does, decision.rule)
    for note in plan.notes:
        console.print(f"note: {note}")
    console.print(table)
    console.print(f"policy {plan.policy_name}; key fingerprint {mapper.fingerprint()}")
