"""Benchmark `veil deid` against a plain copy, gdcmanon (C++) and the peer de-identifiers.

    python benchmarks/run.py                      # the issue-12 figures: 20 patients (4,120
                                                  # files), cp, gdcmanon, veil (audit on, off,
                                                  # --for neuroquant, reference path), median
                                                  # of 5 interleaved runs, node throughput
    python benchmarks/run.py --quick              # 1 patient, CI smoke, writes no RESULTS.md
    python benchmarks/run.py --tools cp,veil,dicognito --patients 8 --repeat 3 --no-node
    python benchmarks/run.py --out-dir /dev/shm --no-node  # outputs in RAM: no file system costs

The synthetic corpus (benchmarks/synth.py) is built once and cached in benchmarks/work/
(gitignored). Every tool runs as its own subprocess under benchmarks/measure.py, on the same
corpus, reading from a warm page cache, writing into benchmarks/work/out-<pid>/<tool>/ (or
under --out-dir; emptied before each run, not timed; the table's header names the file system,
see `output_filesystem`). Results go to the terminal (a rich table) and, unless --quick,
into benchmarks/RESULTS.md between its GENERATED markers (the rest of that file is kept).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synth import CorpusInfo, generate  # noqa: E402

WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
OUT = WORK / f"out-{os.getpid()}"  # per run, so two runs at once (CI, a person) never clash
PROC_MOUNTS = Path("/proc/mounts")
BEGIN = "<!-- BEGIN GENERATED (benchmarks/run.py) -->"
END = "<!-- END GENERATED -->"
# A fixed, public benchmark key (64 hex chars) used when VEIL_KEY is not set: never a real key.
BENCH_KEY = hashlib.sha256(b"veil benchmark key, public, not secret").hexdigest()
ALL_TOOLS = (
    "cp",
    "gdcmanon",
    "veil",
    "veil-no-audit",
    "veil-neuroquant",
    "veil-reference",
    "deid",
    "deid-x2",
    "dicognito",
    "dicognito-x2",
    "dicom-anonymizer",
    "dicom-anonymizer-x2",
    "pydicom-copy",
    "pydicom-copy-x2",
)
DEFAULT_TOOLS = ("cp", "gdcmanon", "veil", "veil-no-audit", "veil-neuroquant", "veil-reference")
_PEER_MODULES = {"deid": "deid", "dicognito": "dicognito", "dicom-anonymizer": "dicomanonymizer"}


@dataclass(frozen=True)
class Spec:
    """How to run one benchmark row: argv lists started side by side."""

    name: str
    label: str
    processes: str
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    spec: Spec
    walls: list[float] = field(default_factory=list)
    tree_mb: list[float] = field(default_factory=list)
    largest_mb: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    outputs: int = 0
    leaky: int = -1  # output files holding a planted identifier (-1: not checked)
    engine: dict[str, Any] = field(default_factory=dict)  # veil's fast-path share and reasons
    failure: str = ""  # nothing could be timed
    note: str = ""  # timed, but something to say (e.g. not every file written)
    skipped: bool = False  # the tool is not installed / not available: nothing run

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)


def _series_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("*.dcm")})


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def compile_veil() -> int:
    """Byte-compile veil's sources (where this interpreter imports veil from); the number of
    modules. A user's install has .pyc files, but this environment sets
    PYTHONDONTWRITEBYTECODE=1 and veil is installed in editable mode: without this every
    measured `veil deid` compiled veil's ~230 modules first, 0.10-0.15 s of CPU and wall before
    its first file (4 interleaved runs of `from veil.cli import main`, issue 12, 2026-12-04)."""
    import compileall

    spec = importlib.util.find_spec("veil")
    if spec is None or not spec.submodule_search_locations:
        return 0
    root = Path(next(iter(spec.submodule_search_locations)))
    if not compileall.compile_dir(root, quiet=1):
        raise RuntimeError(f"compileall failed under {root}")
    return sum(1 for _ in root.rglob("*.py"))


def _veil_help() -> str:
    veil = Path(sys.executable).with_name("veil")
    try:
        done = subprocess.run(
            [str(veil), "deid", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _veil_spec(
    tool: str,
    veil: str,
    corpus: Path,
    out: str,
    jobs: int,
    out_root: Path,
    help_text: str,
    key: str,
) -> Spec:
    """veil deid with the options that make ``tool`` (audit off, --for, the reference path)."""
    report = str(out_root / f"report-{tool}.json")
    cmd = [veil, "deid", str(corpus), "--out", out, "-j", str(jobs), "-q", "--report", report]
    label = f"veil deid -j {jobs} (audit on)"
    if tool == "veil-no-audit":
        if help_text and "--no-audit" not in help_text:
            return Spec(tool, "veil --no-audit (option not in CLI yet)", "-", [])
        cmd.append("--no-audit")
        label = f"veil deid -j {jobs} --no-audit"
    elif tool == "veil-neuroquant":
        cmd += ["--for", "neuroquant"]
        label = f"veil deid -j {jobs} --for neuroquant (audit on)"
    elif tool == "veil-reference":
        if help_text and "--engine" not in help_text:
            return Spec(tool, "veil --engine (option not in CLI yet)", "-", [])
        cmd += ["--engine", "reference"]
        label = f"veil deid -j {jobs} --engine reference (before: pydicom path)"
    return Spec(tool, label, str(jobs), [cmd], {"VEIL_KEY": key})


def build_specs(tools: list[str], corpus: Path, jobs: int, out_root: Path) -> list[Spec]:
    """The command lines for each requested tool (peers through their CLI or public API)."""
    py = sys.executable
    peers = str(HERE / "peers.py")
    veil = str(Path(py).with_name("veil"))
    series = [str(s) for s in _series_dirs(corpus)]
    files = [str(f) for f in _all_files(corpus)]
    key = os.environ.get("VEIL_KEY", BENCH_KEY)
    help_text = _veil_help()
    specs: list[Spec] = []
    for tool in tools:
        out = str(out_root / tool)
        module = _PEER_MODULES.get(tool.removesuffix("-x2"))
        if module is not None and importlib.util.find_spec(module) is None:
            specs.append(Spec(tool, f"{tool} (not installed: pip install veil[bench])", "-", []))
            continue
        if tool == "cp":
            specs.append(Spec(tool, "cp -r (baseline)", "1", [["cp", "-r", str(corpus), out]]))
        elif tool == "gdcmanon":
            if shutil.which("gdcmanon") is None:
                specs.append(Spec(tool, "gdcmanon (not installed: Debian libgdcm-tools)", "-", []))
                continue
            cert = str(_gdcmanon_certificate())
            cmd = ["gdcmanon", "-e", "--continue", "-r", "-c", cert, "-i", str(corpus), "-o", out]
            specs.append(Spec(tool, "gdcmanon -e (C++, GDCM; basic profile)", "1", [cmd]))
        elif tool.startswith("veil"):
            specs.append(_veil_spec(tool, veil, corpus, out, jobs, out_root, help_text, key))
        elif tool in ("deid", "dicom-anonymizer", "pydicom-copy"):
            specs.append(
                Spec(tool, f"{tool} (single process)", "1", [[py, peers, tool, out, *series]])
            )
        elif tool in ("deid-x2", "dicom-anonymizer-x2", "pydicom-copy-x2"):
            base = tool.removesuffix("-x2")
            cmds = [
                [py, peers, base, f"{out}/{i}", "--shard", f"{i}/{jobs}", *series]
                for i in range(jobs)
            ]
            specs.append(Spec(tool, f"{base} ({jobs} halves in parallel)", str(jobs), cmds))
        elif tool == "dicognito":
            cmd = [py, "-m", "dicognito", "--quiet", "--seed", "7", "-o", out, str(corpus)]
            specs.append(Spec(tool, "dicognito CLI (single process)", "1", [cmd]))
        elif tool == "dicognito-x2":
            cmds = [
                [
                    py,
                    "-m",
                    "dicognito",
                    "--quiet",
                    "--seed",
                    "7",
                    "-o",
                    f"{out}/{i}",
                    *files[i::jobs],
                ]
                for i in range(jobs)
            ]
            specs.append(Spec(tool, f"dicognito CLI ({jobs} halves in parallel)", str(jobs), cmds))
        else:
            raise SystemExit(f"unknown tool {tool!r}; choose from {', '.join(ALL_TOOLS)}")
    return specs


def _gdcmanon_certificate() -> Path:
    """gdcmanon -e encrypts the original attributes into the output (PS3.15 E.1.1), for a
    certificate: a self-signed one, made once for the benchmark (no secret worth keeping)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    path = WORK / "gdcmanon-benchmark-cert.pem"
    if path.is_file():
        return path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veil benchmark")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    WORK.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _count_outputs(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix != ".json")


