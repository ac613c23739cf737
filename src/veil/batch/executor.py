"""Where a batch's files are processed: the local process pool, or a Dask cluster.

Both call the same per-file function (worker.process_item) and stream FileRecords back, so the
progress bar, the failure lines, the summary and the report are the same whichever runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from veil.batch.job import Job
from veil.batch.outcome import FileRecord
from veil.io.inputs import InputItem


class Executor(Protocol):
    """Runs every item through worker.process_item somewhere; yields records as they finish."""

    @property
    def workers(self) -> int:
        """How many files it processes at once (processes, or worker threads of a cluster)."""
        ...

    def records(self, items: Sequence[InputItem], job: Job) -> Iterable[FileRecord]: ...
