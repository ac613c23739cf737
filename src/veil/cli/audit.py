"""`veil audit [ORIGINAL] DEIDENTIFIED`: prove that no identifier of the inputs is in the
outputs, or judge outputs on their own by the standard's tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from veil.audit.batch import run_audit, run_standalone
from veil.cli.audit_report import print_report
from veil.cli.common import jobs_option, key_options
from veil.cli.errors import ExitCode
from veil.io.atomic import write_atomic
from veil.keys import KEY_ENV, KEY_FILE_ENV, default_key_path, read_lookup_table, resolve_key
from veil.mapping import Mapper


def _mapper(key_path: Path | None, lookup: Path | None) -> Mapper | None:
    """The project key's mapper; None when no key exists anywhere (nothing given, nothing in
    the environment, no default key file): the audit then pairs without it. A key that is
    given but unusable is still an error (exit 2)."""
    nothing_given = key_path is None and KEY_ENV not in os.environ
    if nothing_given and KEY_FILE_ENV not in os.environ and not default_key_path().exists():
        return None
    # Never create a key here: a new key pairs nothing; the outputs' key is needed.
    key, _ = resolve_key(key_path, create=False)
    return Mapper(key, read_lookup_table(lookup) if lookup else {})


@click.command("audit")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the findings as JSON (never the values found).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 on warnings too (patient characteristics, descriptors, private values).",
)
@click.option(
    "--no-heuristics",
    is_flag=True,
    help=(
        "Skip the search for identifying text by its shape (phones, e-mails, IDs, "
        "titled names, dates...) in free text."
    ),
)
@click.option("--quiet", "-q", is_flag=True, help="Do not list warnings, only errors.")
@click.option(
    "--details",
    is_flag=True,
    help="List every finding of every file, every pair and every unpaired file (default: one "
    "line per kind and element path, with a file count and examples).",
)
@jobs_option
@key_options
def command(
    folders: tuple[Path, ...],
    json_path: Path | None,
    strict: bool,
    no_heuristics: bool,
    quiet: bool,
    details: bool,
    jobs: int | None,
    key_path: Path | None,
    lookup: Path | None,
) -> None:
    """Prove that no identifier of ORIGINAL survives in DEIDENTIFIED; or, given only
    DEIDENTIFIED, judge it by the standard's tables.

    \b
    veil audit [ORIGINAL] DEIDENTIFIED

    With ORIGINAL, each output is paired with its input, in order: through the project key
    (veil's keyed UIDs), by identical SOP Instance UID, by identical pixel data, by the same
    relative path; so the output of another tool (dicognito, gdcmanon, a script) is audited
    too. Every identifying value of the input is searched for in the output's text and raw
    bytes, in the forms it takes in the wild. Without a key, pairing skips the first step.

    Without ORIGINAL (data received from elsewhere): attributes Table E.1-1 removes that
    still hold a value, private elements outside the safe private list, instance UIDs under
    a maker's or hospital's root, Patient Identity Removed missing, burned-in text flags and
    classes, and names and dates in free text.

    Findings are grouped (one line per kind and element path, with a file count and
    examples); --details lists every file. They never show a value.

    \b
    Examples:
      veil deid scans/ --out deid-out
      veil audit scans/ deid-out --json audit.json
      veil audit received/ --details

    \b
    Exit codes:
      0  clean
      1  an error finding, or an output unpaired or unreadable (--strict: warnings too)
      2  usage error (a given key unusable, more than two folders, bad option)
    """
    if len(folders) > 2:
        raise click.UsageError("give DEIDENTIFIED, or ORIGINAL and DEIDENTIFIED (two at most)")
    jobs = jobs or os.cpu_count() or 1
    if len(folders) == 1:
        report = run_standalone(folders[0], heuristics=not no_heuristics, jobs=jobs)
    else:
        report = run_audit(
            folders[0],
            folders[1],
            _mapper(key_path, lookup),
            heuristics=not no_heuristics,
            jobs=jobs,
        )
    print_report(report, show_warnings=not quiet, details=details, root=str(folders[-1]))
    if json_path is not None:
        write_atomic(json_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    if not report.ok(strict):
        sys.exit(ExitCode.FOUND)
