"""The job API: de-identify files from a script or the browser, as `veil deid` would.

One request for scripts::

    curl -H "Authorization: Bearer $TOKEN" -F policy=applied -F profile=neuroquant \\
         -F file=@series.zip http://127.0.0.1:8480/api/v1/jobs          # -> {"id": ...}
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8480/api/v1/jobs/ID
    curl -H "Authorization: Bearer $TOKEN" -o result.zip http://127.0.0.1:8480/api/v1/jobs/ID/download

Resumable, chunk by chunk (what the job page does): ``POST /api/v1/jobs/uploads`` opens a job;
``POST /api/v1/jobs/{id}/files`` declares a file (name, size); ``POST
/api/v1/jobs/{id}/files/{n}?offset=K`` sends bytes from K (a wrong offset answers 409 with
the offset to resume from; ``GET /api/v1/jobs/{id}/files`` lists what arrived);
``POST /api/v1/jobs/{id}/start`` runs it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from veil.console import jobactions
from veil.console.app import API_PREFIX, ConsoleState
from veil.console.guard import GuardedRouter, Principal
from veil.console.jobs import JobError, JobRow, ResultRow, UploadRow
from veil.console.multipart import FileSink, read_multipart
from veil.console.roles import Permission
from veil.console.uploads import MAX_NAME, UploadRefused, Uploads

router = GuardedRouter(prefix=API_PREFIX, tags=["jobs"])


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _who(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.name


class JobOut(BaseModel):
    id: str
    state: str = Field(description="uploading, queued, running, done or failed")
    policy: str
    profiles: list[str]
    created_at: float
    started_at: float | None
    finished_at: float | None
    inputs: int = Field(description="input files found (zip members counted)")
    done: int
    written: int
    skipped: int
    failed: int
    quarantined: int
    bytes_in: int
    seconds: float | None
    ok: bool | None = Field(description="every file written, nothing lost, nothing refused")
    problem: str | None
    sent_to: str | None
    send_detail: str | None
    download: str | None = Field(description="the zip's URL, once the job is done")


def job_out(job: JobRow) -> JobOut:
    return JobOut(
        id=job.id,
        state=job.state.value,
        policy=job.policy,
        profiles=list(job.profiles),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        inputs=job.inputs,
        done=job.done,
        written=job.written,
        skipped=job.skipped,
        failed=job.failed,
        quarantined=job.quarantined,
        bytes_in=job.bytes_in,
        seconds=job.seconds,
        ok=job.ok,
        problem=job.problem,
        sent_to=job.sent_to,
        send_detail=job.send_detail,
        download=f"{API_PREFIX}/jobs/{job.id}/download" if job.state.value == "done" else None,
    )


class UploadOut(BaseModel):
    file: int
    name: str = Field(description="the file's name as sent (shown to its owner only)")
    size: int
    received: int
    state: str = Field(description="receiving, complete or refused")
    kind: str
    problem: str | None


def upload_out(row: UploadRow) -> UploadOut:
    return UploadOut(
        file=row.number,
        name=row.name,
        size=row.size,
        received=row.received,
        state=row.state.value,
        kind=row.kind,
        problem=row.problem,
    )


class ResultOut(BaseModel):
    seq: int
    input: str
    outcome: str
    problem: str | None
    output: str | None = Field(description="its path in the zip (hierarchy layout)")
    study: str | None = Field(description="de-identified Study Instance UID")


def result_out(row: ResultRow) -> ResultOut:
    return ResultOut(
        seq=row.seq,
        input=row.input,
        outcome=row.outcome.value,
        problem=row.problem,
        output=row.output,
        study=row.study,
    )


class DeclareIn(BaseModel):
    name: str = Field(max_length=MAX_NAME)
    size: int = Field(ge=0, le=1 << 50)


class StartIn(BaseModel):
    policy: str = Field(default="applied", max_length=40)
    profiles: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=20)


class SendIn(BaseModel):
    destination: str = Field(max_length=64)


def _problem(exc: JobError) -> JSONResponse:
    if isinstance(exc, jobactions.NoSuchJob):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, UploadRefused):
        body: dict[str, Any] = {"detail": str(exc)}
        if exc.received is not None:
            body["received"] = exc.received
        return JSONResponse(body, status_code=exc.status)
    return JSONResponse({"detail": str(exc)}, status_code=400)


class _JobFiles:
    """The sinks of a one-request job: the job opens with its first file part, and each part
    streams into the job's folder."""

    def __init__(self, console: ConsoleState, who: str) -> None:
        self.console, self.who = console, who
        self.job: JobRow | None = None

    def __call__(self, name: str, filename: str) -> FileSink:
        if name not in ("file", "files", "zip"):
            raise UploadRefused(f"unexpected file field '{name[:40]}': use 'file'", 400)
        if self.job is None:
            self.job = jobactions.open_job(self.console.studio, self.who)
        uploads: Uploads | None = self.console.studio.uploads
        assert uploads is not None
        return uploads.whole(self.job, filename or "(no name)")


