"""Where one de-identified file goes under the output folder, and placing it there.

The names come from `veil.batch.naming` (readable hierarchy names; mirror paths checked for
identifying values), the writing from `veil.batch.placement` (atomic, collision-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veil.batch.fast_names import output_hierarchy_name
from veil.batch.naming import (
    HierarchyName,
    checked_hierarchy,
    digest6,
    hierarchy_name,
    mirror_path,
)
from veil.batch.placement import OutputTaken, place_hierarchy, place_mirror
from veil.batch.sink import LocalSink, Sink
from veil.mapping import Mapper
from veil.pipeline import FileResult, Outcome
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
    out: Path | None,
    layout: Layout,
    mirror_relative: str,
    data: bytes,
    result: FileResult,
    mapper: Mapper,
    *,
    options: frozenset[Option] = frozenset(),
    overwrite: bool = False,
    sink: Sink | None = None,
) -> Placed:
    """Name and write one de-identified file (OutputTaken, OSError when it cannot be).

    A local ``sink`` (a cluster group writing to a folder) places files as a local run does,
    with its own temporary folder. In an object store no folder can be claimed: hierarchy
    names carry short digests of the series and instance UIDs instead, so that two series or
    instances that would share a name never meet.
    """
    if result.output is None and not (result.encoded and result.outcome is Outcome.WRITTEN):
        raise ValueError("place_output needs a de-identified dataset")
    if out is None and sink is None:
        raise ValueError("place_output needs an output folder or a sink")
    root, tmp_dir = out if sink is None else None, None
    if isinstance(sink, LocalSink):
        root, tmp_dir = sink.root, sink.temp_dir
    if layout is Layout.HIERARCHY:
        name = _hierarchy_name(result)
        name = checked_hierarchy(name, data, mapper, options, result.fast)
        if sink is not None and root is None:  # an object store: no folder can be claimed
            return Placed(_place_in_sink(sink, unique_name(name, result), result, overwrite))
        assert root is not None
        return Placed(place_hierarchy(root, name, result.encoded, overwrite, tmp_dir))
    checked = mirror_path(mirror_relative, data, mapper, options, result.fast)
    if sink is not None and root is None:
        return Placed(_place_in_sink(sink, checked.path, result, overwrite), checked.renamed)
    assert root is not None
    return Placed(
        place_mirror(root, checked.path, result.encoded, overwrite, tmp_dir), checked.renamed
    )


def _hierarchy_name(result: FileResult) -> HierarchyName:
    """The output's hierarchy name. A fast-path output is named from its raw bytes (or the
    audit's parse of them) by `output_hierarchy_name`, the same name at a fraction of the
    cost; anything that route does not take is named from the dataset read whole."""
    fast = result.fast
    if result.output is None and fast is not None:
        try:
            return output_hierarchy_name(result.encoded, result.patient_pseudonym, fast.output)
        except Exception:  # anything the head's parse does not take: the full read names it
            pass
    dataset = result.dataset
    if dataset is None:
        raise ValueError("place_output needs a de-identified dataset")
    return hierarchy_name(dataset, result.patient_pseudonym)


def unique_name(name: HierarchyName, result: FileResult) -> str:
    """A hierarchy name that needs no claim: the series folder and the file name carry
    six hex digits of the de-identified series and instance UIDs."""
    series = f"{name.series_folder}_{digest6(name.series_uid)}"
    return f"{series}/{name.stem}_{digest6(result.instance or '')}.dcm"


def _place_in_sink(sink: Sink, relative: str, result: FileResult, overwrite: bool) -> str:
    try:
        return sink.place(relative, result.encoded, overwrite)
    except FileExistsError:
        raise OutputTaken(relative) from None
