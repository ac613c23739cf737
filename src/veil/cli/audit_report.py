"""Printing an audit report: grouped findings (one line per kind and element path), or every
file with --details; how the pairs were made; the unpaired and the unreadable."""

from __future__ import annotations

import re

from pydicom.datadict import keyword_for_tag
from rich.console import Console
from rich.markup import escape

from veil.audit.batch import AuditReport
from veil.audit.grouping import Group, group_findings
from veil.audit.pairing import Method
from veil.cli.errors import err_console

out_console = Console(highlight=False)
LISTED = 5  # unpaired and unreadable files listed before "and N more" (all with --details)


def _style(is_error: bool) -> str:
    return "bold red" if is_error else "yellow"


def _short(name: str, root: str) -> str:
    """A file as shown in examples: relative to the audited folder (the full path is in
    --details and the JSON report)."""
    prefix = root.rstrip("/") + "/"
    return name[len(prefix) :] if root and name.startswith(prefix) else name


_LAST_TAG = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)$")


def _named(path: str) -> str:
    """An element path with the keyword of its last element: "(0008,0080) InstitutionName"."""
    match = _LAST_TAG.search(path)
    keyword = keyword_for_tag(int(match[1] + match[2], 16)) if match else ""
    return f"{path} {keyword}" if keyword else path


def _group_line(group: Group, root: str) -> str:
    severity = "error" if group.is_error else "warning"
    forms = "; ".join(group.forms[:3]) + (
        f"; +{len(group.forms) - 3} more" if len(group.forms) > 3 else ""
    )
    more = len(group.files) - len(group.examples)
    examples = ", ".join(_short(n, root) for n in group.examples)
    examples += f", +{more} more" if more > 0 else ""
    where = escape(_named(group.path))
    return (
        f"[{_style(group.is_error)}]{severity:7}[/] {escape(group.kind)}  {where}  "
        f"{len(group.files)} file(s): {escape(forms)}  [dim]e.g. {escape(examples)}[/]"
    )


def _findings(report: AuditReport, show_warnings: bool, details: bool, root: str) -> None:
    if details:
        for finding in report.findings:
            if not finding.is_error and not show_warnings:
                continue
            source = f" [dim](from input {finding.source})[/]" if finding.source else ""
            severity = finding.severity.value
            out_console.print(
                f"[{_style(finding.is_error)}]{severity:7}[/] {escape(finding.file)}  "
                f"{escape(finding.path)}  {finding.kind.value}: {escape(finding.form)}{source}",
                soft_wrap=True,
            )
        return
    for group in group_findings(report.findings):
        if group.is_error or show_warnings:
            out_console.print(_group_line(group, root), soft_wrap=True)


def _listed(names: list[str], details: bool) -> str:
    shown = names if details else names[:LISTED]
    rest = len(names) - len(shown)
    return ", ".join(escape(n) for n in shown) + (f" and {rest} more (--details)" if rest else "")


def _pairing(report: AuditReport, details: bool) -> None:
    if not report.originals:
        return
    counts = report.paired_by()
    made = [f"{counts[m.value]} {m.sentence}" for m in Method if counts[m.value]]
    if made:
        err_console.print("paired " + "; ".join(made), soft_wrap=True, highlight=False)
    if not report.keyed:
        err_console.print(
            "[yellow]note:[/] no project key: pairs were made by UID, pixel data and path only",
            soft_wrap=True,
        )
    elif report.pairs and not counts[Method.KEYED_UID.value]:
        err_console.print(
            "[yellow]note:[/] no output pairs through this key: written by another tool, or "
            "with another key (--key, $VEIL_KEY)",
            soft_wrap=True,
        )
    if details:
        for p in report.pairs:
            out_console.print(
                f"[dim]pair[/] {escape(p.output)} <- {escape(p.input)} ({p.method.value})",
                soft_wrap=True,
            )
    if report.unpaired_outputs:
        out_console.print(
            f"[bold red]unpaired[/] {len(report.unpaired_outputs)} output(s) with no input by "
            f"UID, pixel data or path, not audited: {_listed(report.unpaired_outputs, details)}",
            soft_wrap=True,
        )
    if report.unpaired_inputs:
        out_console.print(
            f"[dim]{len(report.unpaired_inputs)} input(s) without an output: "
            f"{_listed(report.unpaired_inputs, details)}[/]",
            soft_wrap=True,
        )


def print_report(
    report: AuditReport, *, show_warnings: bool, details: bool, root: str = ""
) -> None:
    """``root``: the audited folder, which example file names are shown relative to."""
    _findings(report, show_warnings, details, root)
    _pairing(report, details)
    shown = report.unreadable if details else report.unreadable[:LISTED]
    for entry in shown:
        out_console.print(
            f"[red]unreadable[/] {escape(entry['file'])}: {escape(entry['problem'])}",
            soft_wrap=True,
        )
    if len(shown) < len(report.unreadable):
        out_console.print(
            f"[red]unreadable[/] and {len(report.unreadable) - len(shown)} more (--details)"
        )
    rate = report.files / report.seconds if report.seconds else 0.0
    where = "" if report.originals else " without originals"
    tail = (
        f"; {len(report.unpaired_outputs)} output(s) without an input, "
        f"{len(report.unpaired_inputs)} input(s) without an output"
        if report.originals
        else ""
    )
    err_console.print(
        f"audited {report.files} file(s){where}: {report.errors} error(s), {report.warnings} "
        f"warning(s){tail}; {report.seconds:.1f} s ({rate:.1f} files/s)",
        soft_wrap=True,
        highlight=False,
    )