def _leaky_files(path: Path, identifiers: tuple[str, ...]) -> int:
    """Output files whose bytes still hold one of the planted identifying strings.

    A rough check of what each tool leaves (exact strings as planted, whole file bytes),
    not an audit: it only shows that the tools do not do the same work.
    """
    needles = [i.encode("latin-1") for i in identifiers if i]
    count = 0
    for file in path.rglob("*"):
        if file.is_file() and file.suffix != ".json":
            data = file.read_bytes()
            count += any(n in data for n in needles)
    return count


@dataclass(frozen=True)
class Measurement:
    """What measure.py reports for one run of one spec."""

    wall_s: float
    returncodes: tuple[int, ...]
    largest_mb: float
    tree_mb: float
    cpu_s: float
    stderr_tail: tuple[str, ...]
    load_before: float


def measure(spec: Spec, out: Path) -> Measurement:
    """Run one spec under measure.py in a fresh process (so its rusage is this run's only)."""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(spec.commands) > 1:
        out.mkdir(parents=True)
    result_file = out.parent / f"measure-{spec.name}.json"
    env = {**os.environ, **spec.env}
    load = os.getloadavg()[0]
    argv = [sys.executable, str(HERE / "measure.py"), str(result_file)]
    argv += [json.dumps(c) for c in spec.commands]
    subprocess.run(argv, env=env, check=True)
    raw = json.loads(result_file.read_text())
    return Measurement(
        wall_s=float(raw["wall_s"]),
        returncodes=tuple(int(c) for c in raw["returncodes"]),
        largest_mb=float(raw["max_rss_largest_process_mb"]),
        tree_mb=float(raw["peak_tree_rss_mb"]),
        cpu_s=float(raw["cpu_user_s"]) + float(raw["cpu_sys_s"]),
        stderr_tail=tuple(str(t) for t in raw["stderr_tail"]),
        load_before=load,
    )


