"""Where one de-identified file goes under the output folder, and placing it there.

The names come from `veil.batch.naming` (readable hierarchy names; mirror paths checked for
identifying values), the writing from `veil.batch.placement` (atomic, collision-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veil.batch.naming import hierarchy_name, mirror_path
from veil.batch.placement import OutputTaken, place_hierarchy, place_mirror
from veil.mapping import Mapper
from veil.pipeline import FileResult
from veil.policy.model import Layout
from veil.standard import Option

__all__ = ["OutputTaken", "Placed", "place_output"]


@dataclass(frozen=True)
class Placed:
    """Where an output was written, relative to the output folder; ``renamed``: the kinds of
    identifier its mirror path held (and were replaced), never the values."""

    relative: str
    renamed: tuple[str, ...] = ()


def place_output(
    out: Path,
    layout: Layout,
    mirror_relative: str,
    data: bytes,
    result: FileResult,
    mapper: Mapper,
    *,
    options: frozenset[Option] = frozenset(),
    overwrite: bool = False,
) -> Placed:
    """Name and write one de-identified file (OutputTaken, OSError when it cannot be)."""
    if result.dataset is None:
        raise ValueError("place_output needs a de-identified dataset")
    if layout is Layout.HIERARCHY:
        name = hierarchy_name(result.dataset, result.patient_pseudonym)
        return Placed(place_hierarchy(out, name, result.encoded, overwrite))
    checked = mirror_path(mirror_relative, data, mapper, options)
    return Placed(place_mirror(out, checked.path, result.encoded, overwrite), checked.renamed)
