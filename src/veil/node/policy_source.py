"""Which policy the node de-identifies with, study by study.

The configuration's ``deidentify.policy`` until a version is applied from the console's
Privacy studio; from then on the applied version (its text as saved in the database, its
requirements resolved by name through the site's profile catalog), with the configuration's
``profiles`` merged in either way. The node asks before every study (one small query), so an
"apply" takes effect at the next study, with no restart. The configuration's policy is itself
recorded as a version at start, so every study can name the version that processed it.

Fail closed: an applied version that no longer compiles (a site profile it names was removed
from the configuration) is not replaced by anything else: the study is held with the reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from veil.check.catalog import ProfileCatalog
from veil.check.model import RequirementProfile
from veil.errors import VeilError
from veil.mapping import Mapper
from veil.node.config import NodeConfig
from veil.node.store import Store
from veil.node.store.policies import VersionSource
from veil.pipeline import CompiledPolicy, Settings, compile_policy, compile_policy_text
from veil.policy.loader import BUILTIN_NAMES, builtin_policy_text, parse_policy

log = logging.getLogger("veil.node")


class PolicyUnavailable(VeilError):
    """The applied policy version cannot be compiled; the message names it and the fix."""


@dataclass(frozen=True)
class ActivePolicy:
    """What one study is de-identified with."""

    settings: Settings
    profiles: tuple[RequirementProfile, ...]
    version_id: int
    label: str  # "my-study v3"


def site_catalog(config: NodeConfig) -> ProfileCatalog:
    """The built-in profiles and the site's own (``site_profiles``, and the profile files
    named in ``profiles``)."""
    files = [str(p) for p in config.site_profiles]
    files += [p for p in config.profiles if p.endswith((".yaml", ".yml"))]
    return ProfileCatalog.build(list(dict.fromkeys(files)))


def configured_text(policy: str) -> str:
    """The text of the configuration's policy (a built-in name or a file)."""
    if policy in BUILTIN_NAMES:
        return builtin_policy_text(policy)
    return Path(policy).read_text(encoding="utf-8")


class PolicySource:
    def __init__(
        self,
        store: Store,
        config: NodeConfig,
        mapper: Mapper,
        catalog: ProfileCatalog | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.mapper = mapper
        self.catalog = catalog or site_catalog(config)
        compiled = compile_policy(config.policy, config.profiles)
        text = configured_text(config.policy)
        name = parse_policy(text, config.policy).name
        version, _ = store.policies.save(
            name, text, "node", VersionSource.CONFIGURATION, "deidentify.policy", reuse=True
        )
        self.configured = self._active(compiled, version.id, version.label)
        self._cache: dict[int, ActivePolicy] = {version.id: self.configured}
        self._lock = threading.Lock()

    def _active(self, compiled: CompiledPolicy, version_id: int, label: str) -> ActivePolicy:
        settings = Settings(compiled.plan, self.mapper, audit=True)  # never sends unaudited
        return ActivePolicy(settings, compiled.profiles, version_id, label)

    def current(self) -> ActivePolicy:
        """The policy for the next study: the applied version, else the configuration's."""
        applied = self.store.policies.applied_id()
        if applied is None:
            return self.configured
        with self._lock:
            cached = self._cache.get(applied)
            if cached is not None:
                return cached
            version = self.store.policies.get(applied)
            if version is None:
                raise PolicyUnavailable(f"the applied policy version {applied} is missing")
            try:
                compiled = compile_policy_text(
                    version.text, f"policy {version.label}", self.catalog, self.config.profiles
                )
            except VeilError as exc:
                raise PolicyUnavailable(
                    f"the applied policy {version.label} cannot be used ({exc}); apply another "
                    "version in the console, then retry"
                ) from None
            active = self._active(compiled, version.id, version.label)
            self._cache[applied] = active
            log.info("policy: using %s (applied from the console)", version.label)
            return active


__all__ = ["ActivePolicy", "PolicySource", "PolicyUnavailable", "configured_text", "site_catalog"]
