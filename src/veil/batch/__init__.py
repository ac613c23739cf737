"""The batch runner: many files through the engine in parallel processes (DESIGN: batch)."""

from __future__ import annotations

from veil.batch.job import Job
from veil.batch.outcome import FileRecord
from veil.batch.runner import BatchSummary, run_batch, write_report
from veil.batch.worker import process_item
from veil.pipeline import Outcome
from veil.policy.model import Layout

__all__ = [
    "BatchSummary",
    "FileRecord",
    "Job",
    "Layout",
    "Outcome",
    "process_item",
    "run_batch",
    "write_report",
]
