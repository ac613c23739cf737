"""Benchmark `veil deid --cluster` (Dask) against the local process pool, on the synthetic corpus.

    python benchmarks/scale.py                   # 2 patients = 400 files, 3 repeats
    python benchmarks/scale.py --patients 4 --repeat 5
    python benchmarks/scale.py --quick           # 1 patient, 1 repeat, CI smoke: prints only

Every configuration runs `veil deid` as a subprocess on the same corpus (warm page cache),
round-robin over the repeats so background load spreads over all of them. CPU is the whole
process tree's user+sys (getrusage of the reaped children: the CLI, the LocalCluster's
scheduler, nannies and workers, and the local pool's forkserver workers, reaped by this
process as a child subreaper), which is the stable figure on a shared machine; wall time is
noisy. Each configuration also runs on a 2-file input: its fixed cost (start-up, cluster
start, teardown), subtracted to get CPU ms per file. Framework overhead per file = a cluster
configuration's CPU ms/file minus the local pool's with the same number of workers.

The driver's memory per file (one InputItem and one FileRecord held until the report) is
measured with tracemalloc on 100,000 synthetic records. Results: printed, and with --write
put into benchmarks/RESULTS.md between its SCALE markers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import _become_subreaper, _reap_orphans  # noqa: E402
from synth import generate  # noqa: E402

WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
BEGIN = "<!-- BEGIN SCALE (benchmarks/scale.py) -->"
END = "<!-- END SCALE -->"
BENCH_KEY = "a5" * 32  # a fixed public benchmark key, never a real one
VEIL = [sys.executable, "-m", "veil"]


@dataclass(frozen=True)
class Config:
    name: str
    args: tuple[str, ...]
    workers: int
    baseline: str = ""  # the pool configuration with as many workers


CONFIGS = (
    Config("-j 1", ("-j", "1"), 1),
    Config("-j 2", ("-j", "2"), 2),
    Config("dask 1 worker", ("--cluster", "local:1"), 1, "-j 1"),
    Config("dask 2 workers", ("--cluster", "local:2"), 2, "-j 2"),
    Config("dask 2 workers, group 16", ("--cluster", "local:2", "--group-size", "16"), 2, "-j 2"),
    Config("dask 2 workers, group 1", ("--cluster", "local:2", "--group-size", "1"), 2, "-j 2"),
)


@dataclass
class Runs:
    config: Config
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    fixed_walls: list[float] = field(default_factory=list)
    fixed_cpus: list[float] = field(default_factory=list)


def _run(config: Config, inputs: Path, out: Path) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "VEIL_KEY": BENCH_KEY}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [*VEIL, "deid", str(inputs), "--out", str(out), "-q", *config.args],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    wall = time.perf_counter() - started
    _reap_orphans()  # the local pool's forkserver and its workers (see measure.py)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{config.name} failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


_IDLE = """
import logging, sys, time
from distributed import Client, LocalCluster
with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                  dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
    with Client(cluster) as client:
        client.wait_for_workers(2)
        time.sleep(float(sys.argv[1]))
