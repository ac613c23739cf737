"""What every worker needs to process one file: compiled once, pickled to each process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from veil.check.model import RequirementProfile
from veil.mapping import Mapper
from veil.pipeline import Engine, Settings, default_engine
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
    engine: Engine = field(default_factory=default_engine)
    # Run the reference path too and compare; a difference falls back and is counted.
    verify_fast: bool = False
    # Destination requirement profiles whose facts the workers evaluate before and after.
    profiles: tuple[RequirementProfile, ...] = ()
    quality_checks: bool = True

    @property
    def settings(self) -> Settings:
        """What `veil.pipeline.deidentify_file` needs of the job."""
        return Settings(
            self.plan,
            self.mapper,
            self.audit,
            self.engine,
            self.verify_fast,
            self.profiles,
            self.quality_checks,
        )
