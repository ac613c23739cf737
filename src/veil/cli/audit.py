"""`veil audit ORIGINAL DEIDENTIFIED`: prove that no identifier of the inputs is in the outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from veil.audit.batch import AuditReport, run_audit
from veil.cli.common import jobs_option, key_options
from veil.cli.errors import ExitCode, err_console
from veil.io.atomic import write_atomic
from veil.keys import read_lookup_table, resolve_key
from veil.mapping import Mapper

out_console = Console(highlight=False)


def _print(report: AuditReport, show_warnings: bool) -> None:
    for finding in report.findings:
        if not finding.is_error and not show_warnings:
            continue
        style = "bold red" if finding.is_error else "yellow"
        source = f" [dim](from input {finding.source})[/]" if finding.source else ""
        out_console.print(
            f"[{style}]{finding.severity.value:7}[/] {escape(finding.file)}  "
            f"{escape(finding.path)}  "
            f"{finding.kind.value}: {escape(finding.form)}{source}",
            soft_wrap=True,
        )
    for name in report.unpaired_outputs:
        out_console.print(
            f"[bold red]unpaired[/] {escape(name)}: no input has its SOP Instance "
            "UID under this key; it was not audited",
            soft_wrap=True,
        )
    for entry in report.unreadable:
        out_console.print(
            f"[red]unreadable[/] {escape(entry['file'])}: {escape(entry['problem'])}",
            soft_wrap=True,
        )
    if report.unpaired_outputs and not report.files:
        err_console.print(
            "[yellow]hint:[/] no output pairs with an input: were they written with another "
            "key (--key, $VEIL_KEY) or from other inputs?",
            markup=True,
            soft_wrap=True,
        )
    rate = report.files / report.seconds if report.seconds else 0.0
    err_console.print(
        f"audited {report.files} file(s): {report.errors} error(s), {report.warnings} "
        f"warning(s); {len(report.unpaired_outputs)} output(s) without an input, "
        f"{len(report.unpaired_inputs)} input(s) without an output; "
        f"{report.seconds:.1f} s ({rate:.1f} files/s)",
        soft_wrap=True,
        highlight=False,
    )


@click.command("audit")
@click.argument("original", type=click.Path(exists=True, path_type=Path))
@click.argument("deidentified", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the findings as JSON (never the values found).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 on warnings too (free-text heuristics, patient characteristics).",
)
@click.option(
    "--no-heuristics", is_flag=True, help="Skip the free-text name/date heuristics (warnings)."
)
@click.option("--quiet", "-q", is_flag=True, help="Do not list warnings, only errors.")
@jobs_option
@key_options
def command(
    original: Path,
    deidentified: Path,
    json_path: Path | None,
    strict: bool,
    no_heuristics: bool,
    quiet: bool,
    jobs: int | None,
    key_path: Path | None,
    lookup: Path | None,
) -> None:
    """Prove that no identifier of ORIGINAL survives in DEIDENTIFIED.

    Each output file is paired with its input through the project key (the output's SOP
    Instance UID is the keyed UID of the input's), every identifying value of the input is
    searched for in the output's decoded text and raw bytes, in the forms it takes in the
    wild, and free text is scanned for names and dates. Findings name the file, the element
    and the kind of identifier, never the value.

    \b
    Example:
      veil deid scans/ --out deid-out
      veil audit scans/ deid-out --json audit.json

    \b
    Exit codes:
      0  clean
      1  an error finding, or an output unpaired or unreadable (--strict: warnings too)
      2  usage error (no key, bad option)
    """
    # Never create a key here: a new key pairs nothing; the outputs' key is needed.
    key, _ = resolve_key(key_path, create=False)
    mapper = Mapper(key, read_lookup_table(lookup) if lookup else {})
    report = run_audit(
        original,
        deidentified,
        mapper,
        heuristics=not no_heuristics,
        jobs=jobs or os.cpu_count() or 1,
    )
    _print(report, show_warnings=not quiet)
    if json_path is not None:
        write_atomic(json_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    if not report.ok(strict):
        sys.exit(ExitCode.FOUND)
