"""The answer key of the MIDI-B-like set: what a de-identifier must do to each planted value.

Actions follow CBIIT's MIDI_validation_script (the MIDI-B challenge's public validator):

- ``text_removed``: the planted text must be gone (every token of it, case-insensitive);
- ``text_retained``: the text must still be there (every token), e.g. the clinical part of a
  description, sex, age, weight, safe private attributes;
- ``tag_retained``: the attribute must be present (type 2: it may be empty);
- ``text_notnull``: the attribute must be present and not empty (type 1);
- ``date_shifted``: the original date must be gone, and a date still present must have moved
  by the same number of days as every other date of that patient (MIDI only asks "gone");
- ``uid_changed``: the original UID must be gone;
- ``uid_consistent``: the UID must be replaced by the same new UID wherever it occurs (the
  new UID of the instance, series or study it names);
- ``patid_consistent``: one new Patient ID per patient, different for each patient;
- ``pixels_retained``: the pixel data are byte for byte those of the input.

Categories, as MIDI-B's report groups them: ``hipaa`` (HIPAA Safe Harbor identifiers: the
patient's names, IDs, dates, contacts, addresses, national IDs, account and device numbers,
and date shifts and UID changes), ``dicom`` (the standard: required attributes, consistent
UIDs and patient IDs), ``tcia`` (best practice: clinical text and characteristics kept,
pixels kept, the site's and physicians' names removed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path


class Action(str, Enum):
    TEXT_REMOVED = "text_removed"
    TEXT_RETAINED = "text_retained"
    TAG_RETAINED = "tag_retained"
    TEXT_NOTNULL = "text_notnull"
    DATE_SHIFTED = "date_shifted"
    UID_CHANGED = "uid_changed"
    UID_CONSISTENT = "uid_consistent"
    PATID_CONSISTENT = "patid_consistent"
    PIXELS_RETAINED = "pixels_retained"


class Category(str, Enum):
    HIPAA = "hipaa"
    DICOM = "dicom"
    TCIA = "tcia"


@dataclass(frozen=True)
class Check:
    """One thing to verify in one output file. ``path`` names the element: keywords and item
    indices ("RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeMeaning"),
    private elements by creator ("(0033,'MIDIB PHI',10)"), "PixelData" for pixels."""

    path: str
    action: Action
    value: str  # the planted text, the original date or UID, or the pixel digest
    what: str  # the class of value, e.g. "patient name", "phone in free text"
    category: Category

    @property
    def action_class(self) -> str:
        return f"{self.action.value}: {self.what}"


@dataclass
class FileKey:
    """Everything the scorer needs about one input file."""

    name: str  # the input's path relative to the set's folder
    patient: str  # P1..P5
    pixel_digest: str  # sha256 of the pixel data bytes: pairs an output with its input
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    checks: list[Check] = field(default_factory=list)


def save(path: Path, files: list[FileKey], meta: dict[str, object]) -> None:
    data = {
        "meta": meta,
        "files": [
            {
                **{k: v for k, v in asdict(f).items() if k != "checks"},
                "checks": [
                    {
                        "path": c.path,
                        "action": c.action.value,
                        "value": c.value,
                        "what": c.what,
                        "category": c.category.value,
                    }
                    for c in f.checks
                ],
            }
            for f in files
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def load(path: Path) -> tuple[list[FileKey], dict[str, object]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    files = []
    for raw in data["files"]:
        checks = [
            Check(c["path"], Action(c["action"]), c["value"], c["what"], Category(c["category"]))
            for c in raw.pop("checks")
        ]
        files.append(FileKey(**raw, checks=checks))
    return files, data["meta"]
