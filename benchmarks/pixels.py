"""Clean Pixel Data: seconds per frame, ink coverage on the burned-in set, false boxes on clean
MR slices, the corpus ultrasound files, and the cost for files without burned-in text.

    .venv/bin/python benchmarks/pixels.py            # full: 28 burned-in samples
    .venv/bin/python benchmarks/pixels.py --samples 14

CPU seconds are user+system of veil's process and of its children (tesseract runs as one), so
they do not depend on what else the machine is doing as wall time does.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pixels.burnin import burned_in_set  # noqa: E402
from tests.pixels.conftest import CORPUS, US_FILES  # noqa: E402
from tests.pixels.evaluate import score  # noqa: E402
from veil.pixels import PixelSettings, burned_in_risk, clean, prepare, step_needed  # noqa: E402


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def ultrasound() -> None:
    settings = PixelSettings(clean=True)
    print("\n## Corpus ultrasound (all-text, default rules)")
    print("| file | status | frames | regions (rule/us/ocr) | removed % | CPU s | s/frame |")
    print("|---|---|---|---|---|---|---|")
    for key, path in sorted(US_FILES.items()):
        original = pydicom.dcmread(CORPUS / path)
        work = copy.deepcopy(original)
        result = clean(work, prepare(original, settings), settings)
        c = result.counts()
        print(
            f"| {Path(path).name} | {result.status.value} | {result.frames} | "
            f"{c['rule']}/{c['ultrasound-regions']}/{c['ocr']} | "
            f"{100 * result.removed_fraction:.1f} | {result.seconds:.2f} | "
            f"{result.seconds / max(result.frames, 1):.2f} |"
        )


def no_text_cost() -> None:
    """What files without burned-in text cost: the header-only predicate, per file."""
    folder = CORPUS / "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
    files = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]
    settings = PixelSettings(clean=True)
    started = cpu()
    for _ in range(10):
        for ds in files:
            burned_in_risk(ds)
            step_needed(ds, settings)
    per_file = (cpu() - started) / (10 * len(files))
    needed = sum(step_needed(ds, settings) for ds in files)
    print(
        f"\n## Files without burned-in text\n{len(files)} GE T1 slices: {needed} need the pixel "
        f"step; risk flag + predicate {1e6 * per_file:.0f} µs CPU per file (no pixel decoded)"
    )


def burned_in(samples: int) -> None:
    settings = PixelSettings(clean=True, ocr_every_image=True)
    print(f"\n## Burned-in set ({samples} samples)")
    print("| sample | status | ink covered % | identifier ink % | outside same | CPU s/frame |")
    print("|---|---|---|---|---|---|")
    ink = covered = vink = vcovered = 0
    per_frame = []
    statuses: dict[str, int] = {}
    for sample in burned_in_set(CORPUS, samples):
        s = score(sample, settings)
        ink += s.ink_pixels
        covered += s.ink_covered
        vink += s.value_pixels
        vcovered += s.value_covered
        per_frame.append(s.result.seconds / max(s.result.frames, 1))
        statuses[s.result.status.value] = statuses.get(s.result.status.value, 0) + 1
        print(
            f"| {s.name} | {s.result.status.value} | {100 * s.coverage:.2f} | "
            f"{100 * s.value_coverage:.2f} | {s.outside_identical} | {per_frame[-1]:.2f} |"
        )
    print(
        f"\nink covered {100 * covered / max(ink, 1):.2f} %, identifier ink covered "
        f"{100 * vcovered / max(vink, 1):.2f} %; statuses {statuses}; CPU s/frame median "
        f"{statistics.median(per_frame):.2f}, max {max(per_frame):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=28)
    args = parser.parse_args()
    started = time.time()
    no_text_cost()
    ultrasound()
    burned_in(args.samples)
    print(f"\n(wall {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
