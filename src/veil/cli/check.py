"""`veil check`: will these studies process at a destination? A verdict per study."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from veil.check.evaluate import RuleResult, SeriesResult, Use
from veil.check.model import Outcome
from veil.check.profile import load_profile
from veil.check.run import CheckReport, check_inputs
from veil.check.study import StudyResult
from veil.cli.errors import ExitCode
from veil.io.atomic import write_atomic

_STYLE = {
    Outcome.PASS: "green",
    Outcome.SKIP: "dim",
    Outcome.WARN: "yellow",
    Outcome.FAIL: "bold red",
}


def _say(console: Console, text: str) -> None:
    console.print(text, soft_wrap=True)


def _explain(console: Console, result: RuleResult, indent: str) -> None:
    _say(console, f"{indent}needed for: {escape(result.need)}")
    if result.why:
        _say(console, f"{indent}why: {escape(result.why)}")
    if result.fix:
        _say(console, f"{indent}fix: {escape(result.fix)}")


def _rule_line(console: Console, result: RuleResult, verbose: bool, names: bool) -> None:
    """One rule of one series, every outcome (--details)."""
    style = _STYLE[result.outcome]
    label = f"[{style}]{result.outcome.value:4}[/] {escape(result.rule_id)}"
    if result.outcome in (Outcome.PASS, Outcome.SKIP):
        if result.outcome is Outcome.SKIP and not verbose:
            return
        _say(console, f"      {label}  {escape(result.observed or result.problem)}")
        return
    _say(
        console,
        f"      {label}  {escape(result.problem)} [dim](seen: {escape(result.observed)})[/]",
    )
    _explain(console, result, "            ")
    if names and result.names:
        shown = ", ".join(Path(n).name for n in result.names[:20])
        more = f" and {len(result.names) - 20} more" if len(result.names) > 20 else ""
        _say(console, f"            files: {escape(shown)}{more}")


def _grouped(console: Console, studies: Sequence[StudyResult]) -> None:
    """Warnings and failures of the series the destinations use, over the whole report: one
    line per rule and cause, with counts, and why and how to fix it once."""
    groups: dict[tuple[str, str, str, str], list[tuple[RuleResult, SeriesResult, str]]] = {}
    for study in studies:
        for one in study.series:
            for result in one.results:
                if result.outcome in (Outcome.WARN, Outcome.FAIL):
                    key = (result.rule_id, result.outcome.value, _cause(result.problem), result.fix)
                    groups.setdefault(key, []).append((result, one, study.label))
    if not groups:
        return
    _say(console, "[bold]Warnings and failures[/] (one line per rule and cause):")
    ordered = sorted(groups.values(), key=lambda g: (-g[0][0].outcome.rank, g[0][0].rule_id))
    for members in ordered:
        first = members[0][0]
        style = _STYLE[first.outcome]
        in_studies = len({label for _, _, label in members})
        where = (
            f"{_plural(len(members), 'series', 'series')} in "
            f"{_plural(in_studies, 'study', 'studies')}"
        )
        if in_studies == 1:
            labels = [s.label.split(" (")[0] for _, s, _ in members]
            where += (
                f" ({members[0][2]}: {', '.join(labels[:6])}{', ...' if len(labels) > 6 else ''})"
            )
        seen = {r.observed for r, _, _ in members}
        observed = first.observed if len(seen) == 1 else f"{len(seen)} different values"
        _say(
            console,
            f"  [{style}]{first.outcome.value:4}[/] {escape(first.rule_id)}  "
            f"{escape(_cause(first.problem))} [dim](seen: {escape(observed)})[/] - {escape(where)}",
        )
        _explain(console, first, "       ")


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _cause(problem: str) -> str:
    """A problem without its per-series file count, so equal causes group together."""
    head, _, tail = problem.rpartition(" (")
    return head if head and tail.endswith(" files)") and " of " in tail else problem


def _ages(console: Console, series: Sequence[SeriesResult]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for one in series:
        for result in one.results:
            if result.kind == "age":
                key = (result.rule_id.partition("/")[0], result.observed)
                seen[key] = seen.get(key, 0) + 1
    for (profile, observed), count in seen.items():
        suffix = f" [dim]({count} series)[/]" if count > 1 else ""
        _say(console, f"    age for {escape(profile)}: {escape(observed)}{suffix}")


def _study_block(
    console: Console, study: StudyResult, profiles: Sequence[str], details: bool, verbose: bool
) -> None:
    style = _STYLE[study.verdict]
    _say(
        console,
        f"[{style}]{study.verdict.value.upper()}[/] {study.label} - {len(study.series)} "
        f"series, {study.files} file(s) - {escape(study.where)}",
    )
    for verdict in study.verdicts:
        _say(
            console,
            f"  {escape(verdict.profile)}: [{_STYLE[verdict.outcome]}]"
            f"{verdict.outcome.value}[/] - {escape(verdict.reason)}",
        )
    used = [s for s in study.series if s.used]
    for one in used:
        users = [p for p in profiles if one.used_by(p)]
        by = f" (by {', '.join(users)})" if len(users) < len(profiles) else ""
        left = [u.reason for u in one.uses if u.use is Use.USED and u.reason]
        note = f"; {left[0]}" if left else ""
        unmet = ""
        if not details:
            for outcome in (Outcome.FAIL, Outcome.WARN):
                rules = [r.rule_id for r in one.results if r.outcome is outcome]
                if rules:
                    unmet += f"; [{_STYLE[outcome]}]{outcome.value}[/] {escape(', '.join(rules))}"
        _say(
            console,
            f"  [{_STYLE[one.verdict]}]uses[/] {escape(one.label)} - {one.files} file(s), "
            f"{one.frames} frame(s){escape(by)}{escape(note)}{unmet}",
        )
        if details:
            for result in one.results:
                _rule_line(console, result, verbose, names=True)
    _ages(console, used)
    for one in study.series:
        reasons: dict[str, list[str]] = {}
        for use in one.uses:
            if use.use is Use.NOT_USED:
                reasons.setdefault(use.reason, []).append(use.profile)
        for reason, names in reasons.items():
            by = f" by {', '.join(names)}" if len(names) < len(profiles) else ""
            _say(
                console,
                f"  [dim]not used{escape(by)}:[/] {escape(one.label)} - {one.files} file(s): "
                f"{escape(reason)}",
            )


def print_report(
    console: Console, report: CheckReport, verbose: bool = False, details: bool = False
) -> None:
    """The human-readable report: a verdict per study; warnings and failures of the series
    the destinations use, grouped by rule and cause, with why and how to fix (`details`:
    every rule of every used series and the files that fail)."""
    for study in report.studies:
        _study_block(console, study, report.profiles, details, verbose)
    if not details:
        _grouped(console, report.studies)
    for name, problem in report.unreadable:
        _say(console, f"[red]unreadable:[/] {escape(name)}: {escape(problem)}")
    counts = report.counts()
    series = report.series_counts()
    quality = "" if report.quality_checks else " (data quality checks disabled)"
    _say(
        console,
        f"[bold]veil check --for {', '.join(report.profiles)}{quality}:[/] "
        f"{_plural(len(report.studies), 'study', 'studies')}: {counts['pass']} pass, "
        f"{counts['warn']} warn, {counts['fail']} fail; {series['used']} series used, "
        f"{series['not_used']} not used; "
        f"{len(report.unreadable)} unreadable, {report.skipped} skipped (not DICOM)",
    )


@click.command("check")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--for",
    "profiles",
    multiple=True,
    required=True,
    metavar="PROFILE",
    help="Destination requirement profile (repeatable): neuroquant, dcm2niix, "
    "basic-viewing, or a YAML file.",
)
@click.option(
    "--no-quality-checks",
    is_flag=True,
    help="The destination's data quality checks are off (skips the rules marked so).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the full report as JSON (no identifying values).",
)
@click.option(
    "--details",
    is_flag=True,
    help="Every rule of every series used, and the files a warning or failure comes from.",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="With --details, also the rules that did not apply."
)
def command(
    inputs: tuple[Path, ...],
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    json_path: Path | None,
    details: bool,
    verbose: bool,
) -> None:
    """Check whether DICOM studies will process at a destination: a verdict per study.

    A destination uses some series of a study (neuroquant: a 3D T1-weighted MR volume;
    dcm2niix: every image series; basic-viewing: every image); the others are listed as not
    used, never failed. A study passes when what the destination needs is there and passes
    its rules. Warnings and failures are grouped by rule and cause, with the value seen
    (masked when it could identify someone), why the destination needs it and how to fix it.

    \b
    Example:
      veil check ../shared/corpus/dcm_qa_philips_enh --for neuroquant
      veil check deid-out/ --for dcm2niix --json check.json --details

    \b
    Exit codes:
      0  no study fails (warnings allowed)
      1  a study fails, or a file cannot be read
      2  usage error (unknown profile, bad option)
    """
    loaded = [load_profile(name) for name in profiles]
    report = check_inputs(inputs, loaded, quality_checks=not no_quality_checks)
    console = Console(highlight=False)
    print_report(console, report, verbose, details)
    if json_path is not None:
        write_atomic(json_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    sys.exit(ExitCode.OK if report.ok else ExitCode.FOUND)