def output_filesystem(path: Path, mounts: str | None = None, jbd2: Path | None = None) -> str:
    """The file system the tools write their outputs to, as RESULTS.md names it.

    It matters for every tool alike: on ext4 WITHOUT a journal (this project's VMs), the inode
    allocator skips inodes freed in the last 5 s (300 s while their table block is dirty),
    one by one, so creating files soon after a run's outputs were removed costs up to
    ~0.8 ms/file of kernel time (measured 2026-12-04: `cp -r` of the corpus 0.45 s on a quiet
    file system, 3.0-3.5 s later in the same run). ``--out-dir /dev/shm`` measures without it.
    """
    try:
        text = PROC_MOUNTS.read_text() if mounts is None else mounts
    except OSError:
        return "unknown"
    target = str(path.resolve())
    best: tuple[str, str, str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        device, point, kind = fields[0], fields[1].replace("\\040", " "), fields[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[1])):
            best = (device, point, kind)
    if best is None:
        return "unknown"
    device, point, kind = best
    if kind != "ext4":
        return f"{kind} ({point})"
    journals = jbd2 or Path("/proc/fs/jbd2")
    has_journal = (journals / f"{Path(device).name}-8").exists()
    return f"ext4 {'with' if has_journal else 'without'} a journal ({point})"


def warm_cache(files: list[Path]) -> None:
    for path in files:
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in ("veil", "deid", "dicognito", "dicom_anonymizer", "pydicom", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    cp = subprocess.run(["cp", "--version"], capture_output=True, text=True, check=False)
    versions["cp"] = cp.stdout.splitlines()[0].removeprefix("cp ") if cp.stdout else "?"
    return versions


def machine() -> dict[str, str]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cores": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def run_all(
    specs: list[Spec], info: CorpusInfo, repeat: int, log: Callable[[str], None]
) -> list[Row]:
    rows = [Row(s) for s in specs]
    expected = info.files
    for r in range(repeat):
        for row in rows:  # round-robin, so background noise spreads over every tool
            spec = row.spec
            if not spec.commands:
                row.skipped = True
                continue
            if row.failure:
                continue
            out = OUT / spec.name
            log(f"[{r + 1}/{repeat}] {spec.label} ...")
            res = measure(spec, out)
            row.outputs = _count_outputs(out)
            if any(res.returncodes) or row.outputs < expected:
                tail = " / ".join(t.strip()[-300:] for t in res.stderr_tail if t.strip())
                problem = f"exit {list(res.returncodes)}, {row.outputs}/{expected} written"
                if row.outputs == 0:  # nothing to time
                    row.failure = f"{problem}; {tail}"
                    log(f"    failed: {row.failure}")
                    continue
                row.note = f"{problem} (timed anyway); {tail}"
                log(f"    {row.note}")
            report = OUT / f"report-{spec.name}.json"
            if report.is_file():
                row.engine = json.loads(report.read_text()).get("engine", {})
            row.walls.append(res.wall_s)
            row.tree_mb.append(res.tree_mb)
            row.largest_mb.append(res.largest_mb)
            row.cpu_s.append(res.cpu_s)
            row.load.append(res.load_before)
            if row.leaky < 0 and spec.name != "cp" and not spec.name.startswith("pydicom-copy"):
                row.leaky = _leaky_files(out, info.identifiers)
            log(f"    {row.walls[-1]:.2f} s")
        shutil.rmtree(OUT, ignore_errors=True)
    return rows


