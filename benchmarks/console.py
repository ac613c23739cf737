"""Console page latency, CPU per request and memory, on a store with many studies.

    .venv/bin/python benchmarks/console.py                 # 2,000 studies, 40 requests a page
    .venv/bin/python benchmarks/console.py --studies 20000 --requests 20

Builds a temporary SQLite store through the node's own store API (studies in every state,
with timelines), starts `veil console` as a subprocess on a free loopback port, signs in, then
requests each page and its API twin in turn (interleaved, so background load hits them alike)
and prints, per route: median and 95th-percentile wall time, and the console process's CPU
time per request (user+sys from /proc, the figure to compare when the machine is busy), then
the console's resident memory after the run.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROUTES = (
    "/",
    "/api/v1/dashboard",
    "/studies",
    "/api/v1/studies",
    "/studies?state=quarantined&q=VEIL",
    "/quarantine",
    "/api/v1/quarantine",
    "/destinations",
    "/studies/{key}",
    "/api/v1/studies/{key}",
    "/metrics",
)
PASSWORD = "benchmark passphrase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_store(folder: Path, count: int) -> str:
    from veil.console import accounts
    from veil.console.roles import Role
    from veil.node.store import Deidentified, Store

    store = Store.open(f"sqlite:///{folder / 'veil-node.db'}")
    studies = store.studies
    now = time.time()
    for n in range(count):
        key = f"BENCH{n:011d}"
        for k in range(3):
            studies.record_instance(
                f"1.2.826.0.1.{n}",
                key,
                f"VEIL{n:012d}",
                f"1.2.826.0.1.{n}.{k}",
                "1.2.840.10008.5.1.4.1.1.4",
                f"{key}/{k}.dcm",
                now - 3600,
            )
    studies.mark_stable(now)
    for row in studies.in_states([studies_state("STABLE")]):
        n = row.id
        if n % 10 == 0:
            studies.quarantine(row.id, "the audit found an identifier; found at (0010,0010)")
            continue
        instances = studies.instances(row.id)
        studies.deidentified(
            row.id, f"2.25.{n}", [Deidentified(i.id, f"2.25.{n}.{i.id}") for i in instances]
        )
        studies.checked(row.id, [i.id for i in instances])
        studies.record_deliveries([i.id for i in instances], "archive")
        studies.sent(row.id, [i.id for i in instances])
    accounts.add_user(store, "bench", PASSWORD, frozenset({Role.OPERATOR}))
    first = studies.status()[0].study_key
    store.close()
    return first


def studies_state(name: str):  # type: ignore[no-untyped-def]
    from veil.node.store import StudyState

    return StudyState[name]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        key = build_store(folder, args.studies)
        print(f"store: {args.studies} studies built in {time.perf_counter() - started:.1f} s")
        port = free_port()
        (folder / "node.yaml").write_text(
            f"state: {{database: veil-node.db}}\n"
            f"destinations: [{{name: archive, type: folder, path: out}}]\n"
            f"web: {{port: {port}}}\n"
        )
        console = subprocess.Popen(
            [sys.executable, "-m", "veil", "console", "--config", "node.yaml"],
            cwd=folder,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    requests.get(f"{base}/healthz", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            http = requests.Session()
            http.headers["Origin"] = base
            page = http.get(f"{base}/sign-in").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            http.post(
                f"{base}/sign-in",
                data={"name": "bench", "password": PASSWORD, "csrf_token": csrf},
            )
            token_page = http.get(f"{base}/").text
            assert "Dashboard" in token_page
            routes = [r.replace("{key}", key) for r in ROUTES]
            times: dict[str, list[float]] = {r: [] for r in routes}
            cpu: dict[str, float] = dict.fromkeys(routes, 0.0)
            for r in routes:  # warm up
                http.get(f"{base}{r}")
            for _ in range(args.requests):
                for r in routes:
                    before = cpu_seconds(console.pid)
                    start = time.perf_counter()
                    answer = http.get(f"{base}{r}")
                    times[r].append(time.perf_counter() - start)
                    cpu[r] += cpu_seconds(console.pid) - before
                    assert answer.status_code == 200, (r, answer.status_code)
            print(f"{'route':<42} {'median ms':>10} {'p95 ms':>8} {'CPU ms/req':>11} {'bytes':>8}")
            for r in routes:
                samples = sorted(times[r])
                p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
                size = len(http.get(f"{base}{r}").content)
                label = r.replace(key, "{key}")
                print(
                    f"{label:<42} {statistics.median(samples) * 1000:>10.1f} {p95 * 1000:>8.1f} "
                    f"{cpu[r] / len(samples) * 1000:>11.1f} {size:>8}"
                )
            print(f"console resident memory after the run: {rss_mib(console.pid):.0f} MiB")
            load = os.getloadavg()
            print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        finally:
            console.terminate()
            console.wait(timeout=10)


if __name__ == "__main__":
    main()
