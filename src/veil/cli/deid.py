"""`veil deid`: de-identify files, folders and zip archives into an output folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from veil.batch import BatchSummary, FileRecord, Job, Layout, Outcome, run_batch, write_report
from veil.batch.report_paths import ReportPaths, default_report_paths, hide_input_paths
from veil.check.model import RequirementProfile
from veil.check.run import check_items
from veil.cli.common import jobs_option, key_options
from veil.cli.errors import ExitCode, err_console
from veil.io.inputs import InputItem, check_output_location, iter_inputs
from veil.keys import load_mapper
from veil.pipeline import CheckVerdict, Engine, check_facts, compile_policy


def _check_outputs(
    profiles: list[RequirementProfile], summary: BatchSummary, quality_checks: bool
) -> CheckVerdict:
    """The destination checks before and after, as the workers evaluated them on each file:
    what passed before must pass after, and an output without facts is unverifiable."""
    facts = [
        (record.check, record.output)
        for record in summary.records
        if record.outcome is Outcome.WRITTEN and record.output
    ]
    return check_facts(profiles, facts, quality_checks)


NOT_USED = "not used by the destination (--only-used): not written"


def _select_used(
    items: list[InputItem], profiles: list[RequirementProfile], quality_checks: bool
) -> tuple[list[InputItem], list[FileRecord]]:
    """The inputs some destination uses, and a record for each input none uses. Files that
    cannot be read stay in the batch, so they are reported as always."""
    unused = check_items(items, profiles, quality_checks).unused_files
    keep = [item for item in items if item.display not in unused]
    skipped = [
        FileRecord(item.display, Outcome.SKIPPED, item.size, problem=NOT_USED)
        for item in items
        if item.display in unused
    ]
    return keep, skipped


def _print_failure(record: FileRecord) -> None:
    if record.outcome in (Outcome.FAILED, Outcome.QUARANTINED):
        label = "failed" if record.outcome is Outcome.FAILED else "quarantined"
        err_console.print(
            f"[red]{label}:[/] {record.problem}", soft_wrap=True, markup=True, highlight=False
        )


def _print_summary(summary: BatchSummary, out: Path, job: Job, report: Path | None) -> None:
    counts = summary.counts
    files_per_s, mb_per_s = summary.rates()
    table = Table(title="veil deid", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for outcome in Outcome:
        table.add_row(outcome.value, str(counts[outcome]))
    studies = summary.studies
    incomplete = summary.incomplete_studies
    table.add_row("studies", f"{len(studies)} ({len(incomplete)} incomplete)")
    table.add_row(
        "speed",
        f"{files_per_s:.1f} files/s, {mb_per_s:.1f} MB/s, "
        f"{summary.seconds:.1f} s, {summary.jobs} process(es)",
    )
    table.add_row(
        "policy",
        job.plan.policy_name + "".join(f" + {name}" for name in job.plan.requirement_names),
    )
    table.add_row("key", f"fingerprint {job.mapper.fingerprint()}")
    table.add_row("audit", "on" if job.audit else "OFF (--no-audit)")
    fast, full = summary.engines
    total = fast + sum(full.values())
    if total:
        share = f"{fast} of {total} files ({100 * fast / total:.0f} %)"
        reasons = ", ".join(f"{reason} {count}" for reason, count in full.most_common(4))
        table.add_row("fast path", share + (f"; reference path: {reasons}" if reasons else ""))
    table.add_row("output", str(out))
    if report:
        table.add_row("report", str(report))
    err_console.print(table)
    unused = sum(1 for r in summary.records if r.problem == NOT_USED)
    if unused:
        err_console.print(
            f"not used by {', '.join(job.plan.requirement_names)}: {unused} file(s) skipped "
            "(--only-used), not written",
            highlight=False,
        )
    for study in incomplete:
        err_console.print(
            f"[yellow]incomplete study:[/] {study} (some files failed or were "
            "quarantined; do not send it as a whole study)",
            markup=True,
        )
    for problem in summary.unverifiable:
        err_console.print(
            f"[red]not checked:[/] {problem}: the destination check could not run on this "
            "output; it is not known to keep what the destination needs",
            markup=True,
            soft_wrap=True,
        )
    for regression in summary.regressions:
        err_console.print(
            f"[red]veil error:[/] series {regression.get('series')}: rule "
            f"{regression.get('rule_id')} passed before de-identification and "
            f"fails after: {regression.get('message')}",
            markup=True,
        )


@click.command("deid")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (created; must not be or contain an input).",
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
@click.option(
    "--only-used",
    is_flag=True,
    help="Write only the series the --for destinations use (neuroquant: the 3D T1); the "
    "other files are skipped and counted, never written (less data leaves, less to pay for).",
)
@key_options
@jobs_option
@click.option(
    "--layout",
    type=click.Choice([layout.value for layout in Layout]),
    default=None,
    help="mirror: the input tree and file names; hierarchy: "
    "patient/study/series/instance.dcm named by pseudonyms (use it when input "
    "file or folder names may identify someone). Default: the policy's layout:, else mirror.",
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
    "[default: digest with --layout hierarchy, else plain].",
)
@click.option(
    "--no-audit",
    is_flag=True,
    help="Do not audit each written file for surviving identifiers (speed runs only).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace output files that exist with different content."
)
@click.option(
    "--engine",
    type=click.Choice([engine.value for engine in Engine]),
    default=Engine.AUTO.value,
    show_default=True,
    help="auto: the streaming fast path, and the reference (pydicom) path for the files it "
    "hands over (their outputs are the same); reference: the reference path only.",
)
@click.option(
    "--verify-fast",
    is_flag=True,
    help="Also run the reference path on every file the fast path takes and compare; a "
    "difference is counted and the reference output written (slower; for validation).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    inputs: tuple[Path, ...],
    out: Path,
    policy: str,
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    only_used: bool,
    key_path: Path | None,
    lookup: Path | None,
    jobs: int | None,
    layout: str | None,
    report: Path | None,
    report_paths: str | None,
    no_audit: bool,
    overwrite: bool,
    engine: str,
    verify_fast: bool,
    quiet: bool,
) -> None:
    """De-identify DICOM files, folders (recursive) and zip archives into OUT.

    DICOMDIRs and non-DICOM files are skipped and counted. A file that cannot be read or
    de-identified safely gets one line naming it and the problem; the batch goes on. Inputs
    are never modified.

    \b
    Example:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil deid scans/ --out deid-out --for neuroquant --report report.json
      veil deid scans/ --out deid-out --for neuroquant --only-used

    \b
    Exit codes:
      0  every DICOM file was written
      1  a file failed or was quarantined, or the output lost a destination requirement
      2  usage error (bad policy, profile, key or output folder)
    """
    check_output_location(inputs, out)
    if report is not None:
        check_output_location(inputs, report)
    quality_checks = not no_quality_checks
    compiled = compile_policy(policy, profiles, quality_checks)
    plan, loaded_profiles = compiled.plan, list(compiled.profiles)
    if only_used and not loaded_profiles:
        raise click.UsageError(
            "--only-used needs --for PROFILE (or a policy with requirements:): the destination "
            "says what it uses"
        )
    mapper = load_mapper(key_path, lookup)
    items = list(iter_inputs(inputs))
    not_used: list[FileRecord] = []
    if only_used:
        items, not_used = _select_used(items, loaded_profiles, quality_checks)
    job = Job(
        plan=plan,
        mapper=mapper,
        out=out,
        layout=Layout(layout) if layout else compiled.layout or Layout.MIRROR,
        audit=not no_audit,
        overwrite=overwrite,
        engine=Engine(engine),
        verify_fast=verify_fast,
        profiles=tuple(loaded_profiles),
        quality_checks=quality_checks,
    )
    if no_audit:
        err_console.print(
            "[yellow]warning:[/] --no-audit: written files are not checked for "
            "surviving identifiers",
            markup=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    summary = run_batch(
        items,
        job,
        jobs=jobs or os.cpu_count() or 1,
        console=err_console,
        progress=not quiet,
        on_record=_print_failure,
    )
    summary.records.extend(not_used)
    verdict = _check_outputs(loaded_profiles, summary, quality_checks)
    summary.regressions = [r.to_dict() for r in verdict.regressions]
    summary.unverifiable = list(verdict.unverifiable)
    if report is not None:
        data = summary.to_dict(job)
        paths = ReportPaths(report_paths) if report_paths else default_report_paths(job.layout)
        if paths is ReportPaths.DIGEST:
            data = hide_input_paths(data, mapper, job.layout)
        write_report(report, data)
    _print_summary(summary, out, job, report)
    sys.exit(ExitCode.OK if summary.ok else ExitCode.FOUND)
