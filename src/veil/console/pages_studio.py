"""The Privacy studio's pages: policy versions, the editor (form and YAML views, checked live),
a version's page (diff, "will it process?", apply, duplicate, export), and import.

Every page works without JavaScript (htmx only refreshes the check panel and the attribute
suggestions as one types). Its JSON twin is ``veil.console.api_studio``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from veil.console import attributes, studio
from veil.console.app import ConsoleState
from veil.console.guard import GuardedRouter, Principal
from veil.console.pages import render
from veil.console.roles import Permission
from veil.node.store.policies import VersionSource
from veil.policy.document import OverrideLine, PolicyDocument, document_from_yaml, option_names
from veil.policy_review import PolicyReview
from veil.standard import EDITION, Option

router = GuardedRouter()


def _console(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _back(request: Request, ok: bool, message: str, to: str) -> Response:
    principal = _principal(request)
    if principal.session is not None:
        _console(request).sessions.flash(principal.session.id, message)
    return RedirectResponse(to, status_code=303)


def _fields(form: FormData) -> tuple[dict[str, Any], dict[str, list[str]]]:
    first: dict[str, Any] = {}
    many: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            first.setdefault(key, value)
            many.setdefault(key, []).append(value)
    return first, many


def _options() -> list[tuple[str, str, str]]:
    return [(o.value, o.meaning, o.code) for o in Option if o.value in option_names()]


def _profiles(console: ConsoleState) -> list[tuple[str, str, bool]]:
    catalog = console.studio.catalog
    return [
        (name, catalog.get(name).description, catalog.is_site(name)) for name in catalog.names()
    ]


def _row_info(override: OverrideLine, sop_class: str) -> str:
    if override.is_private:
        return "private: found by its creator in any odd group (keep or remove only)"
    info = attributes.lookup(override.attribute, sop_class)
    return info.label() if info is not None else ""


def _editor(
    request: Request,
    document: PolicyDocument,
    review: PolicyReview,
    parent: int | None,
    view: str = "form",
    text: str | None = None,
    sop_class: str = attributes.MR_IMAGE,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    console = _console(request)
    return render(
        request,
        "studio_editor.html",
        "studio",
        status,
        document=document,
        review=review,
        parent=parent,
        view=view,
        text=text if text is not None else document.to_yaml(),
        numbered=list(enumerate((text or document.to_yaml()).splitlines(), start=1)),
        options=_options(),
        profiles=_profiles(console),
        words=studio.override_words(),
        infos=[_row_info(o, sop_class) for o in document.overrides],
        creators=attributes.private_creators(console.studio.catalog),
        iods=attributes.iod_choices(),
        sop_class=sop_class,
        edition=EDITION,
        problem=problem,
    )


# ---- the list of versions ------------------------------------------------------------------


@router.get("/studio", Permission.VIEW_POLICIES)
def studio_home(request: Request) -> Response:
    store = _console(request).store
    applied = store.policies.applied()
    versions = store.policies.all()
    return render(
        request,
        "studio.html",
        "studio",
        versions=versions[:500],
        applied=applied,
        studies={v.id: store.policies.studies_of(v.id) for v in versions[:100]},
        edition=EDITION,
        configured=_console(request).config.node.policy,
    )


# ---- the editor ----------------------------------------------------------------------------


@router.get("/studio/edit", Permission.VIEW_POLICIES)
def edit(
    request: Request,
    version: Annotated[int | None, Query(alias="from", ge=1)] = None,
    builtin: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    console = _console(request)
    text, parent = studio.starting_text(console.store, version, builtin)
    document = document_from_yaml(text, studio.DRAFT)
    if parent is None:  # a new policy from a built-in one gets its own name
        document = replace(document, name="my-policy")
    review = studio.review(document.to_yaml(), console.studio.catalog)
    return _editor(request, document, review, parent)


def _parent(first: dict[str, Any]) -> int | None:
    raw = str(first.get("parent", ""))
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _sop_class(first: dict[str, Any]) -> str:
    raw = str(first.get("sop_class", attributes.MR_IMAGE))[:64]
    return raw if raw in dict(attributes.iod_choices()) else attributes.MR_IMAGE


def _edited(first: dict[str, Any], many: dict[str, list[str]]) -> PolicyDocument:
    document = studio.document_from_form(first, many)
    op = str(first.get("op", ""))
    overrides = list(document.overrides)
    if op.startswith("remove-") and op[7:].isdigit():
        index = int(op[7:])
        overrides = [o for i, o in enumerate(overrides) if i != index]
    if op == "add-public":
        overrides.append(OverrideLine("keep", ""))
    elif op == "add-private":
        overrides.append(OverrideLine("keep", private=True))
    return replace(document, overrides=tuple(overrides))


def _edit_post(request: Request, first: dict[str, Any], many: dict[str, list[str]]) -> Response:
    console = _console(request)
    parent, sop_class = _parent(first), _sop_class(first)
    if first.get("op") == "form":  # back from the YAML view: the YAML decides
        text = str(first.get("yaml", ""))[: studio.MAX_TEXT]
        review = studio.review(text, console.studio.catalog)
        if review.document is None:
            document = PolicyDocument("untitled")
            return _editor(request, document, review, parent, "yaml", text, sop_class, 422)
        return _editor(request, review.document, review, parent, "form", None, sop_class)
    document = _edited(first, many)
    review = studio.review(document.to_yaml(), console.studio.catalog)
    view = "yaml" if first.get("op") == "yaml" else "form"
    return _editor(request, document, review, parent, view, None, sop_class)


@router.post("/studio/edit", Permission.VIEW_POLICIES)
async def edit_post(request: Request) -> Response:
    first, many = _fields(await request.form())
    return await run_in_threadpool(_edit_post, request, first, many)


def _check(request: Request, first: dict[str, Any], many: dict[str, list[str]]) -> Response:
    console = _console(request)
    if "yaml" in first and first.get("view") == "yaml":
        text = str(first["yaml"])[: studio.MAX_TEXT]
    else:
        text = studio.document_from_form(first, many).to_yaml()
    review = studio.review(text, console.studio.catalog)
    numbered = list(enumerate(text.splitlines(), start=1))
    return render(request, "partials/studio_check.html", "studio", review=review, numbered=numbered)


@router.post("/studio/check", Permission.VIEW_POLICIES)
async def check(request: Request) -> Response:
    """The check panel, live: errors by line, conflicts naming both rules, notes, coverage."""
    first, many = _fields(await request.form())
    return await run_in_threadpool(_check, request, first, many)


@router.get("/studio/attributes", Permission.VIEW_POLICIES)
def attribute_suggestions(request: Request) -> Response:
    """Options for the attribute datalist, for the value typed in an override's attribute
    field; the row's "about it" cell is refreshed beside them (an out-of-band swap)."""
    typed, row = "", None
    for key, value in request.query_params.items():
        if key.endswith("-attribute") and key[1:-10].isdigit():
            typed, row = value, int(key[1:-10])
        elif key == "q":
            typed = value
    sop_class = _sop_class(dict(request.query_params))
    found = attributes.search(typed[:64], sop_class) if typed.strip() else []
    info = attributes.lookup(typed[:64], sop_class)
    about = info.label() if info is not None else ("unknown attribute" if typed.strip() else "")
    return render(
        request, "partials/attribute_options.html", "studio", found=found, row=row, about=about
    )


