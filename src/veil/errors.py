"""One exception base for veil; each subclass says what failed and how to fix it.

Messages never carry an identifying value: they name files, tags, rules and
pseudonyms only. Edges (CLI, node, web) map these to exit codes or statuses once.
"""

from __future__ import annotations


class VeilError(Exception):
    """Base class of every error veil raises on purpose."""


class PolicyError(VeilError):
    """A policy file or name is invalid; the message names the line and the problem."""


class RequirementConflictError(PolicyError):
    """A privacy rule and a destination requirement cannot both be satisfied."""


class ProfileError(VeilError):
    """A destination requirement profile is invalid or unknown."""


class KeyFileError(VeilError):
    """The secret key cannot be found, read or created safely."""


class LookupTableError(VeilError):
    """A user-given lookup table (CSV) is malformed."""


class InputFileError(VeilError):
    """An input file cannot be read as DICOM; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class DeidentificationError(VeilError):
    """The engine could not de-identify a dataset safely (fail closed: nothing is written)."""


class UnsafeOutputError(VeilError):
    """The output location would overwrite or sit inside the input."""


class StorageError(VeilError):
    """A storage URL, option or backend is unusable (names the URL or option, never a value)."""


class WorkerKeyError(VeilError):
    """A cluster worker has no key, or another key than the driver (it refuses to work)."""


class ResumeError(VeilError):
    """The output holds results of another run (other key, policy or veil version)."""


class ClusterError(VeilError):
    """The Dask cluster cannot be reached or started, or was lost during the run."""


def value_free_text(exc: BaseException, limit: int = 100) -> str:
    """The first line of an exception's message cut before anything that may quote a value.

    pydicom quotes the offending value in quotes or after a colon ("Invalid value for VR PN:
    'DOE^JOHN'"); what comes before names the kind of problem, which is what we report.
    """
    text = str(exc).splitlines()[0] if str(exc) else ""
    for marker in ("'", '"', ": "):
        text = text.split(marker)[0]
    return text.strip()[:limit]
