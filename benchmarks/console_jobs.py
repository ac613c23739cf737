"""Console part 2: CPU per sample preview, and job throughput through the job API.

    .venv/bin/python benchmarks/console_jobs.py                  # 3 rounds
    .venv/bin/python benchmarks/console_jobs.py --rounds 5 --files 40

1. "Try it on a sample" on corpus files of several vendors: the CPU milliseconds (user+sys of
   this process) of `veil.sample.preview_file` (de-identify with the engine's recorder, the
   explain rows, the output's audit, the destination check), interleaved with the plain
   pipeline call `veil.pipeline.deidentify_file` on the same bytes, so the cost of explaining
   is the difference; and the wall time of the whole request (`POST /api/v1/preview`).
2. A job over the API (`POST /api/v1/jobs` with a zip of corpus files, polled until done,
   then the download), in this process (one job process: the runner works in-process),
   interleaved with `veil deid` of the same zip (a subprocess; its CPU from RUSAGE_CHILDREN):
   files per CPU second and per wall second for both.

Timings are noisy on a shared machine: compare CPU figures, and the interleaved pairs.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = (
    "dcm_qa/axasc35",  # Siemens MR with CSA headers
    "dcm_qa_agfa/Agfa",
    "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22",
    "dcm_qa_12bit/12bit",
)
KEY = "ab" * 32


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def files_of(relative: str) -> list[Path]:
    folder = CORPUS / relative
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "LICENSE")


def bench_preview(rounds: int) -> None:
    from veil.check.catalog import ProfileCatalog
    from veil.mapping import Mapper
    from veil.pipeline import Settings, compile_policy, deidentify_file
    from veil.sample import preview_file

    compiled = compile_policy("basic", ("neuroquant",))
    settings = Settings(compiled.plan, Mapper(bytes.fromhex(KEY)), audit=True)
    catalog = ProfileCatalog.build()
    profiles = [catalog.get("neuroquant")]
    print("sample preview (CPU ms per file, median of rounds; interleaved)")
    print(f"{'file':44} {'bytes':>9} {'rows':>6} {'pipeline':>9} {'preview':>9} {'explain+':>9}")
    for relative in SAMPLES:
        path = files_of(relative)[0]
        data = path.read_bytes()
        plain, full, rows = [], [], 0
        for _ in range(rounds):
            start = cpu()
            deidentify_file(data, path.name, settings)
            plain.append(cpu() - start)
            start = cpu()
            shown = preview_file(data, path.name, settings, profiles)
            full.append(cpu() - start)
            rows = len(shown.rows)
        p, f = statistics.median(plain) * 1000, statistics.median(full) * 1000
        print(f"{relative:44} {len(data):>9} {rows:>6} {p:>9.1f} {f:>9.1f} {f - p:>9.1f}")


def _console(folder: Path) -> tuple[Any, Any]:
    sys.path.insert(0, str(ROOT / "tests" / "node"))
    sys.path.insert(0, str(ROOT / "tests" / "console"))
    os.environ["VEIL_KEY"] = KEY
    from console_support import client, console_app  # type: ignore[import-not-found]

    from veil.console import accounts
    from veil.console.roles import Role

    app, store = console_app(folder)
    token = accounts.create_token(store, "bench", frozenset({Role.OPERATOR}))
    c = client(app)
    c.headers["Authorization"] = f"Bearer {token}"
    return app, c


def bench_preview_request(c: Any, rounds: int) -> None:
    path = files_of(SAMPLES[0])[0]
    data = path.read_bytes()
    walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = c.post(
            "/api/v1/preview",
            files={"file": ("x.dcm", data)},
            data={"policy": "basic", "profile": "neuroquant"},
        )
        walls.append(time.perf_counter() - start)
        assert answer.status_code == 200, answer.text
    print(
        f"POST /api/v1/preview, {SAMPLES[0]} ({len(data)} bytes): "
        f"median {statistics.median(walls) * 1000:.0f} ms wall over {rounds} requests"
    )


def bench_jobs(app: Any, c: Any, folder: Path, rounds: int, count: int) -> None:
    files = [p for relative in SAMPLES for p in files_of(relative)][:count]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, p in enumerate(files):
            archive.writestr(f"in/{i:04d}.dcm", p.read_bytes())
    data = buffer.getvalue()
    (folder / "in.zip").write_bytes(data)
    runner = app.state.console.studio.runner
    print(f"\njob of {len(files)} corpus files ({len(data) / 1e6:.1f} MB zip), basic policy")
    print(
        f"{'round':>5} {'api CPU s':>10} {'api wall s':>11} {'deid CPU s':>11} {'deid wall s':>12}"
    )
    api_cpu, api_wall, cli_cpu, cli_wall = [], [], [], []
    for r in range(rounds):
        start_cpu, start = cpu(), time.perf_counter()
        job = c.post(
            "/api/v1/jobs", files={"file": ("in.zip", data)}, data={"policy": "basic"}
        ).json()
        assert runner.wait(600)
        state = c.get(f"/api/v1/jobs/{job['id']}").json()
        download = c.get(f"/api/v1/jobs/{job['id']}/download")
        api_wall.append(time.perf_counter() - start)
        api_cpu.append(cpu() - start_cpu)
        assert state["written"] == len(files) and download.status_code == 200, state
        out = folder / f"cli-{r}"
        start_cpu, start = child_cpu(), time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "veil",
                "deid",
                str(folder / "in.zip"),
                "--out",
                str(out),
                "--layout",
                "hierarchy",
                "-j",
                "1",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "VEIL_KEY": KEY},
        )
        cli_wall.append(time.perf_counter() - start)
        cli_cpu.append(child_cpu() - start_cpu)
        figures = (api_cpu[-1], api_wall[-1], cli_cpu[-1], cli_wall[-1])
        print(f"{r:>5} " + " ".join(f"{x:>10.2f}" for x in figures))
    n = len(files)
    print(
        f"median: API {n / statistics.median(api_cpu):.1f} files per CPU s, "
        f"{n / statistics.median(api_wall):.1f} files/s wall; veil deid "
        f"{n / statistics.median(cli_cpu):.1f} files per CPU s (process start included), "
        f"{n / statistics.median(cli_wall):.1f} files/s wall"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=24)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # pydicom's VR length warnings on some corpus files
    bench_preview(args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app, c = _console(folder)
        with c:
            bench_preview_request(c, args.rounds)
            bench_jobs(app, c, folder, args.rounds, args.files)


if __name__ == "__main__":
    main()