"""


def idle_cluster_cpu_rate(seconds: float = 10.0) -> float:
    """CPU seconds per wall second of an idle 2-worker LocalCluster (heartbeats, monitors)."""

    def cpu_of(wait: float) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", _IDLE, str(wait)], check=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    return max(0.0, (cpu_of(1.0 + seconds) - cpu_of(1.0)) / seconds)


def driver_seconds_per_record(groups: int = 2000) -> float:
    """CPU the driver spends per file receiving results: unpickling a 64-file GroupResult
    (what crosses the network from a worker) and keeping its records."""
    import pickle

    from veil.batch.grouprun import GroupResult
    from veil.batch.outcome import FileRecord
    from veil.pipeline import Outcome

    records = tuple(
        FileRecord(
            f"/data/export/P00001/S000001/IM{index:08d}.dcm",
            Outcome.WRITTEN,
            180_000,
            output=f"P00001/S000001/IM{index:08d}.dcm",
            study="2.25." + "1" * 38,
            series="2.25." + "2" * 38,
        )
        for index in range(64)
    )
    blob = pickle.dumps(GroupResult("0" * 24, records, (), True, 0.5))
    kept: list[FileRecord] = []
    started = time.process_time()
    for _ in range(groups):
        kept.extend(pickle.loads(blob).records)
    return (time.process_time() - started) / (groups * 64)


def driver_bytes_per_file(count: int = 100_000) -> float:
    """Memory the driver holds per file until the report: its InputItem and its FileRecord."""
    from veil.batch.outcome import FileRecord
    from veil.io.inputs import InputItem
    from veil.pipeline import Outcome

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = []
    for index in range(count):
        path = f"/data/export/2026/P{index // 1000:05d}/S{index // 200:06d}/IM{index:08d}.dcm"
        item = InputItem(path, path[len("/data/export/") :], path, None, 180_000)
        record = FileRecord(
            path,
            Outcome.WRITTEN,
            180_000,
            output=item.relative,
            study=f"2.25.{index // 200:039d}",
            series=f"2.25.{index // 100:039d}",
        )
        kept.append((item, record))
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / count


def runs_order(chosen: list[Config]) -> list[Config]:
    return [config for config in CONFIGS if config in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 patient, 1 repeat, no file")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument(
        "--only", default="", help='comma-separated configurations, e.g. "-j 2,dask 2 workers"'
    )
    args = parser.parse_args(argv)
    _become_subreaper()  # else the pool's forkserver workers' CPU is never counted
    patients, repeat = (1, 1) if args.quick else (args.patients, args.repeat)
    chosen = [c for c in CONFIGS if not args.only or c.name in args.only.split(",")]
    names = {c.name for c in chosen}
    chosen += [
        c for c in CONFIGS if c.name not in names and any(x.baseline == c.name for x in chosen)
    ]

    info = generate(WORK, patients)
    corpus = Path(info.root)
    tiny = WORK / "scale-tiny"
    if not tiny.is_dir():
        tiny.mkdir(parents=True)
        for path in sorted(p for p in corpus.rglob("*") if p.is_file())[:2]:
            shutil.copy2(path, tiny / path.name)
    out = WORK / f"scale-out-{os.getpid()}"
    runs = {config.name: Runs(config) for config in CONFIGS if config in chosen}
    try:
        for _ in range(repeat):
            for config in runs_order(
                chosen
            ):  # round-robin: background load hits every configuration
                wall, cpu = _run(config, corpus, out)
                runs[config.name].walls.append(wall)
                runs[config.name].cpus.append(cpu)
                wall, cpu = _run(config, tiny, out)
                runs[config.name].fixed_walls.append(wall)
                runs[config.name].fixed_cpus.append(cpu)
    finally:
        shutil.rmtree(out, ignore_errors=True)

    files = info.files
    per_file = {
        name: (statistics.median(r.cpus) - statistics.median(r.fixed_cpus)) / (files - 2) * 1000
        for name, r in runs.items()
    }
    rows = []
    for name, r in runs.items():
        wall = statistics.median(r.walls)
        overhead = (
            f"{per_file[name] - per_file[r.config.baseline]:+.1f}" if r.config.baseline else "-"
        )
        rows.append(
            {
                "config": name,
                "files_per_s": files / wall,
                "steady_files_per_s": files / max(wall - statistics.median(r.fixed_walls), 1e-9),
                "wall_s": wall,
                "cpu_ms_per_file": per_file[name],
                "fixed_cpu_s": statistics.median(r.fixed_cpus),
                "fixed_wall_s": statistics.median(r.fixed_walls),
                "overhead_ms_per_file": overhead,
            }
        )
    per_file_bytes = driver_bytes_per_file(20_000 if args.quick else 100_000)
    idle_rate = idle_cluster_cpu_rate(5.0 if args.quick else 20.0)
    receive = driver_seconds_per_record()
    load = os.getloadavg()
    header = (
        f"{files} files, {info.bytes / 1e6:.0f} MB ({patients} synthetic patients), "
        f"median of {repeat}; {os.cpu_count()} cores, load average {load[0]:.1f} at the end"
    )
    lines = [
        header,
        "",
        "| run | files/s (whole command) | files/s (minus fixed wall) | CPU ms/file | "
        "fixed cost: CPU s / wall s | framework overhead ms/file | of which idle cluster |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        idle = "-"
        if row["config"].startswith("dask"):
            # The idle cluster's CPU over the batch phase (wall minus the fixed run's wall),
            # per file: what the overhead would be if the tasks themselves cost nothing.
            extra_wall = max(row["wall_s"] - row["fixed_wall_s"], 0.0)
            idle = f"{idle_rate * extra_wall / (files - 2) * 1000:.1f}"
            row["idle_ms_per_file"] = idle
        lines.append(
            f"| `{row['config']}` | {row['files_per_s']:.1f} | {row['steady_files_per_s']:.1f} | "
            f"{row['cpu_ms_per_file']:.1f} | {row['fixed_cpu_s']:.2f} / "
            f"{row['fixed_wall_s']:.1f} | {row['overhead_ms_per_file']} | {idle} |"
        )
    lines += [
        "",
        f"Driver memory per file (InputItem + FileRecord): {per_file_bytes:.0f} bytes; driver "
        f"CPU to receive a file's record (unpickle a 64-file group result): "
        f"{receive * 1e6:.0f} us. Idle 2-worker LocalCluster: {idle_rate * 1000:.0f} ms CPU "
        "per second.",
    ]
    text = "\n".join(lines)
    print(text)
    (WORK / "scale-last-run.json").write_text(
        json.dumps(
            {"rows": rows, "driver_bytes_per_file": per_file_bytes, "header": header}, indent=1
        )
    )
    if args.write and not args.quick:
        current = RESULTS.read_text()
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            RESULTS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
        else:
            print(f"(no {BEGIN} markers in {RESULTS}; nothing written)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
