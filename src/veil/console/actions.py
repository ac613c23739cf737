"""What the console's buttons and the API's POSTs do: one function each, audited here.

Pages and API call the same function, so a page and its API twin cannot differ in what they
change or in what the audit log records. Every function writes exactly one audit-log entry,
refused attempts included.
"""

from __future__ import annotations

from dataclasses import dataclass

from veil.console import auditlog, nodeview
from veil.console.auditlog import Action, Outcome
from veil.console.reveal import Revealed, check_request, lookup
from veil.node import controls
from veil.node.config import NodeConfig
from veil.node.senders.probe import ProbeResult, probe
from veil.node.spool import Spool
from veil.node.store import Store
from veil.node.store.states import HELD


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    status: int = 200  # HTTP status for the API twin (409: wrong state, 404: unknown)


def _done(
    store: Store, actor: str, action: Action, target: str, ok: bool, message: str, status: int
) -> ActionResult:
    auditlog.append(store, actor, action, target, Outcome.OK if ok else Outcome.REFUSED, message)
    return ActionResult(ok, message, 200 if ok else status)


def retry_study(store: Store, actor: str, key: str) -> ActionResult:
    study = nodeview.study_by_key(store, key)
    if study is None:
        return _done(store, actor, Action.RETRY, key[:64], False, "no such study", 404)
    if not store.studies.retry(study.id):
        return _done(
            store,
            actor,
            Action.RETRY,
            key,
            False,
            f"study is {study.state.value}; only failed, quarantined or not-eligible studies "
            "are retried",
            409,
        )
    return _done(store, actor, Action.RETRY, key, True, "study queued to be processed again", 200)


def process_now(store: Store, actor: str, key: str) -> ActionResult:
    study = nodeview.study_by_key(store, key)
    if study is None:
        return _done(store, actor, Action.PROCESS_NOW, key[:64], False, "no such study", 404)
    if not controls.process_now(store, study.id):
        return _done(
            store,
            actor,
            Action.PROCESS_NOW,
            key,
            False,
            f"study is {study.state.value}; only a study still receiving can skip its wait",
            409,
        )
    return _done(
        store, actor, Action.PROCESS_NOW, key, True, "study will be processed at once", 200
    )


def pause_destination(
    store: Store, config: NodeConfig, actor: str, name: str, paused: bool
) -> ActionResult:
    action = Action.PAUSE if paused else Action.RESUME
    if name not in {d.name for d in config.destinations}:
        return _done(store, actor, action, name[:64], False, "no such destination", 404)
    controls.pause(store, name, paused, actor)
    word = "paused" if paused else "resumed"
    return _done(store, actor, action, name, True, f"destination {word}", 200)


def test_destination(
    store: Store, config: NodeConfig, actor: str, name: str
) -> tuple[ActionResult, ProbeResult | None]:
    candidates = {d.name: d for d in config.destinations}
    if config.return_path is not None:
        candidates.setdefault(config.return_path.home.name, config.return_path.home)
    destination = candidates.get(name)
    if destination is None:
        return _done(
            store, actor, Action.TEST_DESTINATION, name[:64], False, "no such destination", 404
        ), None
    result = probe(destination)
    controls.record_test(store, name, result.ok, result.detail, actor)
    auditlog.append(
        store,
        actor,
        Action.TEST_DESTINATION,
        name,
        Outcome.OK if result.ok else Outcome.FAILED,
        result.detail,
    )
    return ActionResult(result.ok, result.detail, 200), result


def purge_study(store: Store, spool: Spool, actor: str, key: str, confirm: str) -> ActionResult:
    study = nodeview.study_by_key(store, key)
    if study is None:
        return _done(store, actor, Action.PURGE, key[:64], False, "no such study", 404)
    if confirm != key:
        return _done(
            store,
            actor,
            Action.PURGE,
            key,
            False,
            "to purge, confirm by typing the study key",
            400,
        )
    if study.state not in HELD:
        return _done(
            store,
            actor,
            Action.PURGE,
            key,
            False,
            f"study is {study.state.value}; only quarantined, failed or not-eligible studies "
            "are purged",
            409,
        )
    if not controls.purge_study(store, spool, study.id):
        return _done(store, actor, Action.PURGE, key, False, "study changed meanwhile", 409)
    return _done(store, actor, Action.PURGE, key, True, "study and its spool files deleted", 200)


def retry_return(store: Store, actor: str, return_id: int) -> ActionResult:
    target = f"return {return_id}"
    if not controls.retry_return(store, return_id):
        return _done(
            store,
            actor,
            Action.RETRY,
            target,
            False,
            "no quarantined or failed result with that number",
            409,
        )
    return _done(store, actor, Action.RETRY, target, True, "result queued again", 200)


def purge_return(
    store: Store, spool: Spool, actor: str, return_id: int, confirm: str
) -> ActionResult:
    target = f"return {return_id}"
    if confirm != str(return_id):
        return _done(
            store, actor, Action.PURGE, target, False, "to purge, confirm the result number", 400
        )
    if not controls.purge_return(store, spool, return_id):
        return _done(
            store,
            actor,
            Action.PURGE,
            target,
            False,
            "no quarantined or failed result with that number",
            409,
        )
    return _done(store, actor, Action.PURGE, target, True, "result deleted", 200)


def reveal(
    store: Store, actor: str, pseudonym: str, reason: str
) -> tuple[ActionResult, Revealed | None]:
    """Look up originals; the audit entry (who, which pseudonym, why) is written first."""
    pseudonym, reason = check_request(pseudonym, reason)
    entry = auditlog.append(store, actor, Action.REVEAL, pseudonym, Outcome.OK, reason)
    found = lookup(store.linkage, pseudonym)
    if found is None:
        auditlog.append(
            store,
            actor,
            Action.REVEAL,
            pseudonym,
            Outcome.FAILED,
            f"no linkage for this pseudonym (request {entry.seq})",
        )
        return ActionResult(False, "this node has no linkage for that pseudonym", 404), None
    return ActionResult(True, "revealed", 200), found
