"""CPU cost of `veil deid`'s output choices (issue 10): layouts, zip out, the --for verdict.

    .venv/bin/python benchmarks/deid_outputs.py                 # this checkout
    .venv/bin/python benchmarks/deid_outputs.py --src ../x/src  # another veil, for before/after
    .venv/bin/python benchmarks/deid_outputs.py --rounds 3

Runs `veil deid -j 1 -q` on the GE 3D T1 series of the corpus (130 files, 19 MB) in each
configuration, interleaved round by round, and prints the CPU (user + sys of the whole process
tree, from wait4 of the child and its waited descendants) per file, min and max over rounds.
CPU, not wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

KEY = "5e" * 32
SERIES = (
    Path(__file__).resolve().parents[1].parent / "shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
)

CONFIGS: dict[str, list[str]] = {
    "mirror": ["--layout", "mirror"],
    "hierarchy": ["--layout", "hierarchy"],
    "zip": ["ZIP"],
    "hierarchy --for neuroquant": ["--layout", "hierarchy", "--for", "neuroquant"],
}


def _cpu_of(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.returncode, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", help="another veil's src folder (PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="configurations to run")
    options = parser.parse_args()
    env = {**os.environ, "VEIL_KEY": KEY}
    if options.src:
        env["PYTHONPATH"] = options.src
    files = sum(1 for p in SERIES.iterdir() if ".MRDC." in p.name)
    chosen = {k: v for k, v in CONFIGS.items() if not options.only or k in options.only}
    figures: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(options.rounds):
        for name, extra in chosen.items():
            with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
                target = Path(tmp) / ("case.zip" if extra == ["ZIP"] else "out")
                args = [sys.executable, "-m", "veil", "deid", str(SERIES), "--out", str(target)]
                args += [] if extra == ["ZIP"] else extra
                code, cpu = _cpu_of([*args, "-j", "1", "-q"], env)
                if code not in (0, 1):
                    raise SystemExit(f"{name}: veil deid exited {code}")
                figures[name].append(cpu * 1000 / files)
    print(f"veil deid -j 1 on {files} files ({SERIES.name}), CPU ms per file (min-max):")
    for name, values in figures.items():
        print(f"  {name:28} {min(values):6.1f} - {max(values):6.1f}  ({len(values)} rounds)")


if __name__ == "__main__":
    main()