def _save(request: Request, first: dict[str, Any], many: dict[str, list[str]]) -> Response:
    console = _console(request)
    if first.get("view") == "yaml":
        text = str(first.get("yaml", ""))[: studio.MAX_TEXT]
    else:
        text = studio.document_from_form(first, many).to_yaml()
    saved = studio.save(
        console.store,
        console.studio.catalog,
        _principal(request).name,
        text,
        str(first.get("comment", ""))[:500],
        _parent(first),
    )
    if saved.version is None:
        document = saved.review.document or PolicyDocument("untitled")
        view = "yaml" if first.get("view") == "yaml" else "form"
        return _editor(
            request,
            document,
            saved.review,
            _parent(first),
            view,
            text,
            _sop_class(first),
            422,
            saved.problem,
        )
    message = (
        f"saved as {saved.version.label}"
        if saved.created
        else f"unchanged: {saved.version.label} has this text already"
    )
    return _back(request, True, message, f"/studio/versions/{saved.version.id}")


@router.post("/studio/save", Permission.EDIT_POLICIES)
async def save(request: Request) -> Response:
    first, many = _fields(await request.form())
    return await run_in_threadpool(_save, request, first, many)


# ---- versions ------------------------------------------------------------------------------


@router.get("/studio/versions/{version_id}", Permission.VIEW_POLICIES)
def version_page(request: Request, version_id: int) -> Response:
    console = _console(request)
    version = console.store.policies.get(version_id)
    if version is None:
        return render(
            request, "error.html", "error", 404, title="Not found", message="no such version"
        )
    view = studio.version_view(console.store, version, console.store.policies.applied())
    review = studio.review(version.text, console.studio.catalog, f"policy {version.label}")
    return render(
        request,
        "studio_version.html",
        "studio",
        view=view,
        review=review,
        numbered=list(enumerate(version.text.splitlines(), start=1)),
    )


