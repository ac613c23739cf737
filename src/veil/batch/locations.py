"""Where a run reads and writes: local paths, or fsspec URLs (s3://, gs://, az://, memory://).

``file://`` URLs are local paths. Inputs are all local or all URLs (one naming scheme for the
mirror layout). The same safety rule holds for both: the output (and the report) is never an
input, inside one, or around one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.batch.sink import ObjectSink, Sink
from veil.errors import StorageError, UnsafeOutputError
from veil.io.atomic import write_atomic
from veil.io.inputs import InputItem, check_output_location, iter_inputs
from veil.io.storage import Store, is_url, local_path_of
from veil.io.stored_inputs import iter_stored_inputs


def _local_or_store(text: str, options: dict[str, Any]) -> Path | Store:
    if is_url(text):
        local = local_path_of(text)
        return Path(local) if local is not None else Store.from_url(text, options)
    return Path(text)


@dataclass(frozen=True)
class Locations:
    """The inputs, output and report of one run, each a local Path or a Store."""

    inputs: tuple[Path, ...] | tuple[Store, ...]
    out: Path | Store
    report: Path | Store | None = None

    @property
    def local_out(self) -> Path | None:
        return self.out if isinstance(self.out, Path) else None

    @property
    def sink(self) -> Sink | None:
        """None for a local folder (the batch's own temp file + rename)."""
        return ObjectSink(self.out) if isinstance(self.out, Store) else None

    @property
    def out_text(self) -> str:
        return self.out.url if isinstance(self.out, Store) else str(self.out)

    @property
    def report_text(self) -> str | None:
        if self.report is None:
            return None
        return self.report.url if isinstance(self.report, Store) else str(self.report)

    def items(self) -> list[InputItem]:
        """Every input file, in a stable order."""
        local = [p for p in self.inputs if isinstance(p, Path)]
        if local:
            return list(iter_inputs(local))
        stores = [s for s in self.inputs if isinstance(s, Store)]
        return list(iter_stored_inputs(stores, len(stores)))

    def prepare_output(self) -> None:
        if isinstance(self.out, Path):
            self.out.mkdir(parents=True, exist_ok=True)

    def write_report(self, data: dict[str, Any]) -> None:
        """The JSON report, replaced as a whole (temp file + rename, or one PUT)."""
        text = json.dumps(data, indent=2) + "\n"
        if isinstance(self.report, Store):
            self.report.put("", text.encode())
        elif self.report is not None:
            write_atomic(self.report, text.encode("utf-8"))


def _check_stores(inputs: Sequence[Store], target: Store, what: str) -> None:
    for source in inputs:
        if target.contains(source):
            raise UnsafeOutputError(
                f"{target.url}: the {what} is or contains the input {source.url}; "
                "veil never writes over its input"
            )
        if source.contains(target):
            raise UnsafeOutputError(
                f"{target.url}: the {what} is inside the input {source.url}; choose a "
                "location outside it"
            )


def resolve_locations(
    inputs: Sequence[str], out: str, report: str | None, options: dict[str, Any]
) -> Locations:
    """Parse and check the command's locations; raises a VeilError naming the problem."""
    sources = [_local_or_store(text, options) for text in inputs]
    local = [s for s in sources if isinstance(s, Path)]
    stores = [s for s in sources if isinstance(s, Store)]
    if local and stores:
        raise StorageError(
            "inputs mix local paths and URLs; run them separately (or copy them to one place)"
        )
    target = _local_or_store(out, options)
    report_target = _local_or_store(report, options) if report else None
    zipped = isinstance(target, Path) and target.suffix.lower() == ".zip"
    if isinstance(target, Path) and not zipped and target.exists() and not target.is_dir():
        raise UnsafeOutputError(f"{out}: --out is a file; give a folder (created if missing)")
    if isinstance(report_target, Path) and report_target.is_dir():
        raise UnsafeOutputError(f"{report}: --report is a folder; give a file name")
    for where, what in ((target, "output"), (report_target, "report")):
        if where is None:
            continue
        if isinstance(where, Path) and local:
            check_output_location(local, where)
        elif isinstance(where, Store) and stores:
            _check_stores(stores, where, what)
    if local:
        return Locations(tuple(local), target, report_target)
    return Locations(tuple(stores), target, report_target)
