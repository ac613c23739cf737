"""What every worker needs to process one file: compiled once, pickled to each process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veil.mapping import Mapper
from veil.pipeline import Settings
from veil.policy.model import Layout
from veil.policy.plan import Plan


@dataclass(frozen=True)
class Job:
    plan: Plan
    mapper: Mapper
    out: Path | None = None
    layout: Layout = Layout.MIRROR
    audit: bool = True
    overwrite: bool = False

    @property
    def settings(self) -> Settings:
        """What `veil.pipeline.deidentify_file` needs of the job."""
        return Settings(self.plan, self.mapper, self.audit)
