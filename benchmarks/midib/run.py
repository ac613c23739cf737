"""Run veil's built-in policies and the peer tools over the MIDI-B-like set, score each, and
write the results into benchmarks/RESULTS.md.

    python benchmarks/midib/run.py                      # every tool, results into RESULTS.md
    python benchmarks/midib/run.py --tools veil-research-release --no-write
    python benchmarks/midib/run.py --quick              # research-release only, CI smoke

Tools: veil-basic, veil-research-longitudinal, veil-research-release (``veil deid --policy``,
the audit on, as a user runs it), dicognito (its CLI, default rules), deid (pydicom/deid's
default recipe, as benchmarks/peers.py drives it), gdcmanon (GDCM's PS3.15 E.1 basic profile
implementation, Debian's libgdcm-tools, one process per file: it stops a folder at the first
file it refuses). The set is generated under benchmarks/work/midib (see generate.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate
from score import score

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORK = REPO / "benchmarks" / "work" / "midib"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
PYTHON = sys.executable
BENCH_KEY = "5eed" * 16  # a fixed, public benchmark key: never use it for real data
TOOLS = (
    "veil-basic",
    "veil-research-longitudinal",
    "veil-research-release",
    "dicognito",
    "deid",
    "gdcmanon",
)
BEGIN = "<!-- BEGIN GENERATED (benchmarks/midib/run.py) -->"
END = "<!-- END GENERATED (benchmarks/midib/run.py) -->"
MIDI_B_BEST = 99.93  # the best published MIDI-B result (MICCAI 2024), percent


def _veil(policy: str, source: Path, out: Path) -> list[list[str]]:
    veil = str(Path(PYTHON).parent / "veil")
    report = out.parent / f"{out.name}.report.json"
    return [
        [
            veil,
            "deid",
            str(source),
            "--out",
            str(out),
            "--policy",
            policy,
            "-j",
            "2",
            "--report",
            str(report),
        ]
    ]


def _commands(tool: str, source: Path, out: Path) -> list[list[str]]:
    if tool.startswith("veil-"):
        return _veil(tool.removeprefix("veil-"), source, out)
    if tool == "dicognito":
        return [[PYTHON, "-m", "dicognito", "--quiet", "--seed", "7", "-o", str(out), str(source)]]
    if tool == "deid":
        return [[PYTHON, str(REPO / "benchmarks" / "peers.py"), "deid", str(out), str(source)]]
    if tool == "gdcmanon":
        certificate = _certificate()
        return [
            ["gdcmanon", "-e", "-c", str(certificate), "-i", str(path), "-o", str(out / path.name)]
            for path in sorted(source.glob("*.dcm"))
        ]
    raise SystemExit(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")


def _certificate() -> Path:
    """gdcmanon encrypts the removed attributes for the certificate's owner (PS3.15 E.1.1):
    a self-signed certificate made once for the benchmark."""
    cert = WORK / "gdcmanon-cert.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=veil-midib-benchmark",
                "-keyout",
                str(WORK / "gdcmanon-key.pem"),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    return cert


def _become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux PR_SET_CHILD_SUBREAPER): veil's worker processes are
    children of its forkserver, which outlives veil by a moment; unless it is reaped here,
    their CPU never reaches RUSAGE_CHILDREN (a run measured 0.9 s instead of 3.3 s)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # 36: PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans() -> None:
    """Wait for every adopted descendant, so its CPU counts in RUSAGE_CHILDREN."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def run_tool(tool: str, source: Path) -> dict[str, Any]:
    out = WORK / "out" / tool
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "VEIL_KEY": BENCH_KEY}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    failures = 0
    for command in _commands(tool, source, out):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        failures += done.returncode != 0
        _reap_orphans()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = score(WORK, out).summary()
    summary.update(
        {"tool": tool, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "nonzero_exits": failures}
    )
    if tool.startswith("veil-"):
        report = json.loads((out.parent / f"{out.name}.report.json").read_text())
        summary["veil_counts"] = report.get("counts", {})
    return summary


def _pct(cell: Any) -> str:
    passed, total, rate = cell
    return f"{rate:.2f} % ({passed}/{total})"


def markdown(results: list[dict[str, Any]], files: int, checks: int) -> str:
    lines = [
        BEGIN,
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        "`python benchmarks/midib/run.py`",
        "",
        f"- Set: {files} files, 5 synthetic patients, 12 studies, {checks} checks "
        "(benchmarks/midib/generate.py v3).",
        f"- MIDI-B's best published overall score, for reference: {MIDI_B_BEST} %.",
        "",
        "| tool | overall | HIPAA | DICOM | TCIA | written | files with a planted identifier "
        "in their bytes | CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cats = r["categories"]
        lines.append(
            f"| {r['tool']} | {_pct(r['overall'])} | {_pct(cats['hipaa'])} | "
            f"{_pct(cats['dicom'])} | {_pct(cats['tcia'])} | {r['written']}/{r['inputs']} | "
            f"{r['files_with_survivors']} | {r['cpu_s']} |"
        )
    lines += ["", "Per action (passed/total):", ""]
    actions = sorted({a for r in results for a in r["actions"]})
    lines.append("| tool | " + " | ".join(actions) + " |")
    lines.append("|---" * (len(actions) + 1) + "|")
    for r in results:
        cells = []
        for action in actions:
            cell = r["actions"].get(action)
            cells.append(f"{cell[0]}/{cell[1]}" if cell else "-")
        lines.append(f"| {r['tool']} | " + " | ".join(cells) + " |")
    lines += ["", "Failing action classes (failed checks), per tool:", ""]
    for r in results:
        failing = r["failing_action_classes"]
        text = "; ".join(f"{k} ({v})" for k, v in failing.items()) or "none"
        lines.append(f"- **{r['tool']}**: {text}")
        if r["survivors"]:
            survived = ", ".join(f"{k} ({v} files)" for k, v in r["survivors"].items())
            lines.append(f"  - planted identifiers left in the bytes: {survived}")
    lines.append(END)
    return "\n".join(lines)


def write_results(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        current = head + text + tail
    else:
        current = current.rstrip() + "\n\n## MIDI-B-like scored benchmark\n\n" + text + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--quick", action="store_true", help="research-release only, no write")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit RESULTS.md")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    args = parser.parse_args()
    if not _become_subreaper():
        print("note: not a subreaper: CPU of forkserver workers is not counted", file=sys.stderr)
    tools = ["veil-research-release"] if args.quick else args.tools.split(",")
    shutil.rmtree(WORK / "input", ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    files = generate(WORK, args.corpus)
    results = []
    for tool in tools:
        result = run_tool(tool, WORK / "input")
        results.append(result)
        overall = result["overall"]
        print(
            f"{tool}: {_pct(overall)}, written {result['written']}/{result['inputs']}, "
            f"files with planted identifiers in bytes: {result['files_with_survivors']}"
        )
    checks = results[0]["overall"][1] if results else 0
    text = markdown(results, files, checks)
    (WORK / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if args.quick or args.no_write:
        print(text)
    else:
        write_results(text)
        print(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
