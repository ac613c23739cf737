"""`veil check` as a library call: read inputs, group by study and series, evaluate profiles,
give a verdict per study."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.check.evaluate import Collector, FileFacts, SeriesResult
from veil.check.model import Outcome, RequirementProfile
from veil.check.study import StudyResult, group_studies
from veil.errors import InputFileError
from veil.io.dicomfile import SkippedFile, read_bytes
from veil.io.inputs import InputItem, iter_inputs


@dataclass
class CheckReport:
    """The result of checking some inputs against some profiles: a verdict per study."""

    profiles: tuple[str, ...]
    quality_checks: bool
    series: list[SeriesResult]
    studies: list[StudyResult] = field(default_factory=list)
    skipped: int = 0  # not DICOM, DICOMDIR
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, problem)
    used_files: set[str] = field(default_factory=set)  # names of the files a destination uses
    read_files: set[str] = field(default_factory=set)  # names of every file read as DICOM

    @property
    def unused_files(self) -> set[str]:
        """Files read as DICOM that no destination uses (`veil deid --only-used` skips them)."""
        return self.read_files - self.used_files

    @property
    def ok(self) -> bool:
        """No study fails (exit 0). A warning is not a failure; an unreadable file is."""
        return not self.unreadable and all(s.verdict is not Outcome.FAIL for s in self.studies)

    def counts(self) -> dict[str, int]:
        """Studies by verdict."""
        counts = {outcome.value: 0 for outcome in (Outcome.PASS, Outcome.WARN, Outcome.FAIL)}
        for study in self.studies:
            counts[study.verdict.value] += 1
        return counts

    def series_counts(self) -> dict[str, int]:
        used = sum(1 for s in self.series if s.used)
        return {"used": used, "not_used": len(self.series) - used}

    def to_dict(self) -> dict[str, Any]:
        return {
            "profiles": list(self.profiles),
            "quality_checks": self.quality_checks,
            "ok": self.ok,
            "counts": self.counts(),
            "series_counts": self.series_counts(),
            "skipped_files": self.skipped,
            "unreadable_files": [{"file": f, "problem": p} for f, p in self.unreadable],
            "studies": [s.to_dict() for s in self.studies],
        }


def check_inputs(
    inputs: Sequence[str | Path],
    profiles: Sequence[RequirementProfile],
    quality_checks: bool = True,
) -> CheckReport:
    """Check files, folders and zip archives against the profiles: a verdict per study."""
    return check_items(iter_inputs(inputs), profiles, quality_checks)


def check_items(
    items: Iterable[InputItem],
    profiles: Sequence[RequirementProfile],
    quality_checks: bool = True,
) -> CheckReport:
    """`check_inputs` on inputs already listed (the batch lists them once for both)."""
    return check_facts_report((), profiles, quality_checks, items)


def check_facts_report(
    facts: Iterable[tuple[FileFacts, str]],
    profiles: Sequence[RequirementProfile],
    quality_checks: bool = True,
    items: Iterable[InputItem] = (),
    used_files: bool = True,
) -> CheckReport:
    """`check_items` on files whose facts were evaluated elsewhere (``file_facts`` in a
    worker process, with the name the file is reported by), aggregated exactly as if they
    had been read here; ``items`` are read here and aggregated with them. Without
    ``used_files`` the report leaves `CheckReport.used_files` empty (only `veil deid
    --only-used` asks: it checks every series' use again)."""
    collector = Collector(profiles, quality_checks)
    read: set[str] = set()
    for found, name in facts:
        collector.add_facts(found, name)
        read.add(name)
    return collected_report(collector, read, items, used_files)


def collected_report(
    collector: Collector,
    read: set[str],
    items: Iterable[InputItem] = (),
    used_files: bool = True,
    series: list[SeriesResult] | None = None,
) -> CheckReport:
    """`check_facts_report` of the facts ``collector`` holds already (``read``: their
    names), then ``items`` read here. ``series``: the collector's results when the caller
    worked them out already (used only when no item adds to them)."""
    skipped = 0
    unreadable: list[tuple[str, str]] = []
    added = False
    for item in items:
        try:
            ds = read_bytes(item.read(), item.display)
        except SkippedFile:
            skipped += 1
            continue
        except InputFileError as exc:
            unreadable.append((item.display, exc.problem))
            continue
        except OSError as exc:
            unreadable.append((item.display, f"unreadable ({exc.strerror or type(exc).__name__})"))
            continue
        try:
            added = True  # (a failing add may have added some of the file)
            collector.add(ds, item.display)
            read.add(item.display)
        except Exception as exc:  # a value no check foresaw: this file, not the whole run
            unreadable.append((item.display, f"cannot be checked ({type(exc).__name__})"))
    if series is None or added:
        series = collector.results()
    profiles = collector.profiles
    return CheckReport(
        profiles=tuple(p.name for p in profiles),
        quality_checks=collector.quality_checks,
        series=series,
        studies=group_studies(series, profiles),
        skipped=skipped,
        unreadable=unreadable,
        used_files=collector.used_files() if used_files else set(),
        read_files=read,
    )
