"""`veil deid`: de-identify files, folders and zip archives into an output folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from veil.batch import BatchSummary, FileRecord, Job, Layout, Outcome, run_batch
from veil.batch.groups import DEFAULT_GROUP_SIZE
from veil.batch.locations import Locations, resolve_locations
from veil.batch.output_stamp import OutputStamp
from veil.batch.output_target import OutputTarget, record_stamp, stamp_conflicts
from veil.batch.quiet_gc import collecting_later
from veil.batch.report_paths import ReportPaths, default_report_paths, hide_input_paths
from veil.check.model import RequirementProfile
from veil.check.run import check_items
from veil.cli.common import jobs_option, key_options
from veil.cli.deid_report import (
    NOT_USED,
    print_failure,
    print_groups,
    print_renamed,
    print_skipped,
    print_summary,
    print_verdict,
)
from veil.cli.errors import CommandError, ExitCode, err_console
from veil.cli.key_notice import load_mapper_announced
from veil.io.inputs import InputItem
from veil.io.storage import parse_storage_options
from veil.io.zip_out import refuse_existing
from veil.pipeline import CheckVerdict, Engine, check_facts, compile_policy

if TYPE_CHECKING:  # imported where used: a run without --cluster or --for never needs them
    from veil.batch.dask_runner import DaskExecutor
    from veil.batch.for_check import ForCheck
    from veil.batch.study_verdicts import OutputVerdict


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


def _zip_target(where: Locations, cluster: str | None) -> OutputTarget | None:
    """``--out case.zip`` (a local path): the archive's target; else None."""
    local = where.local_out
    if local is None or local.suffix.lower() != ".zip":
        return None
    if cluster is not None:
        raise CommandError("--out *.zip runs on this machine; drop --cluster, or give a folder")
    refuse_existing(local)  # before the key is created or read
    return OutputTarget(local)


