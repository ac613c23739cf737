"""What every worker needs to process one file: compiled once, pickled to each process."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from veil.mapping import Mapper
from veil.policy.plan import Plan

if TYPE_CHECKING:
    from veil.batch.sink import Sink


class Layout(str, Enum):
    """How output files are named."""

    MIRROR = "mirror"  # the input tree, file names kept
    HIERARCHY = "hierarchy"  # patient/study/series/instance.dcm, named by pseudonyms


@dataclass(frozen=True)
class Job:
    plan: Plan
    mapper: Mapper
    out: Path | None = None
    layout: Layout = Layout.MIRROR
    audit: bool = True
    overwrite: bool = False
    # Where outputs go when not plainly under ``out`` (an object store; a cluster group's own
    # temporary folder): see batch/sink.py. None: temp file + rename under ``out``.
    sink: Sink | None = None
