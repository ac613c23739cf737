"""The JSON API, ``/api/v1``: the twin of every page (OpenAPI at ``/api/v1/openapi.json``).

Scripts authenticate with ``Authorization: Bearer TOKEN``; a signed-in browser may call it
too (then the CSRF and same-origin rules apply to its POSTs). Models below are what leaves:
pseudonyms, states, counts, times; originals only in ``RevealOut``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from veil.console import accounts, actions, auditlog, nodeview
from veil.console.app import API_PREFIX, ConsoleState
from veil.console.auditlog import Action, Outcome
from veil.console.guard import GuardedRouter, Principal
from veil.console.reveal import RevealError
from veil.console.roles import Permission, RoleError, parse_roles
from veil.errors import VeilError
from veil.node import controls
from veil.node.store.states import ReturnState, StudyState

router = GuardedRouter(prefix=API_PREFIX, tags=["console"])


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _who(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.name


# ---- models --------------------------------------------------------------------------------


class StudyOut(BaseModel):
    study: str = Field(description="study key (a keyed token, not a UID)")
    patient: str = Field(description="patient pseudonym")
    deidentified_study_uid: str | None
    state: StudyState
    reason: str | None
    attempts: int
    next_attempt_at: float
    first_received_at: float
    last_received_at: float
    updated_at: float
    instances: int
    sent: int


def _study(s: nodeview.StudySummary) -> StudyOut:
    return StudyOut(
        study=s.key,
        patient=s.patient,
        deidentified_study_uid=s.deid_study_uid,
        state=s.state,
        reason=s.reason,
        attempts=s.attempts,
        next_attempt_at=s.next_attempt_at,
        first_received_at=s.first_received_at,
        last_received_at=s.last_received_at,
        updated_at=s.updated_at,
        instances=s.instances,
        sent=s.sent,
    )


class StudyPage(BaseModel):
    studies: list[StudyOut]
    total: int
    page: int
    size: int


class ProgressOut(BaseModel):
    destination: str
    delivered: int
    total: int
    paused: bool


class EventOut(BaseModel):
    state: StudyState
    at: float


class FindingOut(BaseModel):
    source: str = Field(description="audit, check or other")
    file: str = Field(description="spool file name (a hash), never a UID")
    path: str = Field(description="element path where the audit found an identifier")
    kind: str
    form: str = Field(description="the form the value was found in; never the value")
    rule: str = Field(description="requirement rule lost (check findings)")


class StudyDetailOut(BaseModel):
    study: StudyOut
    destinations: list[ProgressOut]
    timeline: list[EventOut]
    findings: list[FindingOut]


def _detail(d: nodeview.StudyDetail) -> StudyDetailOut:
    return StudyDetailOut(
        study=_study(d.summary),
        destinations=[
            ProgressOut(destination=p.name, delivered=p.delivered, total=p.total, paused=p.paused)
            for p in d.progress
        ],
        timeline=[EventOut(state=e.state, at=e.at) for e in d.events],
        findings=_findings(d.findings),
    )


def _findings(findings: Sequence[controls.StudyFinding]) -> list[FindingOut]:
    return [
        FindingOut(
            source=f.source.value, file=f.file, path=f.path, kind=f.kind, form=f.form, rule=f.rule
        )
        for f in findings
    ]


class DestinationOut(BaseModel):
    name: str
    kind: str
    address: str = Field(description="where it is; credentials are never shown")
    credentials: str = Field(description="'set' or 'none'")
    paused: bool
    last_send_at: float | None
    last_test_at: float | None
    last_test_ok: bool | None
    last_test_detail: str | None


def _destination(d: nodeview.DestinationHealth) -> DestinationOut:
    return DestinationOut(
        name=d.name,
        kind=d.kind.value,
        address=d.address,
        credentials=d.credentials,
        paused=d.paused,
        last_send_at=d.last_send_at,
        last_test_at=d.last_test_at,
        last_test_ok=d.last_test_ok,
        last_test_detail=d.last_test_detail,
    )


class DashboardOut(BaseModel):
    studies: dict[str, int]
    returns: dict[str, int]
    instances_sent_last_hour: int
    studies_sent_last_hour: int
    spool_disk_free_bytes: int | None
    spool_disk_total_bytes: int | None
    destinations: list[DestinationOut]
    recent_failures: list[StudyOut]
    generated_at: float


class ReturnOut(BaseModel):
    id: int
    name: str
    state: ReturnState
    reason: str | None
    attempts: int
    received_at: float
    updated_at: float


class HeldOut(BaseModel):
    study: StudyOut
    findings: list[FindingOut]


class QuarantineOut(BaseModel):
    studies: list[HeldOut]
    total: int = Field(description="held studies in all (this answer is one page)")
    page: int
    returns: list[ReturnOut]


class ActionOut(BaseModel):
    ok: bool
    message: str


class BulkRetryIn(BaseModel):
    studies: list[Annotated[str, Field(max_length=64)]] = Field(max_length=500)


class ConfirmIn(BaseModel):
    confirm: str = Field(max_length=64, description="the study key (or result number) again")


class TestOut(ActionOut):
    seconds: float | None = None


class RevealIn(BaseModel):
    pseudonym: str = Field(max_length=64)
    reason: str = Field(max_length=500, description="why: recorded in the audit log")


class RevealOut(BaseModel):
    pseudonym: str
    kind: str
    patient_id: str
    patient_name: str
    study_uid: str
    accession: str


class AuditEntryOut(BaseModel):
    seq: int
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    detail: str
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    first_bad: int | None
    problem: str


class UserOut(BaseModel):
    name: str
    roles: list[str]
    created_at: float


class UserIn(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=accounts.MAX_PASSWORD)
    roles: list[str] = Field(max_length=5)


def _answer(result: actions.ActionResult) -> JSONResponse:
    return JSONResponse(
        ActionOut(ok=result.ok, message=result.message).model_dump(), status_code=result.status
    )


# ---- routes --------------------------------------------------------------------------------


@router.get("/dashboard", Permission.VIEW_NODE, response_model=DashboardOut)
def dashboard(request: Request) -> DashboardOut:
    console = _console(request)
    b = nodeview.dashboard(console.store, console.config.node)
    return DashboardOut(
        studies=b.counts,
        returns=b.returns,
        instances_sent_last_hour=b.sent_last_hour,
        studies_sent_last_hour=b.studies_sent_last_hour,
        spool_disk_free_bytes=b.disk_free_bytes,
        spool_disk_total_bytes=b.disk_total_bytes,
        destinations=[_destination(d) for d in b.destinations],
        recent_failures=[_study(s) for s in b.recent_failures],
        generated_at=b.generated_at,
    )


@router.get("/studies", Permission.VIEW_NODE, response_model=StudyPage)
def studies(
    request: Request,
    state: Annotated[list[StudyState], Query(max_length=8)] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=80)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    size: Annotated[int, Query(ge=1, le=nodeview.MAX_PAGE_SIZE)] = nodeview.PAGE_SIZE,
) -> StudyPage:
    console = _console(request)
    where = nodeview.StudyFilter(tuple(state), q, page, size)
    rows, total = nodeview.studies(console.store, where)
    return StudyPage(studies=[_study(r) for r in rows], total=total, page=page, size=size)


@router.get("/studies/{key}", Permission.VIEW_NODE, response_model=StudyDetailOut)
def study(request: Request, key: str) -> StudyDetailOut | JSONResponse:
    console = _console(request)
    detail = nodeview.study_detail(console.store, console.config.node, key)
    if detail is None:
        return JSONResponse({"detail": "no such study"}, status_code=404)
    return _detail(detail)


@router.post("/studies/retry", Permission.ACT_ON_STUDIES, response_model=list[ActionOut])
def retry_many(request: Request, body: BulkRetryIn) -> list[ActionOut]:
    console = _console(request)
    who = _who(request)
    return [
        ActionOut(ok=r.ok, message=r.message)
        for r in (actions.retry_study(console.store, who, key) for key in body.studies)
    ]


@router.post("/studies/{key}/retry", Permission.ACT_ON_STUDIES, response_model=ActionOut)
def retry(request: Request, key: str) -> JSONResponse:
    return _answer(actions.retry_study(_console(request).store, _who(request), key))


@router.post("/studies/{key}/process-now", Permission.ACT_ON_STUDIES, response_model=ActionOut)
def process_now(request: Request, key: str) -> JSONResponse:
    return _answer(actions.process_now(_console(request).store, _who(request), key))


@router.get("/quarantine", Permission.VIEW_NODE, response_model=QuarantineOut)
def quarantine(request: Request, page: Annotated[int, Query(ge=1, le=100000)] = 1) -> QuarantineOut:
    console = _console(request)
    rows, total = nodeview.held(console.store, page)
    returned = nodeview.returns(console.store, (ReturnState.QUARANTINED, ReturnState.FAILED))
    return QuarantineOut(
        studies=[HeldOut(study=_study(h.summary), findings=_findings(h.findings)) for h in rows],
        total=total,
        page=page,
        returns=[
            ReturnOut(
                id=r.id,
                name=r.name,
                state=r.state,
                reason=r.reason,
                attempts=r.attempts,
                received_at=r.received_at,
                updated_at=r.updated_at,
            )
            for r in returned
        ],
    )


@router.post("/quarantine/{key}/purge", Permission.PURGE_QUARANTINE, response_model=ActionOut)
def purge(request: Request, key: str, body: ConfirmIn) -> JSONResponse:
    console = _console(request)
    return _answer(
        actions.purge_study(console.store, console.spool, _who(request), key, body.confirm)
    )


@router.post("/returns/{return_id}/retry", Permission.ACT_ON_STUDIES, response_model=ActionOut)
def retry_return(request: Request, return_id: int) -> JSONResponse:
    return _answer(actions.retry_return(_console(request).store, _who(request), return_id))


@router.post("/returns/{return_id}/purge", Permission.PURGE_QUARANTINE, response_model=ActionOut)
def purge_return(request: Request, return_id: int, body: ConfirmIn) -> JSONResponse:
    console = _console(request)
    return _answer(
        actions.purge_return(console.store, console.spool, _who(request), return_id, body.confirm)
    )


@router.get("/destinations", Permission.VIEW_NODE, response_model=list[DestinationOut])
def destinations(request: Request) -> list[DestinationOut]:
    console = _console(request)
    return [_destination(d) for d in nodeview.destinations(console.store, console.config.node)]


@router.post("/destinations/{name}/test", Permission.TEST_DESTINATIONS, response_model=TestOut)
def test_destination(request: Request, name: str) -> JSONResponse:
    console = _console(request)
    result, probe = actions.test_destination(
        console.store, console.config.node, _who(request), name
    )
    body = TestOut(ok=result.ok, message=result.message, seconds=probe.seconds if probe else None)
    return JSONResponse(body.model_dump(), status_code=result.status)


@router.post("/destinations/{name}/pause", Permission.PAUSE_DESTINATIONS, response_model=ActionOut)
def pause(request: Request, name: str) -> JSONResponse:
    console = _console(request)
    return _answer(
        actions.pause_destination(console.store, console.config.node, _who(request), name, True)
    )


@router.post("/destinations/{name}/resume", Permission.PAUSE_DESTINATIONS, response_model=ActionOut)
def resume(request: Request, name: str) -> JSONResponse:
    console = _console(request)
    return _answer(
        actions.pause_destination(console.store, console.config.node, _who(request), name, False)
    )


@router.post("/reidentify", Permission.REVEAL_ORIGINALS, response_model=RevealOut)
def reidentify(request: Request, body: RevealIn) -> RevealOut | JSONResponse:
    console = _console(request)
    try:
        result, found = actions.reveal(console.store, _who(request), body.pseudonym, body.reason)
    except RevealError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    if found is None:
        return JSONResponse({"detail": result.message}, status_code=404)
    return RevealOut(
        pseudonym=found.pseudonym,
        kind=found.kind,
        patient_id=found.patient_id,
        patient_name=found.patient_name,
        study_uid=found.study_uid,
        accession=found.accession,
    )


@router.get("/audit", Permission.VIEW_AUDIT_LOG, response_model=list[AuditEntryOut])
def audit(
    request: Request,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    return [
        AuditEntryOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action.value,
            target=e.target,
            outcome=e.outcome.value,
            detail=e.detail,
            hash=e.hash,
        )
        for e in auditlog.entries(_console(request).store, limit, before)
    ]


@router.post("/audit/verify", Permission.VIEW_AUDIT_LOG, response_model=VerifyOut)
def audit_verify(request: Request) -> VerifyOut:
    console = _console(request)
    result = auditlog.verify(console.store)
    auditlog.append(
        console.store,
        _who(request),
        Action.AUDIT_VERIFIED,
        "",
        Outcome.OK if result.ok else Outcome.FAILED,
        f"{result.entries} entries" + ("" if result.ok else f"; broken at {result.first_bad}"),
    )
    return VerifyOut(
        ok=result.ok, entries=result.entries, first_bad=result.first_bad, problem=result.problem
    )


@router.get("/users", Permission.MANAGE_USERS, response_model=list[UserOut])
def users(request: Request) -> list[UserOut]:
    return [
        UserOut(name=u.name, roles=sorted(r.value for r in u.roles), created_at=u.created_at)
        for u in accounts.list_users(_console(request).store)
    ]


@router.post("/users", Permission.MANAGE_USERS, response_model=UserOut, status_code=201)
def add_user(request: Request, body: UserIn) -> UserOut | JSONResponse:
    console = _console(request)
    who = _who(request)
    try:
        user = accounts.add_user(console.store, body.name, body.password, parse_roles(body.roles))
    except (VeilError, RoleError) as exc:
        auditlog.append(
            console.store, who, Action.USER_ADDED, body.name[:64], Outcome.REFUSED, str(exc)
        )
        return JSONResponse({"detail": str(exc)}, status_code=400)
    auditlog.append(
        console.store,
        who,
        Action.USER_ADDED,
        user.name,
        Outcome.OK,
        "roles: " + ", ".join(sorted(r.value for r in user.roles)),
    )
    return UserOut(
        name=user.name, roles=sorted(r.value for r in user.roles), created_at=user.created_at
    )


@router.post("/users/{name}/remove", Permission.MANAGE_USERS, response_model=ActionOut)
def remove_user(request: Request, name: str) -> JSONResponse:
    console = _console(request)
    who = _who(request)
    if name == who:
        return _answer(actions.ActionResult(False, "you cannot remove yourself", 409))
    try:
        accounts.remove_user(console.store, name)
    except accounts.AccountError as exc:
        return _answer(actions.ActionResult(False, str(exc), 404))
    auditlog.append(console.store, who, Action.USER_REMOVED, name)
    return _answer(actions.ActionResult(True, f"user {name} removed"))
