"""What every worker needs to process one file: compiled once, pickled to each process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from veil.mapping import Mapper
from veil.policy.plan import Plan


class Layout(str, Enum):
    """How output files are named."""

    MIRROR = "mirror"  # the input tree, file names kept
    HIERARCHY = "hierarchy"  # patient/study/series/instance.dcm, named by pseudonyms


class Engine(str, Enum):
    """Which de-identification path the workers take."""

    AUTO = "auto"  # the streaming fast path first, the reference path for what it hands over
    REFERENCE = "reference"  # the reference (pydicom) path only


def default_engine() -> Engine:
    """``VEIL_ENGINE=reference`` makes every job without an explicit engine (the node's, the
    console's) take the reference path: for benchmarks and diagnosis."""
    try:
        return Engine(os.environ.get("VEIL_ENGINE", Engine.AUTO.value))
    except ValueError:
        return Engine.AUTO


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
    # Destination requirement profiles to check before and after, in the workers.
    profiles: tuple[Any, ...] = ()
    quality_checks: bool = True
