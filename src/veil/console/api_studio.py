"""The Privacy studio's JSON API: policy versions, their review, apply and duplicate; the
attribute autocomplete; and ``POST /api/v1/preview``, one file tried with a policy.

``POST /api/v1/preview`` (multipart: ``file``, ``policy``, ``profile``...) answers the explain
rows with the *before* value masked ("PN, 3 components") wherever the policy changes or
removes it; ``reveal=true`` with a ``reason`` unmasks them for the reidentifier only, and is
logged first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from veil.console import attributes, auditlog, preview, studio
from veil.console.app import API_PREFIX, ConsoleState
from veil.console.auditlog import Action, Outcome
from veil.console.guard import GuardedRouter, Principal
from veil.console.multipart import MemorySink, read_multipart
from veil.console.roles import Permission
from veil.console.uploads import UploadRefused
from veil.errors import VeilError
from veil.node.store.policies import PolicyVersion
from veil.policy_review import PolicyReview
from veil.sample import SamplePreview

router = GuardedRouter(prefix=API_PREFIX, tags=["privacy studio"])


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


class VersionOut(BaseModel):
    id: int
    name: str
    number: int
    source: str
    comment: str
    created_by: str
    created_at: float
    sha256: str
    applied: bool


def version_out(version: PolicyVersion, applied_id: int | None) -> VersionOut:
    return VersionOut(
        id=version.id,
        name=version.name,
        number=version.number,
        source=version.source.value,
        comment=version.comment,
        created_by=version.created_by,
        created_at=version.created_at,
        sha256=version.digest,
        applied=version.id == applied_id,
    )


class ConflictOut(BaseModel):
    attribute: str
    privacy_rule: str
    requirement: str
    message: str
    line: int


class CoverageOut(BaseModel):
    rule: str
    kind: str
    target: str
    severity: str
    need: str
    why: str
    verdict: str = Field(description="kept, transformed, replaced, removed or not-needed")
    how: str


class ReviewOut(BaseModel):
    ok: bool
    errors: list[str] = Field(description="each names its line")
    conflicts: list[ConflictOut]
    notes: list[str]
    requirements: list[str]
    will_it_process: dict[str, list[CoverageOut]]


def review_out(review: PolicyReview) -> ReviewOut:
    return ReviewOut(
        ok=review.ok,
        errors=list(review.errors),
        conflicts=[
            ConflictOut(
                attribute=c.attribute,
                privacy_rule=c.privacy_rule,
                requirement=c.requirement,
                message=c.message,
                line=c.line,
            )
            for c in review.conflicts
        ],
        notes=list(review.notes),
        requirements=list(review.requirements),
        will_it_process={
            name: [
                CoverageOut(
                    rule=c.rule_id,
                    kind=c.kind,
                    target=c.target,
                    severity=c.severity.value,
                    need=c.need,
                    why=c.why,
                    verdict=c.verdict.value,
                    how=c.how,
                )
                for c in rows
            ]
            for name, rows in review.coverage.items()
        },
    )


class VersionDetailOut(VersionOut):
    text: str
    previous: int | None
    diff: list[str] = Field(description="unified diff to the previous version, line by line")
    studies: int = Field(description="studies the node de-identified with this version")
    review: ReviewOut


class PolicyIn(BaseModel):
    yaml: str = Field(max_length=studio.MAX_TEXT)
    comment: str = Field(default="", max_length=500)
    parent: int | None = Field(default=None, description="the version it was edited from")


class CheckIn(BaseModel):
    yaml: str = Field(max_length=studio.MAX_TEXT)


class NameIn(BaseModel):
    name: str = Field(max_length=64)


class AttributeOut(BaseModel):
    keyword: str
    tag: str
    name: str
    vr: str
    iod_type: str
    table_e1_1: str = Field(description="the basic profile's action, '' when not listed")
    options: dict[str, str]
    compound: str = Field(description="the compound action's choice in this IOD")


@router.get("/policies", Permission.VIEW_POLICIES, response_model=list[VersionOut])
def policies(request: Request) -> Response:
    store = _console(request).store
    applied = store.policies.applied_id()
    return JSONResponse([version_out(v, applied).model_dump() for v in store.policies.all()])


@router.get("/policies/{version_id}", Permission.VIEW_POLICIES, response_model=VersionDetailOut)
def policy(request: Request, version_id: int) -> Response:
    console = _console(request)
    store = console.store
    version = store.policies.get(version_id)
    if version is None:
        return JSONResponse({"detail": "no such version"}, status_code=404)
    view = studio.version_view(store, version, store.policies.applied())
    review = studio.review(version.text, console.studio.catalog, f"policy {version.label}")
    body = VersionDetailOut(
        **version_out(version, store.policies.applied_id()).model_dump(),
        text=version.text,
        previous=view.previous.id if view.previous is not None else None,
        diff=[
            {"added": "+", "removed": "-", "same": " ", "hunk": ""}[d.kind] + d.text
            for d in view.diff
        ],
        studies=view.studies,
        review=review_out(review),
    )
    return JSONResponse(body.model_dump())


@router.post("/policies/check", Permission.VIEW_POLICIES, response_model=ReviewOut)
def check(request: Request, body: CheckIn) -> Response:
    """Errors (by line), conflicts (both rules named), notes, and per destination profile
    whether the policy keeps what it needs: nothing is saved."""
    review = studio.review(body.yaml, _console(request).studio.catalog)
    return JSONResponse(review_out(review).model_dump())


@router.post("/policies", Permission.EDIT_POLICIES, status_code=201, response_model=VersionOut)
def save(request: Request, body: PolicyIn) -> Response:
    console = _console(request)
    saved = studio.save(
        console.store,
        console.studio.catalog,
        _principal(request).name,
        body.yaml,
        body.comment,
        body.parent,
    )
    if saved.version is None:
        return JSONResponse(
            {"detail": saved.problem, "review": review_out(saved.review).model_dump()},
            status_code=422,
        )
    applied = console.store.policies.applied_id()
    return JSONResponse(
        {**version_out(saved.version, applied).model_dump(), "created": saved.created},
        status_code=201 if saved.created else 200,
    )


@router.post("/policies/{version_id}/apply", Permission.EDIT_POLICIES)
def apply(request: Request, version_id: int) -> Response:
    console = _console(request)
    ok, message = studio.apply(
        console.store, console.studio.catalog, _principal(request).name, version_id
    )
    status = 200 if ok else (404 if "no such" in message else 409)
    return JSONResponse({"ok": ok, "message": message}, status_code=status)


@router.post("/policies/{version_id}/duplicate", Permission.EDIT_POLICIES, status_code=201)
def duplicate(request: Request, version_id: int, body: NameIn) -> Response:
    console = _console(request)
    saved = studio.duplicate(
        console.store, console.studio.catalog, _principal(request).name, version_id, body.name
    )
    if saved.version is None:
        return JSONResponse({"detail": saved.problem}, status_code=409)
    applied = console.store.policies.applied_id()
    return JSONResponse(version_out(saved.version, applied).model_dump(), status_code=201)


@router.get("/attributes", Permission.VIEW_POLICIES, response_model=list[AttributeOut])
def attribute_search(
    q: Annotated[str, Query(max_length=64)] = "",
    sop_class: Annotated[str, Query(max_length=64)] = attributes.MR_IMAGE,
) -> Response:
    found = attributes.search(q, sop_class)
    return JSONResponse(
        [
            AttributeOut(
                keyword=i.keyword,
                tag=i.tag_text,
                name=i.name,
                vr=i.vr,
                iod_type=i.iod_type,
                table_e1_1=i.basic,
                options=dict(i.options),
                compound=i.compound,
            ).model_dump()
            for i in found
        ]
    )


# ---- preview -------------------------------------------------------------------------------


def preview_out(
    result: SamplePreview, label: str, reveal: bool, changed_only: bool
) -> dict[str, Any]:
    rows = [
        preview.shown(r, reveal)
        for r in result.rows
        if not changed_only or r.change.value != "kept"
    ]
    return {
        "policy": label,
        "outcome": result.outcome.value,
        "problem": result.problem,
        "revealed": reveal,
        "notes": list(result.notes),
        "check": [
            {
                "rule": c.rule_id,
                "reads": c.target,
                "severity": c.severity,
                "before": c.before.value,
                "after": c.after.value if c.after is not None else None,
                "lost": c.lost,
                "need": c.need,
                "fix": c.fix,
            }
            for c in result.check
        ],
        "audit": {
            "errors": result.audit_errors,
            "warnings": result.audit_warnings,
            "findings": [
                {k: v for k, v in f.to_dict().items() if k != "file"} for f in result.findings
            ],
        },
        "explain": [
            {
                "path": r.path,
                "keyword": r.keyword,
                "vr": r.vr,
                "change": r.change.value,
                "before": r.before,
                "before_masked": r.masked,
                "after": r.after,
                "rule": r.rule,
            }
            for r in rows
        ],
    }


@router.post("/preview", Permission.PREVIEW_SAMPLES)
async def preview_api(request: Request) -> Response:
    """Multipart: ``file`` (one DICOM file), ``policy`` (``applied``, ``version:ID`` or a
    built-in name), ``profile`` (repeatable), ``changed_only`` (true/false), ``reveal``
    (true: the reidentifier only, with a ``reason`` of 8 characters or more; logged)."""
    console = _console(request)
    services = console.studio
    sink = MemorySink(
        services.samples.max_bytes,
        f"the file is larger than {services.samples.max_bytes} bytes (web.max_sample_mb)",
    )
    try:
        fields = await read_multipart(request, lambda _name, _filename: sink)
    except UploadRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    except Exception:  # a malformed body: the parser's message may quote it
        return JSONResponse({"detail": "the multipart body could not be read"}, status_code=400)
    return await run_in_threadpool(_preview, request, bytes(sink.data), fields)


def _preview(request: Request, data: bytes, fields: dict[str, list[str]]) -> Response:
    console = _console(request)
    services = console.studio
    principal = _principal(request)
    if services.mapper is None:
        return JSONResponse({"detail": f"unavailable: {services.unavailable}"}, status_code=409)
    if not data:
        return JSONResponse({"detail": "send one DICOM file as 'file'"}, status_code=400)

    def flag(name: str) -> bool:
        return (fields.get(name) or [""])[0].strip().lower() in ("1", "true", "yes", "on")

    reveal = flag("reveal")
    reason = (fields.get("reason") or [""])[0].strip()[:500]
    if reveal and not principal.can(Permission.REVEAL_ORIGINALS):
        return JSONResponse({"detail": "your role does not allow revealing originals"}, 403)
    if reveal and len(reason) < 8:
        return JSONResponse({"detail": "reveal needs a reason of 8 characters or more"}, 400)
    policy = (fields.get("policy") or [preview.default_choice(console.store)])[0][:40]
    profiles = [p[:64] for p in fields.get("profile", [])][:20]
    try:
        result, chosen = preview.run(
            console.store, services.catalog, services.mapper, data, policy, profiles
        )
    except VeilError as exc:
        return JSONResponse({"detail": f"the policy cannot be used: {exc}"}, status_code=400)
    if reveal:
        auditlog.append(console.store, principal.name, Action.REVEAL, "preview", Outcome.OK, reason)
    return JSONResponse(preview_out(result, chosen.label, reveal, flag("changed_only")))


__all__ = ["router"]
