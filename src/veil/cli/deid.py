"""`veil deid`: de-identify files, folders and zip archives into an output folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from veil.batch import BatchSummary, FileRecord, Job, Layout, Outcome, run_batch
from veil.batch.dask_runner import DaskExecutor, check_cluster_address, cluster_warning, connect
from veil.batch.groups import DEFAULT_GROUP_SIZE
from veil.batch.locations import resolve_locations
from veil.batch.report_paths import ReportPaths, default_report_paths, hide_input_paths
from veil.check.model import RequirementProfile
from veil.check.run import check_items
from veil.cli.common import jobs_option, key_options
from veil.cli.errors import ExitCode, err_console
from veil.io.inputs import InputItem
from veil.io.storage import parse_storage_options
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


def _burned_in_row(burned_in: dict[str, int], job: Job) -> str | None:
    """The summary's burned-in text row (counts only), where there is something to say."""
    if not (burned_in["at_risk"] or job.plan.pixels.clean):
        return None
    done = ", ".join(
        f"{burned_in[key]} {key}"
        for key in ("cleaned", "nothing-found", "failed", "unverified")
        if burned_in.get(key)
    )
    return f"{burned_in['at_risk']} file(s) may carry it" + (f"; {done}" if done else "")


def _print_summary(summary: BatchSummary, out: str, job: Job, report: str | None) -> None:
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
        f"{summary.seconds:.1f} s, {summary.jobs} worker(s)",
    )
    table.add_row(
        "policy",
        job.plan.policy_name + "".join(f" + {name}" for name in job.plan.requirement_names),
    )
    table.add_row("key", f"fingerprint {job.mapper.fingerprint()}")
    table.add_row("audit", "on" if job.audit else "OFF (--no-audit)")
    burned_in = _burned_in_row(summary.burned_in, job)
    if burned_in:
        table.add_row("burned-in text", burned_in)
    fast, full = summary.engines
    total = fast + sum(full.values())
    if total:
        share = f"{fast} of {total} files ({100 * fast / total:.0f} %)"
        reasons = ", ".join(f"{reason} {count}" for reason, count in full.most_common(4))
        table.add_row("fast path", share + (f"; reference path: {reasons}" if reasons else ""))
    table.add_row("output", out)
    if report:
        table.add_row("report", report)
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
    if summary.burned_in["at_risk_not_cleaned_written"]:
        err_console.print(
            f"[yellow]burned-in text:[/] {summary.burned_in['at_risk_not_cleaned_written']} "
            "written file(s) may carry identifying text in their pixels (ultrasound, screen "
            "captures, cines); see 'burned_in_text' in the report, or use a policy with the "
            "option clean-pixel-data",
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
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    required=True,
    metavar="FOLDER|URL",
    help="Output folder (created; must not be or contain an input), or a URL "
    "(s3://bucket/prefix, gs://, az://, memory://, file://).",
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
    metavar="FILE|URL",
    help="Write a JSON report (a file or a URL): every input with its outcome (no "
    "identifying values).",
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
# -- scale-out (many machines, object storage): batch/dask_runner.py, io/storage.py --------
@click.option(
    "--cluster",
    metavar="ADDRESS",
    help="Run on Dask: local (a local cluster of -j workers), local:N, or a scheduler "
    "tcp://HOST:PORT / tls://HOST:PORT. Runs are resumable (OUT/_veil/).",
)
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for URLs (repeatable), e.g. endpoint_url=https://minio:9000. "
    "Credentials come from the environment, never from here.",
)
@click.option(
    "--group-size",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_GROUP_SIZE,
    show_default=True,
    help="With --cluster: files per task (files of one folder).",
)
def command(
    inputs: tuple[str, ...],
    out: str,
    policy: str,
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    only_used: bool,
    key_path: Path | None,
    lookup: Path | None,
    jobs: int | None,
    layout: str | None,
    report: str | None,
    report_paths: str | None,
    no_audit: bool,
    overwrite: bool,
    engine: str,
    verify_fast: bool,
    quiet: bool,
    cluster: str | None,
    storage_options: tuple[str, ...],
    group_size: int,
) -> None:
    """De-identify DICOM files, folders (recursive), zip archives and URLs into OUT.

    DICOMDIRs and non-DICOM files are skipped and counted. A file that cannot be read or
    de-identified safely gets one line naming it and the problem; the batch goes on. Inputs
    are never modified.

    \b
    Example:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil deid scans/ --out deid-out --for neuroquant --report report.json
      veil deid s3://pacs-export/2026/ --out s3://release/dicom/ --cluster tls://sched:8786
      veil deid scans/ --out deid-out --for neuroquant --only-used

    \b
    Exit codes:
      0  every DICOM file was written
      1  a file failed or was quarantined, or the output lost a destination requirement
         (with --cluster also: a group to retry; run the same command again to resume)
      2  usage error (bad policy, profile, key, output folder or URL, storage option,
         cluster address; a worker with another key; an output of another run)
    """
    where = resolve_locations(inputs, out, report, parse_storage_options(storage_options))
    quality_checks = not no_quality_checks
    compiled = compile_policy(policy, profiles, quality_checks)
    plan, loaded_profiles = compiled.plan, list(compiled.profiles)
    if only_used and not loaded_profiles:
        raise click.UsageError(
            "--only-used needs --for PROFILE (or a policy with requirements:): the destination "
            "says what it uses"
        )
    mapper = load_mapper(key_path, lookup)
    items = where.items()
    not_used: list[FileRecord] = []
    if only_used:
        items, not_used = _select_used(list(items), loaded_profiles, quality_checks)
    job = Job(
        plan=plan,
        mapper=mapper,
        out=where.local_out,
        layout=Layout(layout) if layout else compiled.layout or Layout.MIRROR,
        audit=not no_audit,
        overwrite=overwrite,
        sink=where.sink,
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
    workers = jobs or os.cpu_count() or 1
    executor = _executor(
        cluster, workers, loaded_profiles, quality_checks, group_size, key_path, lookup
    )
    where.prepare_output()
    summary = run_batch(
        items,
        job,
        jobs=workers,
        console=err_console,
        progress=not quiet,
        on_record=_print_failure,
        executor=executor,
    )
    summary.records.extend(not_used)
    _check(summary, executor, loaded_profiles, quality_checks)
    if where.report is not None:
        data = summary.to_dict(job)
        paths = ReportPaths(report_paths) if report_paths else default_report_paths(job.layout)
        if paths is ReportPaths.DIGEST:
            data = hide_input_paths(data, mapper, job.layout)
        where.write_report(data)
    _print_summary(summary, where.out_text, job, where.report_text)
    if executor is not None:
        _print_groups(executor)
    sys.exit(ExitCode.OK if summary.ok else ExitCode.FOUND)


def _check(
    summary: BatchSummary,
    executor: DaskExecutor | None,
    profiles: list[RequirementProfile],
    quality_checks: bool,
) -> None:
    """The --for verdict into the summary: from the facts the workers evaluated on each file
    (aggregated here after a local run, inside each group on a cluster)."""
    if executor is not None:
        summary.regressions = executor.regressions
        summary.unverifiable = executor.unverifiable
        summary.manifests = executor.manifests
        return
    verdict = _check_outputs(profiles, summary, quality_checks)
    summary.regressions = [r.to_dict() for r in verdict.regressions]
    summary.unverifiable = list(verdict.unverifiable)


def _executor(
    cluster: str | None,
    workers: int,
    profiles: list[RequirementProfile],
    quality_checks: bool,
    group_size: int,
    key_path: Path | None,
    lookup: Path | None,
) -> DaskExecutor | None:
    """None: the local process pool; with --cluster, a Dask executor (scale-out, issue 15)."""
    if cluster is None:
        return None
    check_cluster_address(cluster)
    warning = cluster_warning(cluster)
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}", markup=True)
    return DaskExecutor(
        connect=lambda: connect(cluster, workers),
        profiles=profiles,
        quality_checks=quality_checks,
        group_size=group_size,
        key_hint=key_path,
        lookup_path=lookup,
    )


def _print_groups(executor: DaskExecutor) -> None:
    stats = executor.stats
    line = f"cluster: {stats.groups} group(s): {stats.run} run, {stats.skipped} finished before"
    if stats.incomplete or stats.lost:
        line += f", {stats.incomplete + stats.lost} to retry (run the command again)"
    err_console.print(line, highlight=False)
