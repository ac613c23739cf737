"""`veil deid`: de-identify files, folders and zip archives into an output folder or zip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from veil.batch import BatchSummary, Job, Layout, Outcome, run_batch, write_report
from veil.batch.output_stamp import OutputStamp
from veil.batch.output_target import OutputTarget, record_stamp, stamp_conflicts
from veil.batch.report_paths import ReportPaths, default_report_paths, hide_input_paths
from veil.batch.study_verdicts import OutputVerdict, output_verdict
from veil.check.model import RequirementProfile
from veil.cli.common import jobs_option, key_options
from veil.cli.deid_report import (
    announce_created_key,
    print_failure,
    print_renamed,
    print_skipped,
    print_summary,
    print_verdict,
)
from veil.cli.errors import CommandError, ExitCode, err_console
from veil.io.inputs import InputItem, check_output_location, iter_inputs
from veil.io.zip_out import refuse_existing
from veil.keys import load_mapper, resolve_key
from veil.mapping import Mapper
from veil.pipeline import CheckVerdict, OutputPair, check_outputs, compile_policy


def _written(summary: BatchSummary, folder: Path) -> list[Path]:
    return [
        folder / record.output
        for record in summary.records
        if record.outcome is Outcome.WRITTEN and record.output
    ]


def _check_outputs(
    profiles: list[RequirementProfile],
    summary: BatchSummary,
    items: list[InputItem],
    folder: Path,
    quality_checks: bool,
) -> CheckVerdict:
    """Re-run the destination checks on the output: what passed before must pass after."""
    by_display = {item.display: item for item in items}
    pairs: list[OutputPair] = [
        (by_display[record.input].read, folder / record.output)
        for record in summary.records
        if record.outcome is Outcome.WRITTEN and record.output
    ]
    return check_outputs(profiles, pairs, quality_checks)


def _mapper(key_path: Path | None, lookup: Path | None) -> Mapper:
    _, source = resolve_key(key_path)  # creates the default key on first use
    mapper = load_mapper(key_path, lookup)
    announce_created_key(source, mapper.fingerprint())
    return mapper


def _refuse_other_run(out: Path, stamp: OutputStamp, overwrite: bool) -> None:
    """Once per run, not once per file: the folder was written with another key or policy."""
    conflicts = stamp_conflicts(out, stamp)
    if not conflicts:
        return
    said = "; ".join(conflicts)
    if not overwrite:
        raise CommandError(
            f"{out}: this folder was written with {said}. Use an empty --out folder (or the "
            "same key and policy), or --overwrite to replace what differs"
        )
    err_console.print(
        f"[yellow]warning:[/] {out}: written before with {said}; --overwrite replaces files "
        "that differ (files of other pseudonyms stay)",
        markup=True,
        soft_wrap=True,
    )


def _choose_layout(layout: str | None, policy_layout: Layout | None, zipped: bool) -> Layout:
    chosen = Layout(layout) if layout else policy_layout or Layout.HIERARCHY
    if zipped and chosen is not Layout.HIERARCHY:
        raise CommandError(
            "--out *.zip writes the hierarchy layout (names by pseudonyms, never the input's "
            "names); drop --layout mirror, or give a folder as --out"
        )
    return chosen


@click.command("deid")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (created; must not be or contain an input), or a new .zip archive "
    "(hierarchy layout, written whole, never overwritten): what you send or upload.",
)
@click.option(
    "--policy",
    "-p",
    default="basic",
    show_default=True,
    help="Built-in policy name (see `veil policy list`) or a YAML policy file.",
)
@click.option(
    "--for",
    "profiles",
    multiple=True,
    metavar="PROFILE",
    help="Destination requirement profile to satisfy (repeatable): neuroquant, "
    "dcm2niix, basic-viewing, or a YAML file; added to the policy's requirements:.",
)
@click.option(
    "--no-quality-checks",
    is_flag=True,
    help="The destination's data quality checks are off (relaxes some requirements).",
)
@key_options
@jobs_option
@click.option(
    "--layout",
    type=click.Choice([layout.value for layout in Layout]),
    default=None,
    help="hierarchy: PSEUDONYM/DATE_xxxxxx/SERIESNO_DESCRIPTION/INSTANCE.dcm, named from the "
    "de-identified data only; mirror: the input tree and file names, where any folder or file "
    "name holding an identifying value of its file is renamed to a keyed token (with a "
    "message). Default: the policy's layout:, else hierarchy.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report: every input with its outcome (no identifying values).",
)
@click.option(
    "--report-paths",
    type=click.Choice([choice.value for choice in ReportPaths]),
    default=None,
    help="How the report names input files: plain paths, or keyed digests "
    "[default: digest with --layout hierarchy or when a mirror path was renamed, else plain].",
)
@click.option(
    "--no-audit",
    is_flag=True,
    help="Do not audit each written file for surviving identifiers (speed runs only).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace output files that exist with different content."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    inputs: tuple[Path, ...],
    out: Path,
    policy: str,
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    key_path: Path | None,
    lookup: Path | None,
    jobs: int | None,
    layout: str | None,
    report: Path | None,
    report_paths: str | None,
    no_audit: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """De-identify DICOM files, folders (recursive) and zip archives into OUT.

    DICOMDIRs and non-DICOM files are skipped, named (the first few) and counted. A file that
    cannot be read or de-identified safely gets one line naming it and the problem; the batch
    goes on. Inputs are never modified. With --for, every study of the output gets a verdict:
    meets the profile(s), or does NOT meet them, and why.

    \b
    Example:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil deid scans/ --out case.zip --for neuroquant --report report.json

    \b
    Exit codes:
      0  every DICOM file was written (and, with --for, every study meets the profiles)
      1  a file failed or was quarantined, the output lost a destination requirement, or
         (with --for) a study of the output does not meet the profiles
      2  usage error (bad policy, profile, key; an output folder written with another key
         or policy; an existing .zip)
    """
    zipped = out.suffix.lower() == ".zip"
    check_output_location(inputs, out)
    if report is not None:
        check_output_location(inputs, report)
    quality_checks = not no_quality_checks
    compiled = compile_policy(policy, profiles, quality_checks)
    plan, loaded_profiles = compiled.plan, list(compiled.profiles)
    chosen = _choose_layout(layout, compiled.layout, zipped)
    target = OutputTarget(out)
    if zipped:
        refuse_existing(out)  # before the key is created or read
    mapper = _mapper(key_path, lookup)
    stamp = OutputStamp.of(mapper.fingerprint(), plan, chosen)
    if not zipped:
        _refuse_other_run(out, stamp, overwrite)
    items = list(iter_inputs(inputs))
    if no_audit:
        err_console.print(
            "[yellow]warning:[/] --no-audit: written files are not checked for "
            "surviving identifiers",
            markup=True,
        )
    try:
        target.open()
        job = Job(plan, mapper, target.folder, chosen, audit=not no_audit, overwrite=overwrite)
        summary = run_batch(
            items,
            job,
            jobs=jobs or os.cpu_count() or 1,
            console=err_console,
            progress=not quiet,
            on_record=print_failure,
        )
        checked = _check_outputs(loaded_profiles, summary, items, target.folder, quality_checks)
        summary.regressions = [r.to_dict() for r in checked.regressions]
        summary.unverifiable = list(checked.unverifiable)
        verdict = (
            output_verdict(
                loaded_profiles, _written(summary, target.folder), quality_checks, target.folder
            )
            if loaded_profiles
            else None
        )
        size = target.publish(summary.records)
        record_stamp(target, stamp)
    finally:
        target.close()
    _finish(summary, job, verdict, report, report_paths, out, size)


def _finish(
    summary: BatchSummary,
    job: Job,
    verdict: OutputVerdict | None,
    report: Path | None,
    report_paths: str | None,
    out: Path,
    size: int | None,
) -> None:
    if report is not None:
        data = summary.to_dict(job)
        if verdict is not None:
            data["studies_verdict"] = [study.to_dict() for study in verdict.studies]
        renamed = any(record.renamed for record in summary.records)
        paths = (
            ReportPaths(report_paths)
            if report_paths
            else (ReportPaths.DIGEST if renamed else default_report_paths(job.layout))
        )
        if paths is ReportPaths.DIGEST:
            data = hide_input_paths(data, job.mapper, job.layout)
        write_report(report, data)
    print_skipped(summary)
    print_renamed(summary)
    shown = str(out)
    if size is not None:
        shown = f"{out} (zip, {size / 1e6:.1f} MB)"
    elif out.suffix.lower() == ".zip":
        shown = f"none: nothing was written, so no {out.name} was made"
    print_summary(summary, job, output=shown, report=report)
    if verdict is not None:
        print_verdict(verdict)
    ok = summary.ok and (verdict is None or verdict.ok)
    sys.exit(ExitCode.OK if ok else ExitCode.FOUND)
