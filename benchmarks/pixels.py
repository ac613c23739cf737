"""Clean Pixel Data: CPU seconds per frame for detection and for cleaning, ink coverage on the
burned-in set, the corpus ultrasound files, and what files without burned-in text cost.

    .venv/bin/python benchmarks/pixels.py                  # 2 rounds over the test set's bases
    .venv/bin/python benchmarks/pixels.py --rounds 3 --wide   # + the mosaic in 6 more syntaxes
    .venv/bin/python benchmarks/pixels.py --skip-deid      # without the `veil deid` comparison

Every figure is CPU time (user + system of this process and of its finished children:
tesseract runs as a child, `veil deid` runs as one), so it does not depend on what else the
machine is doing, as wall time does. "Detection" is the known-region rules, the ultrasound
regions and the OCR of every picture (up to three views of each frame, re-read in tiles when
the detector lumps anatomy); "cleaning" is the rest of the step: filling the regions, the
second engine's verification and the lossless write-back.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pixels.burnin import BASES, WIDE_BASES, burned_in_set  # noqa: E402
from tests.pixels.conftest import CORPUS, US_FILES  # noqa: E402
from tests.pixels.evaluate import score  # noqa: E402

from veil.pixels import PixelSettings, burned_in_risk, clean, prepare, step_needed  # noqa: E402

MR_SERIES = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"  # text-free axial T1 slices (+ reference/)
BENCH_KEY = "5e" * 32  # a public key for benchmarks only


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def predicate_cost() -> None:
    """The header-only risk flag and step predicate, per file: all a text-free file pays."""
    folder = CORPUS / MR_SERIES
    paths = sorted(p for p in folder.iterdir() if p.is_file())
    files = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    settings = PixelSettings(clean=True)
    started = cpu()
    for _ in range(10):
        for ds in files:
            burned_in_risk(ds)
            step_needed(ds, settings)
    per_file = (cpu() - started) / (10 * len(files))
    needed = sum(step_needed(ds, settings) for ds in files)
    print(
        f"\n## Files without burned-in text\n\n{len(files)} GE T1 slices ({MR_SERIES}): "
        f"{needed} need the pixel step; risk flag + predicate {1e6 * per_file:.0f} µs CPU per "
        "file (header only, no pixel decoded)."
    )


def deid_cost(rounds: int) -> None:
    """`veil deid` on the same text-free MR series, basic against basic + clean-pixel-data,
    interleaved, one worker: the CPU each costs per file, and whether Pixel Data is the same."""
    folder = CORPUS / MR_SERIES
    count = sum(1 for p in folder.iterdir() if p.is_file())
    veil = str(ROOT / ".venv" / "bin" / "veil")
    env = dict(os.environ, VEIL_KEY=BENCH_KEY)
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "pixels.yaml"
        policy.write_text("name: bench-pixels\noptions: [clean-pixel-data]\n")
        runs: dict[str, list[float]] = {"basic": [], "basic + clean-pixel-data": []}
        for round_ in range(rounds):
            for label, extra in (("basic", []), ("basic + clean-pixel-data", ["-p", str(policy)])):
                out = Path(tmp) / f"out-{round_}-{len(extra)}"
                before = children_cpu()
                subprocess.run(
                    [veil, "deid", str(folder), "--out", str(out), "-j", "1", "-q", *extra],
                    check=True,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                runs[label].append(children_cpu() - before)
        same = 0
        for path in sorted((Path(tmp) / "out-0-0").rglob("*")):
            if path.is_file():
                other = Path(tmp) / "out-0-2" / path.relative_to(Path(tmp) / "out-0-0")
                a = pydicom.dcmread(path).PixelData
                b = pydicom.dcmread(other).PixelData
                same += a == b
    print(
        f"\n`veil deid -j 1 --out OUT {MR_SERIES}` ({count} files, {rounds} interleaved runs "
        "each, CPU of the whole process incl. start-up):\n"
    )
    print("| policy | CPU s per run (median) | min-max | CPU ms per file |")
    print("|---|---|---|---|")
    for label, values in runs.items():
        median = statistics.median(values)
        print(
            f"| {label} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | "
            f"{1000 * median / count:.1f} |"
        )
    base = statistics.median(runs["basic"])
    extra = statistics.median(runs["basic + clean-pixel-data"]) - base
    print(
        f"\nExtra for clean-pixel-data: {1000 * extra / count:+.2f} ms per file "
        f"({100 * extra / base:+.1f} %); Pixel Data identical in {same} of {count} outputs."
    )


def ultrasound() -> None:
    settings = PixelSettings(clean=True)
    print("\n## Corpus ultrasound (all-text, built-in rules)\n")
    print(
        "| file | status | frames | regions (rule/us/ocr) | removed % "
        "| detection CPU s/frame | cleaning CPU s/frame | total CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for _key, path in sorted(US_FILES.items()):
        original = pydicom.dcmread(CORPUS / path)
        work = copy.deepcopy(original)
        result = clean(work, prepare(original, settings), settings)
        c = result.counts()
        frames = max(result.frames, 1)
        print(
            f"| {Path(path).name} | {result.status.value} | {result.frames} | "
            f"{c['rule']}/{c['ultrasound-regions']}/{c['ocr']} | "
            f"{100 * result.removed_fraction:.1f} | {result.detection_seconds / frames:.2f} | "
            f"{(result.seconds - result.detection_seconds) / frames:.2f} | "
            f"{result.seconds:.2f} |"
        )


def burned_in(rounds: int, wide: bool) -> None:
    bases = WIDE_BASES if wide else BASES
    samples = rounds * len(bases)
    settings = PixelSettings(clean=True, ocr_every_image=True)
    print(f"\n## Burned-in set ({samples} samples: {rounds} rounds over {len(bases)} bases)\n")
    print(
        "| sample | syntax | status | ink covered % | removed % | outside same "
        "| detection CPU s/frame | cleaning CPU s/frame |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ink = covered = full = 0
    detection, cleaning = [], []
    statuses: dict[str, int] = {}
    for sample in burned_in_set(CORPUS, samples, bases=bases):
        s = score(sample, settings)
        frames = max(s.result.frames, 1)
        ink += s.ink_pixels
        covered += s.ink_covered
        full += s.ink_covered == s.ink_pixels
        detection.append(s.result.detection_seconds / frames)
        cleaning.append((s.result.seconds - s.result.detection_seconds) / frames)
        statuses[s.result.status.value] = statuses.get(s.result.status.value, 0) + 1
        print(
            f"| {s.name} | {s.result.transfer_syntax_in} | {s.result.status.value} | "
            f"{100 * s.coverage:.2f} | {s.removed_percent:.1f} | {s.outside_identical} | "
            f"{detection[-1]:.2f} | {cleaning[-1]:.2f} |",
            flush=True,
        )
    print(
        f"\nInk covered {100 * covered / max(ink, 1):.2f} % ({full} of {samples} samples at "
        f"100 %); statuses {statuses}. CPU s per frame: detection median "
        f"{statistics.median(detection):.2f} (max {max(detection):.2f}), cleaning median "
        f"{statistics.median(cleaning):.2f} (max {max(cleaning):.2f})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the bases")
    parser.add_argument("--wide", action="store_true", help="also the other mosaic syntaxes")
    parser.add_argument("--skip-deid", action="store_true", help="no `veil deid` comparison")
    parser.add_argument("--deid-rounds", type=int, default=5, help="interleaved `veil deid` runs")
    args = parser.parse_args()
    started = time.time()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    predicate_cost()
    if not args.skip_deid:
        deid_cost(rounds=args.deid_rounds)
    ultrasound()
    burned_in(args.rounds, args.wide)
    print(f"\n(wall {time.time() - started:.0f} s, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
