"""Has this file been de-identified before? Then a missing attribute was probably removed by
that de-identification, and the fix is to de-identify the original again, keeping it, rather
than to change anything at the scanner."""

from __future__ import annotations

from collections.abc import Callable

from pydicom.dataset import Dataset

from veil.check.access import private_creators


def deidentified_before(
    ds: Dataset, creators: set[str] | Callable[[], set[str]] | None = None
) -> str:
    """Why `ds` looks de-identified already (the marker that says so), or "" when it does not.
    ``creators``: its private creators (at any level), or what finds them when asked."""
    if str(ds.get("PatientIdentityRemoved", "") or "").strip().upper() == "YES":
        return "Patient Identity Removed is YES"
    if ds.get("DeidentificationMethod", None) or ds.get("DeidentificationMethodCodeSequence", None):
        return "it records a de-identification method"
    # Some anonymizers rename the private creators they keep (nibabel's test data: "Anon").
    if creators is None:
        found = private_creators(ds)
    else:
        found = creators() if callable(creators) else creators
    if any(creator.lower().startswith("anon") for creator in found):
        return "its private blocks were renamed by an anonymizer"
    return ""
