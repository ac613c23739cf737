"""What `veil deid` tells the user: the key it created, what it skipped, the verdicts, the
summary table. Nothing here prints an identifying value: input paths are the user's own
(shown only on their terminal), everything else is pseudonymised or a rule's name."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from veil.batch import BatchSummary, FileRecord, Job, Outcome
from veil.cli.errors import err_console

if TYPE_CHECKING:  # types only: `veil deid` imports them with --cluster or --for
    from veil.batch.dask_runner import DaskExecutor
    from veil.batch.study_verdicts import OutputVerdict

MAX_LINES = 5  # of each kind of problem; the rest are counted
NOT_USED = "not used by the destination (--only-used): not written"


def print_failure(record: FileRecord) -> None:
    if record.outcome in (Outcome.FAILED, Outcome.QUARANTINED):
        label = "failed" if record.outcome is Outcome.FAILED else "quarantined"
        err_console.print(
            f"[red]{label}:[/] {escape(record.problem or '')}",
            soft_wrap=True,
            markup=True,
            highlight=False,
        )


def print_skipped(summary: BatchSummary) -> None:
    """Name the first few skipped files and why; count the rest, by reason."""
    if not summary.records:
        err_console.print("[yellow]no input files found[/]: nothing was written", markup=True)
        return
    skipped = [r for r in summary.records if r.outcome is Outcome.SKIPPED]
    if not skipped:
        return
    reasons = Counter(_reason(r) for r in skipped)
    by_reason = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    err_console.print(
        f"[yellow]skipped {len(skipped)} file(s)[/] (not written; {by_reason}):",
        markup=True,
        soft_wrap=True,
    )
    for record in skipped[:MAX_LINES]:
        err_console.print(f"  {escape(record.input)}: {escape(_reason(record))}", soft_wrap=True)
    if len(skipped) > MAX_LINES:
        err_console.print(
            f"  ... and {len(skipped) - MAX_LINES} more (every file: --report)", soft_wrap=True
        )


def _reason(record: FileRecord) -> str:
    """The reason without the file name the reader puts in front of it."""
    text = record.problem or "not a DICOM image"
    prefix = f"{record.input}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def print_renamed(summary: BatchSummary) -> None:
    """Mirror layout: the paths that held an identifying value and were renamed (kinds only)."""
    renamed = [r for r in summary.records if r.renamed]
    if not renamed:
        return
    kinds = sorted({kind for r in renamed for kind in r.renamed})
    example = renamed[0].output or ""
    err_console.print(
        f"[yellow]renamed {len(renamed)} output path(s)[/]: their input folder or file name "
        f"held an identifying value of the file ({', '.join(kinds)}); each such name was "
        f"replaced by a keyed token, e.g. {escape(example)} (--report lists every file; "
        "--layout hierarchy names outputs by pseudonyms)",
        markup=True,
        soft_wrap=True,
    )


def print_verdict(verdict: OutputVerdict) -> None:
    """One line per study: meets the profiles or not, and why not."""
    names = ", ".join(verdict.profiles)
    for study in verdict.studies:
        if study.meets:
            head = f"[green]meets {escape(names)}[/]"
        else:
            head = f"[bold red]does NOT meet {escape(names)}[/]"
        err_console.print(
            f"{study.label} ({study.series} series, {escape(study.where)}): {head}",
            markup=True,
            soft_wrap=True,
        )
        for reason in study.reasons:
            err_console.print(f"  {escape(reason)}", soft_wrap=True)
    for problem in verdict.unreadable[:MAX_LINES]:
        err_console.print(f"[red]not checked:[/] {escape(problem)}", markup=True, soft_wrap=True)


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


def _fast_path_row(summary: BatchSummary) -> str | None:
    fast, full = summary.engines
    total = fast + sum(full.values())
    if not total:
        return None
    share = f"{fast} of {total} files ({100 * fast / total:.0f} %)"
    reasons = ", ".join(f"{reason} {count}" for reason, count in full.most_common(4))
    return share + (f"; reference path: {reasons}" if reasons else "")


def print_groups(executor: DaskExecutor) -> None:
    stats = executor.stats
    line = f"cluster: {stats.groups} group(s): {stats.run} run, {stats.skipped} finished before"
    if stats.incomplete or stats.lost:
        line += f", {stats.incomplete + stats.lost} to retry (run the command again)"
    err_console.print(line, highlight=False)


def print_summary(summary: BatchSummary, job: Job, *, output: str, report: str | None) -> None:
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
    burned_in = _burned_in_row(summary.burned_in, job)
    if burned_in:
        table.add_row("burned-in text", burned_in)
    fast_path = _fast_path_row(summary)
    if fast_path:
        table.add_row("fast path", fast_path)
    table.add_row("layout", job.layout.value)
    table.add_row("output", output)
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
    _print_burned_in_warning(summary)
    for problem in summary.unverifiable:
        err_console.print(
            f"[red]not checked:[/] {escape(problem)}: the destination check could not run on "
            "this output; it is not known to keep what the destination needs",
            markup=True,
            soft_wrap=True,
        )
    for regression in summary.regressions:
        err_console.print(
            f"[red]veil error:[/] series {regression.get('series')}: rule "
            f"{regression.get('rule_id')} passed before de-identification and "
            f"fails after: {escape(str(regression.get('message')))}",
            markup=True,
        )


def _print_burned_in_warning(summary: BatchSummary) -> None:
    written = summary.burned_in["at_risk_not_cleaned_written"]
    if written:
        err_console.print(
            f"[yellow]burned-in text:[/] {written} written file(s) may carry identifying text "
            "in their pixels (ultrasound, screen captures, cines); see 'burned_in_text' in the "
            "report, or use a policy with the option clean-pixel-data",
            markup=True,
        )
