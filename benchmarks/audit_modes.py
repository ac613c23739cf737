"""CPU cost per file of `veil audit` in its modes, interleaved so background load spreads.

    .venv/bin/python benchmarks/audit_modes.py [SERIES_DIR] [--rounds 3]

On one corpus series (default: the GE 3D T1, 131 files) it prepares, once: veil's output
(keyed pairs) and dicognito's output (pairs by pixel data). Then, round-robin over the rounds:

- `alone`:        veil audit OUT                 (no originals: the tables)
- `paired-keyed`: veil audit IN veil-out         (pairs through the key)
- `paired-pixel`: veil audit IN dicognito-out    (no key: pairs by pixel-data digest)

Each run is a subprocess with -j 1; CPU is user+system of the child (getrusage), reported as
ms per file (best and median over the rounds) with files/s of CPU. Wall time is printed for
reference only: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VEIL = [sys.executable, "-m", "veil"]
KEY = "5e" * 32


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one command."""
    before, started = _child_cpu(), time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return _child_cpu() - before, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    default = ROOT.parent / "shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
    parser.add_argument("series", nargs="?", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = sum(1 for p in args.series.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keyed_env = {**os.environ, "VEIL_KEY": KEY}
        keyless_env = {
            **{k: v for k, v in os.environ.items() if k not in ("VEIL_KEY", "VEIL_KEY_FILE")},
            "XDG_CONFIG_HOME": str(work / "no-config"),
        }
        veil_out, dicognito_out = work / "veil-out", work / "dicognito-out"
        subprocess.run(
            [*VEIL, "deid", str(args.series), "--out", str(veil_out), "-q", "-j", "1"],
            env=keyed_env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dicognito",
                str(args.series),
                "-o",
                str(dicognito_out),
                "--quiet",
            ],
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        modes = {
            "alone (veil output)": ([*VEIL, "audit", str(veil_out), "-j", "1"], keyed_env),
            "alone (dicognito output)": (
                [*VEIL, "audit", str(dicognito_out), "-j", "1"],
                keyed_env,
            ),
            "paired-keyed": (
                [*VEIL, "audit", str(args.series), str(veil_out), "-j", "1"],
                keyed_env,
            ),
            "paired-pixel": (
                [*VEIL, "audit", str(args.series), str(dicognito_out), "-j", "1"],
                keyless_env,
            ),
        }
        cpu: dict[str, list[float]] = {name: [] for name in modes}
        wall: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, (argv, env) in modes.items():
                seconds, elapsed = run(argv, env)
                cpu[name].append(seconds)
                wall[name].append(elapsed)
    print(f"veil audit, {files} files of {args.series.name}, {args.rounds} round(s), -j 1")
    print(f"{'mode':26} {'CPU ms/file best':>17} {'median':>8} {'files/s CPU':>12} {'wall s':>7}")
    for name in modes:
        best, median = min(cpu[name]), statistics.median(cpu[name])
        print(
            f"{name:26} {1000 * best / files:17.1f} {1000 * median / files:8.1f} "
            f"{files / best:12.1f} {min(wall[name]):7.2f}"
        )


if __name__ == "__main__":
    main()
