"""Run one peer de-identifier over series folders, in this process (one subprocess per run).

Used by run.py as `python benchmarks/peers.py TOOL OUT [--shard I/N] SERIES_DIR...`; each series
folder is written to OUT/<index>/ so file names never collide. With `--shard I/N` only every
N-th file (from the I-th) of each series is processed, so N such processes side by side split
the corpus evenly (the "x2" rows of the benchmark). The peers are driven through their own
public APIs exactly as their documentation shows, with their default rules:

- deid (pydicom/deid): `replace_identifiers(files, deid=DeidRecipe(), save=True,
  output_folder=...)` with the packaged default recipe (`deid.dicom`).
- dicom-anonymizer: `anonymize(input_folder, output_folder, {}, True)` (what its CLI calls:
  default actions, private tags deleted). Its CLI only reads one flat folder, hence the loop.

dicognito is run through its own CLI (`python -m dicognito`), not from here. `pydicom-copy`
is a reference floor, not a peer: `dcmread` + `save_as` of every file, no de-identification.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def _files(folder: Path, shard: tuple[int, int]) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return files[shard[0] :: shard[1]]


def _run_deid(out: Path, series: list[Path], shard: tuple[int, int]) -> int:
    from deid.config import DeidRecipe
    from deid.dicom import replace_identifiers
    from deid.logger import bot

    bot.level = 0  # silence per-file warnings ("No deid specification...") like a batch user
    recipe = DeidRecipe()  # the packaged default recipe
    count = 0
    for index, folder in enumerate(series):
        files = [str(p) for p in _files(folder, shard)]
        target = out / str(index)
        target.mkdir(parents=True, exist_ok=True)
        replace_identifiers(files, deid=recipe, save=True, output_folder=str(target))
        count += len(files)
    return count


def _run_dicom_anonymizer(out: Path, series: list[Path], shard: tuple[int, int]) -> int:
    from dicomanonymizer.anonymizer import anonymize
    from dicomanonymizer.simpledicomanonymizer import anonymize_dicom_file

    count = 0
    devnull = open(os.devnull, "w")  # noqa: SIM115 - tqdm progress bars to nowhere
    sys.stderr = devnull
    for index, folder in enumerate(series):
        target = out / str(index)
        target.mkdir(parents=True, exist_ok=True)
        if shard == (0, 1):
            anonymize(str(folder), str(target), {}, True)
            count += sum(1 for _ in folder.iterdir())
            continue
        for path in _files(folder, shard):  # what anonymize() does, for a subset
            anonymize_dicom_file(str(path), str(target / path.name), {}, True)
            count += 1
    return count


def _run_pydicom_copy(out: Path, series: list[Path], shard: tuple[int, int]) -> int:
    """Reference floor, not a de-identifier: read and write every file with pydicom."""
    import pydicom

    count = 0
    for index, folder in enumerate(series):
        target = out / str(index)
        target.mkdir(parents=True, exist_ok=True)
        for path in _files(folder, shard):
            pydicom.dcmread(path).save_as(target / path.name)
            count += 1
    return count


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)
    tool, out, *rest = argv
    shard = (0, 1)
    if rest and rest[0] == "--shard":
        index, count = rest[1].split("/")
        shard = (int(index), int(count))
        rest = rest[2:]
    runners = {
        "deid": _run_deid,
        "dicom-anonymizer": _run_dicom_anonymizer,
        "pydicom-copy": _run_pydicom_copy,
    }
    n = runners[tool](Path(out), [Path(s) for s in rest], shard)
    print(f"{tool}: {n} files", file=sys.__stdout__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
