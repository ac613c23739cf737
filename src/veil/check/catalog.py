"""The destination profiles a site offers, by name: the built-in ones and the site's own files.

A policy written in a file may name a profile by path (`requirements: [site/mri.yaml]`); a
policy that arrives over the network (the console's Privacy studio, its import) may not: a
path from a browser would let it read any YAML file on the server. Such policies name
profiles, and the catalog is the one place that turns a name into a profile: the built-in
profiles and the files the site configured (`deidentify.site_profiles` and the profile files
of `deidentify.profiles`), each known by its own `name:`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from veil.check.model import RequirementProfile
from veil.check.profile import builtin_names, load_profile
from veil.errors import ProfileError


@dataclass(frozen=True)
class ProfileCatalog:
    """Profiles by name; loaded once, when the catalog is built."""

    profiles: dict[str, RequirementProfile] = field(default_factory=dict)
    site: frozenset[str] = frozenset()  # names of the site's own profiles

    @classmethod
    def build(cls, site_files: Iterable[str | Path] = ()) -> ProfileCatalog:
        """The built-in profiles and the site's profile files (a site profile may not take a
        built-in profile's name: a policy naming it would be ambiguous)."""
        profiles = {name: load_profile(name) for name in builtin_names()}
        site: set[str] = set()
        for entry in site_files:
            profile = load_profile(entry)
            if profile.name in profiles:
                raise ProfileError(
                    f"{entry}: profile name '{profile.name}' is taken by "
                    f"{profiles[profile.name].source}; give the site's profile another name:"
                )
            profiles[profile.name] = profile
            site.add(profile.name)
        return cls(profiles, frozenset(site))

    def names(self) -> tuple[str, ...]:
        """Built-in names first, then the site's, each group sorted."""
        builtin = sorted(n for n in self.profiles if n not in self.site)
        return (*builtin, *sorted(self.site))

    def get(self, name: str) -> RequirementProfile:
        """The profile called ``name``; a path or an unknown name is refused."""
        profile = self.profiles.get(name.strip())
        if profile is None:
            raise ProfileError(
                f"unknown profile '{name[:80]}'; this site offers: {', '.join(self.names())} "
                "(a policy edited in the console names profiles, never files)"
            )
        return profile

    def is_site(self, name: str) -> bool:
        return name in self.site


__all__ = ["ProfileCatalog"]