def _cell(text: str) -> str:
    return text[:160].replace("\n", " ").replace("|", "/")


def _secs(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def table_rows(rows: list[Row], info: CorpusInfo) -> list[list[str]]:
    cp = next((r for r in rows if r.spec.name == "cp" and r.walls), None)
    mb = info.bytes / 1e6
    out: list[list[str]] = []
    for row in rows:
        if not row.walls:
            why = "skipped" if row.skipped else _cell(row.failure)
            out.append([row.spec.label, row.spec.processes, *(["-"] * 11), why])
            continue
        best = row.best
        ratio = f"{row.median / cp.median:.1f}x" if cp else "-"
        out.append(
            [
                row.spec.label,
                row.spec.processes,
                _secs(best),
                _secs(row.median),
                f"{info.files / row.median:.0f}",
                f"{mb / row.median:.1f}",
                f"{max(row.tree_mb):.0f}",
                f"{max(row.largest_mb):.0f}",
                ratio,
                f"{statistics.median(row.cpu_s):.1f}",
                f"{statistics.median(row.cpu_s) / info.files * 1e3:.2f}",
                f"{statistics.median(row.load):.1f}",
                "-" if row.leaky < 0 else str(row.leaky),
                _cell(row.note),
            ]
        )
    return out


HEADERS = [
    "tool",
    "procs",
    "wall s (best)",
    "wall s (median)",
    "files/s (median)",
    "MB/s (median)",
    "peak RSS tree MiB",
    "largest proc MiB",
    "x cp (median)",
    "CPU s",
    "CPU ms/file",
    "load",
    "files w/ planted id",
    "note",
]


def summary_lines(rows: list[Row], info: CorpusInfo) -> list[str]:
    """The comparisons the issue asks for, in words, from the medians of this run."""
    by = {r.spec.name: r for r in rows if r.walls}
    lines: list[str] = []

    def cpu_ms(row: Row) -> float:
        return statistics.median(row.cpu_s) / info.files * 1e3

    veil, gdcm, cp = by.get("veil"), by.get("gdcmanon"), by.get("cp")
    if veil and gdcm:
        verdict = "faster" if veil.median < gdcm.median else "SLOWER"
        lines.append(
            f"veil deid (audit on) vs gdcmanon -e: {veil.median:.2f} s vs {gdcm.median:.2f} s "
            f"median wall ({verdict}, {gdcm.median / veil.median:.2f}x); CPU "
            f"{cpu_ms(veil):.2f} vs {cpu_ms(gdcm):.2f} ms/file."
        )
    if veil and cp:
        lines.append(
            f"veil deid (audit on) vs cp -r: {veil.median / cp.median:.1f}x cp's median wall "
            f"(target: within 3x)."
        )
    neuro = by.get("veil-neuroquant")
    if veil and neuro:
        lines.append(
            f"--for neuroquant costs {100 * (neuro.median / veil.median - 1):+.0f} % wall, "
            f"{100 * (cpu_ms(neuro) / cpu_ms(veil) - 1):+.0f} % CPU over the same run "
            "without it (target: at most +10 %)."
        )
    reference = by.get("veil-reference")
    if veil and reference:
        lines.append(
            f"Fast path vs reference path (before): {reference.median / veil.median:.1f}x "
            f"faster wall, CPU {cpu_ms(veil):.2f} vs {cpu_ms(reference):.2f} ms/file."
        )
    for row in rows:
        if row.spec.name.startswith("veil") and row.walls:
            engine = row.engine or {}
            fast = int(engine.get("fast_path", 0))
            reasons = engine.get("reference_path", {}) or {}
            total = fast + sum(int(v) for v in reasons.values())
            share = f"{fast}/{total} files on the fast path" if total else "no report"
            why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
            peak = max(row.largest_mb)
            lines.append(
                f"{row.spec.label}: {share}"
                + (f" (reference path: {why})" if why else "")
                + f"; largest process {peak:.0f} MiB peak RSS (target < 150)."
            )
    return lines


def render_markdown(
    rows: list[list[str]],
    info: CorpusInfo,
    args: argparse.Namespace,
    loads: list[float],
    figures: list[str] | None = None,
) -> str:
    m = machine()
    v = tool_versions()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        f"Run of {now}: `{' '.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}`",
        "",
        f"- Corpus: {info.patients} patients, {info.files} files, {info.bytes / 1e6:.1f} MB "
        f"(seed {info.seed}, generator v{info.generator_version}); {args.repeat} interleaved "
        "run(s) per tool; ratios and rates use the median.",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['memory']} RAM, {m['os']}, "
        f"Python {m['python']}.",
        f"- Load average (1 min) before the runs: {min(loads):.2f} to {max(loads):.2f} "
        "(other work on the machine at the same time makes timings noisy).",
        f"- Outputs written to: {output_filesystem(OUT.parent)} (see `output_filesystem`: on "
        "ext4 without a journal, file creation after a removal costs every tool kernel time).",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", *[f"- {line}" for line in figures or []], "", END]
    return "\n".join(lines)


