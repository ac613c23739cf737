"""Running browser jobs: the uploaded files through `veil deid`'s own batch code, then a zip.

One runner thread per console takes jobs in order (run, then send, as they were asked). A job
is what `veil deid --layout hierarchy --report` does, by the same code (`veil.batch.run_batch`
on `veil.pipeline`, the audit on every file, the destination check after): the same input,
key and policy give the same bytes. Then:

- ``result.zip``: the de-identified files in the hierarchy layout (patient pseudonym / study /
  series / instance, named by de-identified UIDs: never an input file name), ``report.json``
  (the batch report; input paths as keyed digests) and ``audit.json`` (the audit's summary and
  its findings, paths and kinds only);
- one result per input file (names sealed, shown to the job's owner only);
- the uploads, originals, deleted.

A console that dies mid-job leaves it ``running``; the next console runs it again from the
start (its outputs are deterministic).
"""

from __future__ import annotations

import io
import json
import logging
import queue
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydicom import dcmread

from veil.batch import FileRecord, Job, Layout, run_batch
from veil.batch.report_paths import hide_input_paths
from veil.batch.runner import BatchSummary
from veil.check.catalog import ProfileCatalog
from veil.console.jobs import JobError, JobRow, JobState, JobStore, NewResult, UploadState
from veil.console.uploads import JobFolders, UploadLimits
from veil.errors import VeilError
from veil.io.atomic import write_atomic
from veil.io.inputs import InputItem, iter_inputs
from veil.mapping import Mapper
from veil.node.config import NodeConfig
from veil.node.senders import OutItem, make_sender
from veil.node.store import Store
from veil.pipeline import CompiledPolicy, Outcome, check_outputs, compile_policy_text
from veil.policy.loader import BUILTIN_NAMES, builtin_policy_text

log = logging.getLogger("veil.console")

APPLIED = "applied"  # the policy choice "whatever the node uses now"


@dataclass(frozen=True)
class PolicyChoice:
    """A job's policy: a saved version, or a built-in policy by name."""

    version_id: int | None
    builtin: str | None
    label: str  # "my-study v3" or "built-in basic"


def choose_policy(store: Store, choice: str) -> PolicyChoice:
    """``applied``, ``version:<id>`` / a version id, or a built-in name; JobError if unknown."""
    text = choice.strip()
    if text in BUILTIN_NAMES:
        return PolicyChoice(None, text, f"built-in {text}")
    if text in ("", APPLIED):
        applied = store.policies.applied()
        if applied is None:
            raise JobError(
                "no policy version is applied yet: choose a version or a built-in policy"
            )
        return PolicyChoice(applied.version.id, None, applied.version.label)
    number = text.removeprefix("version:")
    if not number.isdigit() or len(number) > 12:
        raise JobError(
            f"unknown policy: use '{APPLIED}', a version id, or one of {', '.join(BUILTIN_NAMES)}"
        )
    version = store.policies.get(int(number))
    if version is None:
        raise JobError("no such policy version")
    return PolicyChoice(version.id, None, version.label)


def compile_choice(
    store: Store, catalog: ProfileCatalog, choice: PolicyChoice, profiles: Sequence[str]
) -> CompiledPolicy:
    if choice.builtin is not None:
        text, origin = builtin_policy_text(choice.builtin), f"built-in policy '{choice.builtin}'"
    else:
        version = store.policies.get(choice.version_id or 0)
        if version is None:
            raise JobError("the job's policy version no longer exists")
        text, origin = version.text, f"policy {version.label}"
    return compile_policy_text(text, origin, catalog, profiles)


@dataclass(frozen=True)
class JobInputs:
    items: list[InputItem]
    refused: list[NewResult]  # uploads refused whole: each is a result too


def job_inputs(jobs: JobStore, folders: JobFolders, limits: UploadLimits, job_id: str) -> JobInputs:
    """The inputs of a job, named as their owner named them (unique names: a file sent twice
    is "name (2)"), with zip members as inputs of their own."""
    items: list[InputItem] = []
    refused: list[NewResult] = []
    seen: dict[str, int] = {}
    input_limits = limits.inputs
    for upload in jobs.uploads(job_id):
        name = upload.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        if upload.state is not UploadState.COMPLETE:
            problem = upload.problem or "the upload did not finish"
            refused.append(NewResult(name, Outcome.FAILED, f"{name}: {problem}"))
            continue
        if upload.kind == "zip":
            path = folders.upload(job_id, upload.number, "zip")
            for item in iter_inputs([path], input_limits):
                member = f"{name}!{item.member}" if item.member else name
                items.append(replace(item, display=member, relative=str(len(items))))
            continue
        path = folders.upload(job_id, upload.number, "dcm")
        items.append(
            InputItem(
                name,
                str(len(items)),
                str(path),
                None,
                upload.received,
                None,
                input_limits.max_file_bytes,
            )
        )
    return JobInputs(items, refused)