@click.command("deid")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    required=True,
    metavar="FOLDER|URL",
    help="Output folder (created; must not be or contain an input), a URL "
    "(s3://bucket/prefix, gs://, az://, memory://, file://), or a new .zip archive "
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
    help="hierarchy: PSEUDONYM/DATE_xxxxxx/SERIESNO_DESCRIPTION/INSTANCE.dcm, named from the "
    "de-identified data only; mirror: the input tree and file names, where any folder or file "
    "name holding an identifying value of its file is renamed to a keyed token (with a "
    "message). Default: the policy's layout:, else hierarchy.",
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

    DICOMDIRs and non-DICOM files are skipped, named (the first few) and counted. A file that
    cannot be read or de-identified safely gets one line naming it and the problem; the batch
    goes on. Inputs are never modified. With --for, every study of the output gets a verdict:
    meets the profile(s), or does NOT meet them, and why.

    \b
    Example:
      veil deid ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --out deid-out
      veil deid scans/ --out case.zip --for neuroquant --report report.json
      veil deid s3://pacs-export/2026/ --out s3://release/dicom/ --cluster tls://sched:8786
      veil deid scans/ --out deid-out --for neuroquant --only-used

    \b
    Exit codes:
      0  every DICOM file was written (and, with --for, every study meets the profiles)
      1  a file failed or was quarantined, the output lost a destination requirement,
         (with --for) a study of the output does not meet the profiles, or (with
         --cluster) a group is to retry: run the same command again to resume
      2  usage error (bad policy, profile, key, output folder or URL, storage option,
         cluster address; a worker with another key; an output folder written with
         another key or policy; an existing .zip)
    """
    where = resolve_locations(inputs, out, report, parse_storage_options(storage_options))
    zip_target = _zip_target(where, cluster)
    quality_checks = not no_quality_checks
    compiled = compile_policy(policy, profiles, quality_checks)
    plan, loaded_profiles = compiled.plan, list(compiled.profiles)
    if only_used and not loaded_profiles:
        raise click.UsageError(
            "--only-used needs --for PROFILE (or a policy with requirements:): the destination "
            "says what it uses"
        )
    chosen = _choose_layout(layout, compiled.layout, zip_target is not None)
    mapper = load_mapper_announced(key_path, lookup)
    stamp = OutputStamp.of(mapper.fingerprint(), plan, chosen)
    if zip_target is None and where.local_out is not None:
        _refuse_other_run(where.local_out, stamp, overwrite)
    items = where.items()
    not_used: list[FileRecord] = []
    if only_used:
        items, not_used = _select_used(list(items), loaded_profiles, quality_checks)
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
    target = zip_target or (OutputTarget(where.local_out) if where.local_out else None)
    size: int | None = None
    try:
        if target is not None:
            target.open()
        else:
            where.prepare_output()
        job = Job(
            plan=plan,
            mapper=mapper,
            out=target.folder if target is not None else None,
            layout=chosen,
            audit=not no_audit,
            overwrite=overwrite,
            sink=where.sink,
            engine=Engine(engine),
            verify_fast=verify_fast,
            profiles=tuple(loaded_profiles),
            quality_checks=quality_checks,
        )
        follow = _for_check(loaded_profiles, quality_checks, items, target, executor)
        with collecting_later(follow is not None and workers > 1) as gc_later:
            summary = run_batch(
                items,
                job,
                jobs=workers,
                console=err_console,
                progress=not quiet,
                on_record=print_failure
                if follow is None
                else _each(print_failure, follow.add, gc_later.tick),
                executor=executor,
            )
            followed = follow.finish() if follow is not None else None
        summary.records.extend(not_used)
        if followed is not None:
            summary.regressions = [r.to_dict() for r in followed[0].regressions]
            summary.unverifiable = list(followed[0].unverifiable)
            verdict: OutputVerdict | None = followed[1]
        else:
            _check(summary, executor, loaded_profiles, quality_checks)
            verdict = _verdict(loaded_profiles, summary, target, quality_checks)
        if target is not None:
            size = target.publish(summary.records)
            record_stamp(target, stamp)
    finally:
        if target is not None:
            target.close()
    _finish(summary, job, verdict, where, report_paths, size)
    if executor is not None:
        print_groups(executor)
    ok = summary.ok and (verdict is None or verdict.ok)
    sys.exit(ExitCode.OK if ok else ExitCode.FOUND)


def _for_check(
    profiles: list[RequirementProfile],
    quality_checks: bool,
    items: Sequence[InputItem],
    target: OutputTarget | None,
    executor: DaskExecutor | None,
) -> ForCheck | None:
    """With --for, a local pool and a local output: the regressions and verdicts aggregated
    while the records arrive (`veil.batch.for_check`), not serially after the batch."""
    if not profiles or target is None or executor is not None:
        return None
    from veil.batch.for_check import ForCheck

    return ForCheck(profiles, quality_checks, items, target.folder)


def _each(*calls: Callable[[FileRecord], None]) -> Callable[[FileRecord], None]:
    def each(record: FileRecord) -> None:
        for call in calls:
            call(record)

    return each


def _verdict(
    profiles: list[RequirementProfile],
    summary: BatchSummary,
    target: OutputTarget | None,
    quality_checks: bool,
) -> OutputVerdict | None:
    """With --for: each study of a local output, meets the profiles or not, from the facts
    the workers evaluated on each output (an object store's output is checked per file only,
    by the workers)."""
    if not profiles or target is None:
        return None
    from veil.batch.study_verdicts import records_verdict

    return records_verdict(profiles, summary.records, target.folder, quality_checks)


def _finish(
    summary: BatchSummary,
    job: Job,
    verdict: OutputVerdict | None,
    where: Locations,
    report_paths: str | None,
    size: int | None,
) -> None:
    if where.report is not None:
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
        where.write_report(data)
    print_skipped(summary)
    print_renamed(summary)
    shown = where.out_text
    if size is not None:
        shown = f"{shown} (zip, {size / 1e6:.1f} MB)"
    elif shown.lower().endswith(".zip") and where.local_out is not None:
        shown = f"none: nothing was written, so no {where.local_out.name} was made"
    print_summary(summary, job, output=shown, report=where.report_text)
    if verdict is not None:
        print_verdict(verdict)


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
    from veil.batch.dask_runner import DaskExecutor, check_cluster_address, cluster_warning, connect

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