def write_results(generated: str, path: Path) -> None:
    if path.is_file():
        text = path.read_text()
        if BEGIN in text and END in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            path.write_text(head + generated + tail)
            return
    path.write_text("# Benchmark results\n\n" + generated + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark veil deid against cp and peers.")
    parser.add_argument("--patients", type=int, default=20, help="patients (206 files each)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--tools", default=",".join(DEFAULT_TOOLS), help=f"comma list of {','.join(ALL_TOOLS)}"
    )
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per tool (median)")
    parser.add_argument("--no-node", action="store_true", help="skip the node throughput runs")
    parser.add_argument("--node-repeat", type=int, default=1, help="node runs per engine")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="processes where a tool allows")
    parser.add_argument("--quick", action="store_true", help="1 patient, no RESULTS.md (CI)")
    parser.add_argument("--results", type=Path, help=f"write results here (default {RESULTS})")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="folder the tools write their outputs under (default benchmarks/work); e.g. "
        "/dev/shm to leave out the file system's own costs",
    )
    args = parser.parse_args(argv)
    if args.out_dir is not None:
        global OUT
        OUT = args.out_dir / f"veil-bench-out-{os.getpid()}"
    if args.quick:
        args.patients = 1
        args.repeat = 1
        args.no_node = True
        tools = [t for t in args.tools.split(",") if t and not t.endswith("-x2")]
    else:
        tools = [t for t in args.tools.split(",") if t]
    console = Console(width=max(Console().width, 180))
    t0 = time.perf_counter()
    info = generate(WORK, args.patients, args.seed)
    corpus = Path(info.root)
    console.print(
        f"corpus: {info.files} files, {info.bytes / 1e6:.1f} MB in {corpus} "
        f"({time.perf_counter() - t0:.1f} s incl. generation if not cached)"
    )
    warm_cache(_all_files(corpus))
    console.print(f"veil: {compile_veil()} modules byte-compiled (as an installed veil has)")
    console.print(f"outputs: {OUT} on {output_filesystem(OUT.parent)}")
    specs = build_specs(tools, corpus, args.jobs, OUT)
    rows = run_all(specs, info, args.repeat, console.print)
    cells = table_rows(rows, info)
    table = Table(title=f"{info.files} files, {info.bytes / 1e6:.0f} MB, {args.jobs} jobs")
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("tool", "note") else "right")
    for c in cells:
        table.add_row(*c)
    console.print(table)
    figures = summary_lines(rows, info)
    if not args.no_node:
        import node_load

        node = node_load.main(["--repeat", str(args.node_repeat)])
        for engine, (received, sent) in node.items():
            label = "before (reference path)" if engine == "reference" else "after (fast path)"
            figures.append(
                f"Node, 2,000 instances from 8 storescu senders, {label}: received "
                f"{received:.0f} instances/s, received to sent {sent:.0f} instances/s."
            )
    for line in figures:
        console.print(line, highlight=False)
    loads = [x for r in rows for x in r.load] or [os.getloadavg()[0]]
    target = args.results or (None if args.quick else RESULTS)
    if target is not None:
        write_results(render_markdown(cells, info, args, loads, figures), target)
        console.print(f"written to {target}")
    (WORK / "last-run.json").write_text(
        json.dumps(
            [
                {
                    "tool": r.spec.name,
                    "walls": r.walls,
                    "cpu_s": r.cpu_s,
                    "tree_mb": r.tree_mb,
                    "failure": r.failure,
                    "note": r.note,
                }
                for r in rows
            ],
            indent=2,
        )
    )
    return 1 if any(r.failure or r.note for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
