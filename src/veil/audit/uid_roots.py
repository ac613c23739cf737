"""UID roots registered to equipment makers and hospital systems.

An instance UID (study, series, SOP instance, frame of reference...) under one of these roots
was made by the scanner or the site's systems: in a de-identified file it is the original UID,
which links the file back to the source PACS. Toolkit roots that anonymizers generate UIDs
under (2.25 UUIDs, pydicom's 1.2.826.0.1.3680043.8.498, DCMTK's 1.2.276.0.7230010.3, dcm4che's
1.2.40.0.13.1, TCIA's 1.3.6.1.4.1.14519) are deliberately not listed.

Sources: the makers' DICOM conformance statements (implementation class UID roots), checked
against the roots the shared corpus carries next to each Manufacturer (SOURCES.md there).
A root is matched as a whole arc prefix: "1.2.840.1136190" is not under "1.2.840.113619".
"""

from __future__ import annotations

KNOWN_ROOTS: dict[str, str] = {
    "1.2.840.113619": "GE Healthcare",
    "1.3.12.2.1107.5": "Siemens Healthineers",
    "1.3.46.670589": "Philips",
    "1.2.840.113704": "Philips (Picker/Marconi CT)",
    "1.2.392.200036.9116": "Canon (Toshiba) Medical Systems",
    "1.2.392.200036.9125": "FUJIFILM",
    "1.2.840.113564": "Agfa",
    "1.3.51.0.7": "Agfa-Gevaert",
    "1.2.156.112605": "United Imaging Healthcare",
    "1.2.840.114340": "SonoSite",
    "1.2.392.200039": "Hitachi Aloka",
    "1.3.76.13": "Mortara Instrument",
    "1.2.840.114350": "Epic Systems (a hospital's EHR)",
}


def original_root(uid: str) -> str | None:
    """The organisation whose registered root ``uid`` lies under, or None."""
    arcs = uid.strip().split(".")
    for length in range(len(arcs) - 1, 2, -1):
        owner = KNOWN_ROOTS.get(".".join(arcs[:length]))
        if owner is not None:
            return owner
    return None