@router.post("/jobs", Permission.RUN_JOBS, status_code=201, response_model=JobOut)
async def create_job(request: Request) -> Response:
    """Multipart: ``file`` (repeatable; DICOM files or zips), ``policy`` (``applied``, a version
    id, or a built-in name), ``profile`` (repeatable). The job starts at once."""
    console = _console(request)
    who = _who(request)
    files = _JobFiles(console, who)
    try:
        jobactions.services_ready(console.studio)
        fields = await read_multipart(request, files)
    except JobError as exc:
        answer = _problem(exc)
        if files.job is not None:  # the job that took the files so far, to inspect or delete
            answer.headers["X-Veil-Job"] = files.job.id
        return answer
    except Exception:  # a malformed body: the parser's message may quote it
        return JSONResponse({"detail": "the multipart body could not be read"}, status_code=400)
    job = files.job
    if job is None:
        return JSONResponse({"detail": "send at least one file as 'file'"}, status_code=400)
    policy = (fields.get("policy") or ["applied"])[0][:40]
    profiles = [p[:64] for p in fields.get("profile", [])][:20]
    started = await run_in_threadpool(
        jobactions.start, console.studio, console.store, job, who, policy, profiles
    )
    current = await run_in_threadpool(jobactions.owned, console.studio, job.id, who)
    if not started.ok:
        return JSONResponse({"detail": started.message, "id": job.id}, status_code=started.status)
    return JSONResponse(job_out(current).model_dump(), status_code=201)


@router.post("/jobs/uploads", Permission.RUN_JOBS, status_code=201, response_model=JobOut)
def open_upload(request: Request) -> Response:
    """A job that takes files chunk by chunk (then ``start`` it)."""
    console = _console(request)
    try:
        job = jobactions.open_job(console.studio, _who(request))
    except JobError as exc:
        return _problem(exc)
    return JSONResponse(job_out(job).model_dump(), status_code=201)


@router.get("/jobs", Permission.VIEW_JOBS, response_model=list[JobOut])
def list_jobs(request: Request) -> Response:
    console = _console(request)
    jobs = console.studio.jobs
    found = jobs.of_owner(_who(request)) if jobs is not None else []
    return JSONResponse([job_out(j).model_dump() for j in found])


@router.get("/jobs/{job_id}", Permission.VIEW_JOBS, response_model=JobOut)
def get_job(request: Request, job_id: str) -> Response:
    try:
        job = jobactions.owned(_console(request).studio, job_id, _who(request))
    except JobError as exc:
        return _problem(exc)
    return JSONResponse(job_out(job).model_dump())


