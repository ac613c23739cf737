"""Try it on a sample: drop one file, or pick an instance from the spool, and see what the
chosen policy does to it: the explain table (private blocks folded, originals masked), the
destination check before and after, and the audit of the output.

The sample belongs to the session (``veil.console.samples``): deleted at sign-out and when
the session ends. Its JSON twin is ``POST /api/v1/preview`` (``veil.console.api_studio``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veil.console import auditlog, nodeview, preview
from veil.console.app import ConsoleState
from veil.console.auditlog import Action, Outcome
from veil.console.guard import GuardedRouter, Principal
from veil.console.multipart import MemorySink, read_multipart
from veil.console.pages import render
from veil.console.roles import Permission
from veil.console.samples import SampleError
from veil.console.sessions import session_digest
from veil.console.uploads import UploadRefused
from veil.errors import VeilError

router = GuardedRouter()
MIN_REASON = 8


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _digest(request: Request) -> str | None:
    session = _principal(request).session
    return session_digest(session.id) if session is not None else None


def _flash(request: Request, message: str) -> None:
    session = _principal(request).session
    if session is not None:
        _console(request).sessions.flash(session.id, message)


def _query(policy: str, profiles: list[str], changed: bool) -> str:
    pairs = [("policy", policy), *(("profile", p) for p in profiles)]
    if changed:
        pairs.append(("changed", "1"))
    return urlencode(pairs)


def _page(
    request: Request,
    policy: str,
    profiles: list[str],
    changed: bool,
    reveal: bool = False,
    status: int = 200,
    error: str | None = None,
) -> Response:
    console = _console(request)
    services = console.studio
    store = console.store
    policy = policy or preview.default_choice(store)
    context: dict[str, object] = {
        "choices": preview.policy_choices(store),
        "policy": policy,
        "profiles": profiles,
        "catalog": services.catalog.names(),
        "changed": changed,
        "revealed": reveal,
        "unavailable": services.unavailable,
        "studies": nodeview.studies(store, nodeview.StudyFilter(size=50))[0],
        "sample": None,
        "result": None,
        "chosen": None,
        "items": [],
        "error": error,
        "query": _query(policy, profiles, changed),
    }
    digest = _digest(request)
    sample = services.samples.get(digest) if digest and services.mapper is not None else None
    if sample is not None and services.mapper is not None and error is None:
        try:
            result, chosen = preview.run(
                store, services.catalog, services.mapper, sample.data, policy, profiles
            )
        except VeilError as exc:
            context["error"] = f"the policy cannot be used: {exc}"
        else:
            context.update(
                sample=sample,
                result=result,
                chosen=chosen,
                items=preview.table(result, reveal, changed),
            )
    elif sample is not None:
        context["sample"] = sample
    return render(request, "sample.html", "sample", status, **context)


@router.get("/studio/sample", Permission.PREVIEW_SAMPLES)
def sample_page(
    request: Request,
    policy: Annotated[str, Query(max_length=40)] = "",
    profile: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 (FastAPI idiom)
    changed: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    _console(request).studio.samples.sweep(_console(request).sessions.live_digests())
    return _page(request, policy, [p[:64] for p in profile], changed == "1")


@router.post("/studio/sample", Permission.PREVIEW_SAMPLES)
async def upload_sample(request: Request) -> Response:
    """One dropped file becomes the session's sample (the file's name is not kept)."""
    console = _console(request)
    services = console.studio
    sink = MemorySink(
        services.samples.max_bytes,
        f"the file is larger than the sample limit of {services.samples.max_bytes} bytes "
        "(web.max_sample_mb)",
    )
    try:
        fields = await read_multipart(request, lambda _name, _filename: sink)
    except UploadRefused as exc:
        return await run_in_threadpool(_page, request, "", [], False, False, exc.status, str(exc))
    except Exception:  # a malformed body: the parser's message may quote it
        return await run_in_threadpool(
            _page, request, "", [], False, False, 400, "the upload could not be read"
        )
    policy = (fields.get("policy") or [""])[0][:40]
    profiles = [p[:64] for p in fields.get("profile", [])][:20]
    return await run_in_threadpool(_store_upload, request, bytes(sink.data), policy, profiles)


def _store_upload(request: Request, data: bytes, policy: str, profiles: list[str]) -> Response:
    console = _console(request)
    digest = _digest(request)
    if digest is None or console.studio.mapper is None:
        return _page(request, policy, profiles, False, status=409, error=console.studio.unavailable)
    if not data:
        return _page(request, policy, profiles, False, status=400, error="choose a file to try")
    try:
        console.studio.samples.put(digest, data, f"an uploaded file ({len(data)} bytes)")
    except SampleError as exc:
        return _page(request, policy, profiles, False, status=413, error=str(exc))
    auditlog.append(
        console.store, _principal(request).name, Action.SAMPLE_TRIED, "uploaded file", Outcome.OK
    )
    return RedirectResponse(f"/studio/sample?{_query(policy, profiles, False)}", status_code=303)


@router.post("/studio/sample/spool", Permission.PREVIEW_SAMPLES)
def spool_sample(
    request: Request,
    study: Annotated[str, Form(max_length=64)],
    instance: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
    policy: Annotated[str, Form(max_length=40)] = "",
    profile: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006
) -> Response:
    """An instance received by the node becomes the session's sample."""
    console = _console(request)
    back = f"/studio/sample?{_query(policy, [p[:64] for p in profile], False)}"
    digest = _digest(request)
    found = console.store.studies.find(study) if study else None
    if digest is None or found is None or found.study_key != study:
        _flash(request, "no such study")
        return RedirectResponse(back, status_code=303)
    instances = console.store.studies.instances(found.id)
    if not 1 <= instance <= len(instances):
        _flash(request, f"the study has {len(instances)} instance(s)")
        return RedirectResponse(back, status_code=303)
    try:
        data = console.spool.incoming_file(instances[instance - 1].spool_name).read_bytes()
        console.studio.samples.put(
            digest, data, f"spool: study {study}, instance {instance} of {len(instances)}", study
        )
    except OSError:
        _flash(request, "that instance is not in the spool any more (sent studies leave it)")
        return RedirectResponse(back, status_code=303)
    except SampleError as exc:
        _flash(request, str(exc))
        return RedirectResponse(back, status_code=303)
    auditlog.append(
        console.store, _principal(request).name, Action.SAMPLE_TRIED, f"study {study}", Outcome.OK
    )
    return RedirectResponse(back, status_code=303)


