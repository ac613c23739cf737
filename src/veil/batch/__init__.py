"""The batch runner: many files through the engine in parallel processes (DESIGN: batch)."""

from __future__ import annotations

from veil.batch.job import Job, Layout
from veil.batch.outcome import FileRecord, Outcome
from veil.batch.runner import BatchSummary, run_batch, write_report
from veil.batch.worker import WorkerResult, deid_one, process_item

__all__ = [
    "BatchSummary",
    "FileRecord",
    "Job",
    "Layout",
    "Outcome",
    "WorkerResult",
    "deid_one",
    "process_item",
    "run_batch",
    "write_report",
]