@router.get("/jobs/{job_id}/files", Permission.VIEW_JOBS, response_model=list[UploadOut])
def list_files(request: Request, job_id: str) -> Response:
    services = _console(request).studio
    try:
        job = jobactions.owned(services, job_id, _who(request))
    except JobError as exc:
        return _problem(exc)
    assert services.jobs is not None
    return JSONResponse([upload_out(u).model_dump() for u in services.jobs.uploads(job.id)])


@router.post("/jobs/{job_id}/files", Permission.RUN_JOBS, status_code=201, response_model=UploadOut)
def declare_file(request: Request, job_id: str, body: DeclareIn) -> Response:
    services = _console(request).studio
    try:
        job = jobactions.owned(services, job_id, _who(request))
        assert services.uploads is not None and services.jobs is not None
        number = services.uploads.declare(job, body.name, body.size)
        if body.size == 0:
            row = services.uploads.settle(job, number)
        else:
            found = services.jobs.upload(job.id, number)
            assert found is not None
            row = found
    except JobError as exc:
        return _problem(exc)
    return JSONResponse(upload_out(row).model_dump(), status_code=201)


@router.post("/jobs/{job_id}/files/{number}", Permission.RUN_JOBS, response_model=UploadOut)
async def send_chunk(
    request: Request,
    job_id: str,
    number: int,
    offset: Annotated[int, Query(ge=0, le=1 << 50)] = 0,
) -> Response:
    """Bytes of a declared file from ``offset`` (application/octet-stream)."""
    console = _console(request)
    services = console.studio
    try:
        job = await run_in_threadpool(jobactions.owned, services, job_id, _who(request))
        assert services.uploads is not None
        row = await services.uploads.chunk(job, number, offset, request.stream())
    except JobError as exc:
        return _problem(exc)
    return JSONResponse(upload_out(row).model_dump())


@router.post("/jobs/{job_id}/start", Permission.RUN_JOBS, response_model=JobOut)
def start_job(request: Request, job_id: str, body: StartIn) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError as exc:
        return _problem(exc)
    started = jobactions.start(console.studio, console.store, job, who, body.policy, body.profiles)
    if not started.ok:
        return JSONResponse({"detail": started.message}, status_code=started.status)
    current = jobactions.owned(console.studio, job_id, who)
    return JSONResponse(job_out(current).model_dump())


@router.get("/jobs/{job_id}/results", Permission.VIEW_JOBS, response_model=list[ResultOut])
def job_results(
    request: Request,
    job_id: str,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> Response:
    services = _console(request).studio
    try:
        job = jobactions.owned(services, job_id, _who(request))
    except JobError as exc:
        return _problem(exc)
    assert services.jobs is not None
    rows = services.jobs.results(job.id, limit, offset)
    return JSONResponse([result_out(r).model_dump() for r in rows])


@router.get("/jobs/{job_id}/download", Permission.VIEW_JOBS)
def download_job(request: Request, job_id: str) -> Response:
    """The result zip: the de-identified files (hierarchy layout), report.json, audit.json."""
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError as exc:
        return _problem(exc)
    path = jobactions.download(console.studio, console.store, job, who)
    if path is None:
        return JSONResponse({"detail": "the job has no result yet"}, status_code=409)
    return FileResponse(path, media_type="application/zip", filename=f"veil-job-{job.id}.zip")


@router.post("/jobs/{job_id}/send", Permission.RUN_JOBS)
def send_job(request: Request, job_id: str, body: SendIn) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError as exc:
        return _problem(exc)
    sent = jobactions.send(console.studio, console.store, job, who, body.destination)
    return JSONResponse({"ok": sent.ok, "message": sent.message}, status_code=sent.status)


@router.post("/jobs/{job_id}/delete", Permission.RUN_JOBS)
def delete_job(request: Request, job_id: str) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError as exc:
        return _problem(exc)
    done = jobactions.delete(console.studio, console.store, job, who)
    return JSONResponse({"ok": done.ok, "message": done.message}, status_code=done.status)


__all__ = ["router"]
