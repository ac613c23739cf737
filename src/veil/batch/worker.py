"""One input file of a batch: read it, run it through `veil.pipeline`, place the output.

Runs inside worker processes; everything it needs comes in the pickled Job. It never raises for
a bad input: every problem becomes a FileRecord naming the file and the problem, so the rest of
the batch goes on (DESIGN: nothing is lost, inputs are never modified).
"""

from __future__ import annotations

from veil.batch.job import Job
from veil.batch.layout import OutputTaken, place_output
from veil.batch.outcome import FileRecord
from veil.errors import InputFileError
from veil.io.inputs import InputItem
from veil.pipeline import Outcome, deidentify_file


def internal_error(item: InputItem, exc: Exception) -> FileRecord:
    """The record of a file whose processing raised: the type only (an exception's text may
    quote a value from the file)."""
    return FileRecord(
        item.display,
        Outcome.FAILED,
        item.size,
        problem=f"{item.display}: internal error in veil ({type(exc).__name__}); nothing "
        "was written for this file; please report it",
    )


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
    try:
        placed = place_output(
            job.out,
            job.layout,
            item.relative,
            data,
            result,
            job.mapper,
            options=job.plan.declared_options,
            overwrite=job.overwrite,
            sink=job.sink,
        )
    except OutputTaken as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: the output {exc} already exists with "
            "different content (an earlier run with another key or policy); use an empty "
            "--out folder or --overwrite",
            study=result.study,
            series=result.series,
            engine=result.engine,
        )
    except OSError as exc:
        return FileRecord(
            item.display,
            Outcome.FAILED,
            len(data),
            problem=f"{item.display}: cannot write its output "
            f"({exc.strerror or type(exc).__name__})",
            retry=True,
            engine=result.engine,
            study=result.study,
            series=result.series,
        )
    return FileRecord(
        item.display,
        Outcome.WRITTEN,
        len(data),
        output=placed.relative,
        renamed=placed.renamed,
        study=result.study,
        series=result.series,
        burned_in=result.burned_in,
        pixels=result.pixels,
        engine=result.engine,
        check=result.check,
    )