class _Progress:
    """Counts as files finish, written to the job row at most twice a second."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs, self.job_id = jobs, job_id
        self.counts = {"done": 0, "written": 0, "skipped": 0, "failed": 0, "quarantined": 0}
        self.bytes_in = 0
        self._last = 0.0

    def __call__(self, record: FileRecord) -> None:
        self.counts["done"] += 1
        self.counts[record.outcome.value] += 1
        self.bytes_in += record.size
        if time.monotonic() - self._last > 0.5:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        self.jobs.progress(self.job_id, {**self.counts, "bytes_in": self.bytes_in})


def audit_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The audit's part of a (digested) batch report: counts and every finding, no value."""
    files = report.get("files", [])
    audited = [f for f in files if f["outcome"] in ("written", "quarantined")]
    return {
        "audit": "every written file audited for surviving identifiers (veil.audit)",
        "files_audited": len(audited),
        "clean": sum(1 for f in audited if f["outcome"] == "written"),
        "quarantined": sum(1 for f in audited if f["outcome"] == "quarantined"),
        "findings": [
            {**finding, "input": f["input"]}
            for f in files
            if f["outcome"] == "quarantined"
            for finding in f.get("findings", [])
        ],
    }


def write_result_zip(
    target: Path, out: Path, report: dict[str, Any], audit: dict[str, Any]
) -> None:
    """``report.json``, ``audit.json`` and the de-identified tree, atomically; DICOM members
    stored (already compressed or not worth it), JSON deflated. Streams file by file."""
    part = target.with_suffix(".part")
    with zipfile.ZipFile(part, "w", allowZip64=True) as archive:
        archive.writestr("report.json", json.dumps(report, indent=2), zipfile.ZIP_DEFLATED)
        archive.writestr("audit.json", json.dumps(audit, indent=2), zipfile.ZIP_DEFLATED)
        if out.is_dir():
            # .veil/: the placement's series claims (bookkeeping, not part of the result)
            members = (
                p for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] != ".veil"
            )
            for path in sorted(members):
                archive.write(path, path.relative_to(out).as_posix(), zipfile.ZIP_STORED)
    part.chmod(0o600)
    part.replace(target)


@dataclass
class RunnerContext:
    """What running and sending jobs needs from the console."""

    store: Store
    jobs: JobStore
    folders: JobFolders
    limits: UploadLimits
    mapper: Mapper
    catalog: ProfileCatalog
    node: NodeConfig
    processes: int = 1
    # Who is told when a job ends (the audit log); called as (job, what, detail).
    on_event: Callable[[JobRow, str, str], None] | None = None


