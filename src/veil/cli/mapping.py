"""`veil mapping export`: the coordinator's locked table of who is who."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from veil.batch.mapping_table import collect_table, write_table
from veil.cli.common import key_options
from veil.cli.deid_report import MAX_LINES, announce_created_key
from veil.cli.errors import ExitCode, err_console
from veil.io.inputs import check_output_location, iter_inputs
from veil.io.zip_out import refuse_existing
from veil.keys import load_mapper, resolve_key


@click.group("mapping")
def command() -> None:
    """The table that links pseudonyms to patients (keep it locked).

    \b
    Example:
      veil mapping export ../shared/corpus/dcm_qa_ge --out table.csv

    \b
    Exit codes:
      0  done
      2  usage error (see each subcommand)
    """


@command.command("export")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV to write (new file, owner-only permissions; never overwritten).",
)
@key_options
def export(inputs: tuple[Path, ...], out: Path, key_path: Path | None, lookup: Path | None) -> None:
    """Write PatientID (+ IssuerOfPatientID) -> pseudonym and date offset for every patient
    of INPUT (files, folders, zip archives), under the project key.

    The CSV has the columns PatientID, IssuerOfPatientID, pseudonym, date_offset_days:
    exactly what `veil deid --lookup` reads, so it can be edited (a trial's subject IDs) and
    given back. It re-identifies every patient in it: it is created readable by you only,
    and never written over an existing file. Only headers are read; nothing is printed but
    counts and file names.

    \b
    Example:
      veil mapping export scans/ --out table.csv
      veil deid scans/ --out case.zip --lookup table.csv

    \b
    Exit codes:
      0  written, every file read
      1  written, but some files could not be read (named)
      2  usage error (OUT exists, bad key or lookup table)
    """
    refuse_existing(out, "a mapping table")
    check_output_location(inputs, out)
    _, source = resolve_key(key_path)
    mapper = load_mapper(key_path, lookup)
    announce_created_key(source, mapper.fingerprint())
    table = collect_table(iter_inputs(inputs), mapper)
    write_table(out, table)
    err_console.print(
        f"wrote {len(table.rows)} patient(s) from {table.files} DICOM file(s) to "
        f"{escape(str(out))} (owner-only; key fingerprint {mapper.fingerprint()}). Keep it "
        "locked: it links every pseudonym in it to a patient.",
        soft_wrap=True,
    )
    if table.placeholder_files:
        err_console.print(
            f"{table.placeholder_files} file(s) have no real PatientID (empty or a placeholder): "
            "veil keys them per study, so they have no row",
            soft_wrap=True,
        )
    if table.skipped:
        err_console.print(f"skipped {table.skipped} file(s) that are not DICOM", soft_wrap=True)
    for problem in table.unreadable[:MAX_LINES]:
        err_console.print(f"[red]unreadable:[/] {escape(problem)}", markup=True, soft_wrap=True)
    if len(table.unreadable) > MAX_LINES:
        err_console.print(f"... and {len(table.unreadable) - MAX_LINES} more unreadable")
    sys.exit(ExitCode.FOUND if table.unreadable else ExitCode.OK)
