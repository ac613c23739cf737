"""De-identify from the browser: open a job, drop files, folders or zips (uploaded in chunks,
resumable, a result per file), choose a policy and profiles, watch it run, download the zip or
send it to a destination. The upload itself is the job API (``veil.console.api_jobs``), which
the page's script (static/upload.js) calls with the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from veil.console import jobactions, preview
from veil.console.app import ConsoleState
from veil.console.guard import GuardedRouter, Principal
from veil.console.jobs import JobError
from veil.console.pages import render
from veil.console.roles import Permission

router = GuardedRouter()
RESULTS_PAGE = 500


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _who(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.name


def _flash(request: Request, message: str, to: str) -> Response:
    principal: Principal = request.state.principal
    if principal.session is not None:
        _console(request).sessions.flash(principal.session.id, message)
    return RedirectResponse(to, status_code=303)


def _not_found(request: Request, message: str = "no such job") -> Response:
    return render(request, "error.html", "error", 404, title="Not found", message=message)


@router.get("/jobs", Permission.VIEW_JOBS)
def jobs_page(request: Request) -> Response:
    services = _console(request).studio
    jobs = services.jobs.of_owner(_who(request)) if services.jobs is not None else []
    return render(
        request,
        "jobs.html",
        "jobs",
        jobs=jobs,
        unavailable=services.unavailable,
        retention=services.config.web.job_retention_hours,
    )


@router.post("/jobs/new", Permission.RUN_JOBS)
def new_job(request: Request) -> Response:
    try:
        job = jobactions.open_job(_console(request).studio, _who(request))
    except JobError as exc:
        return _flash(request, str(exc), "/jobs")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _job_context(request: Request, job_id: str, page: int) -> dict[str, Any] | None:
    console = _console(request)
    services = console.studio
    try:
        job = jobactions.owned(services, job_id, _who(request))
    except JobError:
        return None
    assert services.jobs is not None
    return {
        "job": job,
        "uploads": services.jobs.uploads(job.id),
        "results": services.jobs.results(job.id, RESULTS_PAGE, (page - 1) * RESULTS_PAGE)
        if job.finished
        else [],
        "page_number": page,
        "choices": preview.policy_choices(console.store),
        "default_policy": preview.default_choice(console.store),
        "catalog": services.catalog.names(),
        "destinations": [d.name for d in console.config.node.destinations],
        "limits": services.limits,
        "chunk_bytes": services.limits.max_chunk_bytes,
    }


@router.get("/jobs/{job_id}", Permission.VIEW_JOBS)
def job_page(
    request: Request, job_id: str, page: Annotated[int, Query(ge=1, le=100000)] = 1
) -> Response:
    context = _job_context(request, job_id, page)
    if context is None:
        return _not_found(request)
    return render(request, "job.html", "jobs", **context)


@router.get("/partials/jobs/{job_id}", Permission.VIEW_JOBS)
def job_partial(request: Request, job_id: str) -> Response:
    context = _job_context(request, job_id, 1)
    if context is None:
        return _not_found(request)
    return render(request, "partials/job_status.html", "jobs", **context)


@router.post("/jobs/{job_id}/start", Permission.RUN_JOBS)
def start_job(
    request: Request,
    job_id: str,
    policy: Annotated[str, Form(max_length=40)] = "applied",
    profile: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 (FastAPI idiom)
) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError:
        return _not_found(request)
    started = jobactions.start(
        console.studio, console.store, job, who, policy, [p[:64] for p in profile]
    )
    return _flash(request, started.message, f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/send", Permission.RUN_JOBS)
def send_job(
    request: Request, job_id: str, destination: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError:
        return _not_found(request)
    sent = jobactions.send(console.studio, console.store, job, who, destination)
    return _flash(request, sent.message, f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/delete", Permission.RUN_JOBS)
def delete_job(request: Request, job_id: str) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError:
        return _not_found(request)
    done = jobactions.delete(console.studio, console.store, job, who)
    return _flash(request, done.message, "/jobs" if done.ok else f"/jobs/{job_id}")


@router.get("/jobs/{job_id}/download", Permission.VIEW_JOBS)
def download(request: Request, job_id: str) -> Response:
    console = _console(request)
    who = _who(request)
    try:
        job = jobactions.owned(console.studio, job_id, who)
    except JobError:
        return _not_found(request)
    path = jobactions.download(console.studio, console.store, job, who)
    if path is None:
        return _not_found(request, "the job has no result yet")
    return FileResponse(path, media_type="application/zip", filename=f"veil-job-{job.id}.zip")


__all__ = ["router"]