@router.get("/studio/versions/{version_id}/export", Permission.VIEW_POLICIES)
def export(request: Request, version_id: int) -> Response:
    version = _console(request).store.policies.get(version_id)
    if version is None:
        return Response("no such version\n", status_code=404, media_type="text/plain")
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in version.name)
    return Response(
        version.text,
        media_type="application/yaml; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-v{version.number}.yaml"'
        },
    )


@router.post("/studio/versions/{version_id}/apply", Permission.EDIT_POLICIES)
def apply_version(request: Request, version_id: int) -> Response:
    console = _console(request)
    ok, message = studio.apply(
        console.store, console.studio.catalog, _principal(request).name, version_id
    )
    return _back(request, ok, message, f"/studio/versions/{version_id}")


@router.post("/studio/versions/{version_id}/duplicate", Permission.EDIT_POLICIES)
def duplicate_version(
    request: Request, version_id: int, name: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    console = _console(request)
    saved = studio.duplicate(
        console.store, console.studio.catalog, _principal(request).name, version_id, name
    )
    if saved.version is None:
        return _back(
            request, False, saved.problem or "not duplicated", f"/studio/versions/{version_id}"
        )
    return _back(
        request,
        True,
        f"duplicated as {saved.version.label}",
        f"/studio/versions/{saved.version.id}",
    )


async def _import_text(request: Request) -> tuple[str, str]:
    """The YAML of an import: an uploaded file (at most 256 KiB) or the pasted text."""
    from veil.console.multipart import MemorySink, read_multipart
    from veil.console.uploads import UploadRefused

    sink = MemorySink(studio.MAX_TEXT, f"a policy file is at most {studio.MAX_TEXT} bytes")
    try:
        fields = await read_multipart(request, lambda _name, _filename: sink)
    except UploadRefused as exc:
        return "", str(exc)
    comment = (fields.get("comment") or [""])[0][:500]
    text = bytes(sink.data).decode("utf-8", "replace") or (fields.get("yaml") or [""])[0]
    return text, comment


@router.post("/studio/import", Permission.EDIT_POLICIES)
async def import_policy(request: Request) -> Response:
    text, comment = await _import_text(request)
    return await run_in_threadpool(_import, request, text, comment)


def _import(request: Request, text: str, comment: str) -> Response:
    console = _console(request)
    if not text.strip():
        return _back(request, False, "import: choose a YAML policy file", "/studio")
    saved = studio.save(
        console.store,
        console.studio.catalog,
        _principal(request).name,
        text,
        comment or "imported",
        None,
        VersionSource.IMPORT,
    )
    if saved.version is None:
        document = saved.review.document or PolicyDocument("untitled")
        return _editor(
            request, document, saved.review, None, "yaml", text, status=422, problem=saved.problem
        )
    return _back(
        request, True, f"imported as {saved.version.label}", f"/studio/versions/{saved.version.id}"
    )


__all__ = ["router"]