@router.post("/studio/sample/reveal", Permission.REVEAL_ORIGINALS)
def reveal_sample(
    request: Request,
    reason: Annotated[str, Form(max_length=500)] = "",
    policy: Annotated[str, Form(max_length=40)] = "",
    profile: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006
    changed: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """The sample's originals, for the reidentifier, with a reason; logged first."""
    console = _console(request)
    profiles = [p[:64] for p in profile]
    digest = _digest(request)
    sample = console.studio.samples.get(digest) if digest else None
    if sample is None:
        return _page(request, policy, profiles, changed == "1", status=404, error="no sample")
    if len(reason.strip()) < MIN_REASON:
        return _page(
            request,
            policy,
            profiles,
            changed == "1",
            status=400,
            error=f"give a reason of at least {MIN_REASON} characters to reveal originals",
        )
    target = f"sample: study {sample.study}" if sample.study else "sample: uploaded file"
    auditlog.append(
        console.store, _principal(request).name, Action.REVEAL, target, Outcome.OK, reason.strip()
    )
    return _page(request, policy, profiles, changed == "1", reveal=True)


@router.post("/studio/sample/discard", Permission.PREVIEW_SAMPLES)
def discard_sample(request: Request) -> Response:
    digest = _digest(request)
    if digest is not None:
        _console(request).studio.samples.discard(digest)
    _flash(request, "sample deleted")
    return RedirectResponse("/studio/sample", status_code=303)


__all__ = ["router"]