class JobRunner:
    def __init__(self, context: RunnerContext) -> None:
        self.context = context
        self._queue: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="veil-console-jobs", daemon=True
                )
                self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(("run", job_id, ""))
        self._ensure_thread()

    def send(self, job_id: str, destination: str) -> None:
        self._queue.put(("send", job_id, destination))
        self._ensure_thread()

    def recover(self) -> int:
        """Jobs a previous console left queued or running: run again. How many."""
        pending = self.context.jobs.in_states([JobState.QUEUED, JobState.RUNNING])
        for job in pending:
            self.submit(job.id)
        return len(pending)

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def wait(self, timeout: float = 600.0) -> bool:
        """Until every job asked for so far has run (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _loop(self) -> None:
        while True:
            task, job_id, destination = self._queue.get()
            try:
                if task == "run":
                    self.run(job_id)
                else:
                    self.deliver(job_id, destination)
            except Exception as exc:  # the type only: messages may quote values
                log.error("console: job task %s failed (%s)", task, type(exc).__name__)
                self.context.jobs.fail(job_id, f"internal error ({type(exc).__name__})")
            finally:
                self._queue.task_done()

    # -- running ---------------------------------------------------------------------------
    def run(self, job_id: str) -> None:
        ctx = self.context
        job = ctx.jobs.get(job_id)
        if job is None or not ctx.jobs.start(job_id):
            return
        started = time.perf_counter()
        try:
            choice = PolicyChoice(job.version_id, None if job.version_id else job.policy, "")
            if choice.builtin is not None:
                choice = replace(choice, builtin=job.policy.removeprefix("built-in "))
            compiled = compile_choice(ctx.store, ctx.catalog, choice, job.profiles)
        except VeilError as exc:
            ctx.jobs.fail(job_id, f"the policy cannot be used: {exc}")
            return
        inputs = job_inputs(ctx.jobs, ctx.folders, ctx.limits, job_id)
        out = ctx.folders.out(job_id)
        shutil.rmtree(out, ignore_errors=True)  # a job run again starts clean
        batch = Job(compiled.plan, ctx.mapper, out=out, layout=Layout.HIERARCHY, audit=True)
        ctx.jobs.progress(job_id, {"inputs": len(inputs.items)})
        progress = _Progress(ctx.jobs, job_id)
        summary = run_batch(
            inputs.items, batch, jobs=ctx.processes, progress=False, on_record=progress
        )
        progress.flush()
        self._check(summary, inputs.items, out, compiled)
        report = hide_input_paths(summary.to_dict(batch), ctx.mapper, Layout.HIERARCHY)
        report["refused_uploads"] = len(inputs.refused)
        audit = audit_summary(report)
        folder = ctx.folders.folder(job_id)
        write_atomic(folder / "report.json", json.dumps(report, indent=2).encode("utf-8"))
        write_result_zip(ctx.folders.result(job_id), out, report, audit)
        results = inputs.refused + [
            NewResult(r.input, r.outcome, r.problem, r.output, r.study) for r in summary.records
        ]
        ctx.jobs.add_results(job_id, results)
        ctx.folders.remove_uploads(job_id)
        ok = summary.ok and not inputs.refused
        counts = {**progress.counts, "bytes_in": progress.bytes_in, "inputs": len(inputs.items)}
        ctx.jobs.finish(job_id, ok, time.perf_counter() - started, counts)
        finished = ctx.jobs.get(job_id)
        if finished is not None and ctx.on_event is not None:
            ctx.on_event(finished, "done", f"{counts['written']} written of {len(results)}")

    def _check(
        self, summary: BatchSummary, items: list[InputItem], out: Path, compiled: CompiledPolicy
    ) -> None:
        """The destination check on the outputs, as `veil deid` runs it after the batch."""
        by_display = {item.display: item for item in items}
        pairs = [
            (by_display[r.input].read, out / r.output)
            for r in summary.records
            if r.outcome is Outcome.WRITTEN and r.output and r.input in by_display
        ]
        verdict = check_outputs(compiled.profiles, pairs)
        summary.regressions = [r.to_dict() for r in verdict.regressions]
        summary.unverifiable = list(verdict.unverifiable)

    # -- sending ---------------------------------------------------------------------------
    def deliver(self, job_id: str, destination_name: str) -> None:
        """Send a finished job's complete studies to a configured destination."""
        ctx = self.context
        job = ctx.jobs.get(job_id)
        if job is None or job.state is not JobState.DONE:
            return
        destination = next((d for d in ctx.node.destinations if d.name == destination_name), None)
        if destination is None:
            ctx.jobs.record_send(job_id, destination_name, "refused: no such destination")
            return
        detail = self._send(job_id, destination_name, make_sender(destination).send)
        ctx.jobs.record_send(job_id, destination_name, detail)
        if ctx.on_event is not None:
            ctx.on_event(job, f"sent to {destination_name}", detail)

    def _send(self, job_id: str, name: str, send: Callable[[Sequence[OutItem]], Any]) -> str:
        ctx = self.context
        folder = ctx.folders.folder(job_id)
        try:
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "refused: the job's report is missing"
        if report.get("check_regressions") or report.get("check_unverifiable"):
            return (
                "refused: the output lost what a destination profile needs (see report.json); "
                "nothing was sent"
            )
        complete = {s["study"] for s in report.get("studies", []) if s.get("complete")}
        held = len(report.get("studies", [])) - len(complete)
        items = []
        for index, path in enumerate(sorted(ctx.folders.out(job_id).rglob("*.dcm"))):
            header = dcmread(
                io.BytesIO(path.read_bytes()),
                stop_before_pixels=True,
                specific_tags=["StudyInstanceUID", "SOPInstanceUID"],
            )
            study = str(header.get("StudyInstanceUID", ""))
            if study in complete:
                items.append(OutItem(index, path, study, str(header.get("SOPInstanceUID", ""))))
        if not items:
            return "nothing to send: no complete study"
        result = send(items)
        delivered = len(result.delivered)
        detail = f"{delivered} of {len(items)} instance(s) delivered to {name}"
        if held:
            detail += f"; {held} incomplete stud(y/ies) held back"
        if result.problem:
            detail += f"; {result.problem}"
        return detail


__all__ = [
    "APPLIED",
    "JobInputs",
    "JobRunner",
    "PolicyChoice",
    "RunnerContext",
    "audit_summary",
    "choose_policy",
    "compile_choice",
    "job_inputs",
    "write_result_zip",
]
