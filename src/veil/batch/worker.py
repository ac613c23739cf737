"""One input file of a batch: read it, run it through `veil.pipeline`, place the output.

Runs inside worker processes; everything it needs comes in the pickled Job. It never raises for
a bad input: every problem becomes a FileRecord naming the file and the problem, so the rest of
the batch goes on (DESIGN: nothing is lost, inputs are never modified).
"""

from __future__ import annotations

from pathlib import Path

from veil.batch.job import Job
from veil.batch.layout import output_name
from veil.batch.outcome import FileRecord
from veil.errors import InputFileError
from veil.io.atomic import write_atomic
from veil.io.inputs import InputItem
from veil.pipeline import FileResult, Outcome, deidentify_file


def _place(out: Path, relative: str, encoded: bytes, overwrite: bool) -> str:
    """Place one output (atomically: a reader never sees half a file), idempotently."""
    target = out / relative
    if not overwrite and target.exists():
        if target.read_bytes() == encoded:
            return relative  # the same input written before: idempotent
        raise FileExistsError(relative)
    write_atomic(target, encoded)
    return relative


def process_item(item: InputItem, job: Job) -> FileRecord:
    """Read one input, de-identify it and place it under ``job.out`` (or ``job.sink``).

    With ``job.profiles`` the record carries the destination checks' facts (``check``),
    evaluated here where both datasets are at hand; the caller aggregates them."""
    try:
        data = item.read()
    except InputFileError as exc:  # a FIFO, a loop, an oversized or unsafe archive member...
        return FileRecord(item.display, Outcome.FAILED, item.size, problem=str(exc))
    except PermissionError:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable: permission denied",
            retry=True,
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            item.size,
            problem=f"{item.display}: unreadable ({exc.strerror or type(exc).__name__})",
            retry=True,
        )
    result = deidentify_file(data, item.display, job.settings)
    if result.outcome is not Outcome.WRITTEN:
        return FileRecord(
            item.display,
            result.outcome,
            len(data),
            problem=result.problem,
            study=result.study,
            series=result.series,
            findings=result.findings,
            burned_in=result.burned_in,
            pixels=result.pixels,
            engine=result.engine,
        )
    if job.out is None and job.sink is None:  # a job without --out only de-identifies
        raise ValueError("process_item needs a job with an output folder")
    relative = output_name(job.layout, item.relative, _uids(result), result.patient_pseudonym)
    try:
        if job.sink is not None:  # an object store, a cluster group's temporary folder
            job.sink.place(relative, result.encoded, job.overwrite)
        else:
            assert job.out is not None
            _place(job.out, relative, result.encoded, job.overwrite)
    except FileExistsError:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: the output {relative} already exists with "
            "different content (another input, or an earlier run with another key "
            "or policy); use an empty --out folder or --overwrite",
            study=result.study,
            series=result.series,
            engine=result.engine,
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: cannot write {relative} "
            f"({exc.strerror or type(exc).__name__})",
            retry=True,
            engine=result.engine,
        )
    return FileRecord(
        item.display,
        Outcome.WRITTEN,
        len(data),
        output=relative,
        study=result.study,
        series=result.series,
        burned_in=result.burned_in,
        pixels=result.pixels,
        engine=result.engine,
        check=result.check,
    )


def _uids(result: FileResult) -> dict[str, str]:
    """The output's UIDs that name it in the hierarchy layout (no dataset is built for them)."""
    return {
        "StudyInstanceUID": result.study or "",
        "SeriesInstanceUID": result.series or "",
        "SOPInstanceUID": result.instance or "",
    }
