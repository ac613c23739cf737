"""`veil check`: will these series process at a destination? Per series pass/warn/fail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from veil.check.evaluate import RuleResult, SeriesResult
from veil.check.model import Outcome
from veil.check.profile import load_profile
from veil.check.run import CheckReport, check_inputs
from veil.cli.errors import ExitCode
from veil.io.atomic import write_atomic

_STYLE = {
    Outcome.PASS: "green",
    Outcome.SKIP: "dim",
    Outcome.WARN: "yellow",
    Outcome.FAIL: "bold red",
}


def _rule_line(console: Console, result: RuleResult, verbose: bool) -> None:
    style = _STYLE[result.outcome]
    label = f"[{style}]{result.outcome.value:4}[/] {escape(result.rule_id)}"
    if result.outcome in (Outcome.PASS, Outcome.SKIP):
        if result.outcome is Outcome.SKIP and not verbose:
            return
        seen = result.observed or result.problem
        console.print(f"  {label}  {escape(seen)}", soft_wrap=True)
        return
    console.print(
        f"  {label}  {escape(result.problem)} [dim](seen: {escape(result.observed)})[/]",
        soft_wrap=True,
    )
    console.print(f"        needed for: {escape(result.need)}", soft_wrap=True)
    if result.why:
        console.print(f"        why: {escape(result.why)}", soft_wrap=True)
    if result.fix:
        console.print(f"        fix: {escape(result.fix)}", soft_wrap=True)


def _series_block(console: Console, series: SeriesResult, verbose: bool) -> None:
    verdict = series.verdict
    style = _STYLE[verdict]
    console.print(
        f"[{style}]{verdict.value.upper()}[/] {series.study_label} series {escape(series.label)}"
        f" - {series.files} file(s), {series.frames} frame(s) - {escape(series.where)}",
        soft_wrap=True,
    )
    for result in series.results:
        _rule_line(console, result, verbose)


def print_report(console: Console, report: CheckReport, verbose: bool = False) -> None:
    """The human-readable report: one block per series, failures with why and how to fix."""
    for series in report.series:
        _series_block(console, series, verbose)
    for name, problem in report.unreadable:
        console.print(f"[red]unreadable:[/] {escape(name)}: {escape(problem)}", soft_wrap=True)
    counts = report.counts()
    quality = "" if report.quality_checks else " (data quality checks disabled)"
    console.print(
        f"[bold]veil check --for {', '.join(report.profiles)}{quality}:[/] "
        f"{len(report.series)} series: {counts['pass']} pass, {counts['warn']} warn, "
        f"{counts['fail']} fail; {len(report.unreadable)} unreadable, "
        f"{report.skipped} skipped (not DICOM)",
        soft_wrap=True,
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
@click.option("--verbose", "-v", is_flag=True, help="Also list the rules that did not apply.")
def command(
    inputs: tuple[Path, ...],
    profiles: tuple[str, ...],
    no_quality_checks: bool,
    json_path: Path | None,
    verbose: bool,
) -> None:
    """Check whether DICOM files will process at a destination, series by series.

    Files are grouped by study and series; every rule of the profile gives pass, warn or
    fail, with the value seen (masked when it could identify someone), why the destination
    needs it and how to fix it.

    \b
    Example:
      veil check ../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22 --for neuroquant
      veil check deid-out/ --for dcm2niix --json check.json

    \b
    Exit codes:
      0  nothing fails (warnings allowed)
      1  a series fails, or a file cannot be read
      2  usage error (unknown profile, bad option)
    """
    loaded = [load_profile(name) for name in profiles]
    report = check_inputs(inputs, loaded, quality_checks=not no_quality_checks)
    console = Console(highlight=False)
    print_report(console, report, verbose)
    if json_path is not None:
        write_atomic(json_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    sys.exit(ExitCode.OK if report.ok else ExitCode.FOUND)
