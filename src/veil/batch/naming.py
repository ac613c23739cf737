"""Output names that never carry an identifier: readable hierarchy names, checked mirror paths.

The hierarchy layout (the default) names an output from the de-identified dataset only::

    VEILSJ2QXAWYJMA3/2013-06-06_4f2a9c/5_3D_Ax_T1_MP-RAGE/0018.dcm
    pseudonym       /study           /series             /instance

* the patient's pseudonym;
* the study: its date as written in the output (shifted, kept or absent by the policy) and six
  hex digits of the de-identified Study Instance UID, so that two studies on one day stay apart
  (a per-patient index would need every worker process to agree on an order);
* the series: ``SeriesNumber_SeriesDescription`` when the policy keeps the description, else
  the number; two series that would share a name are kept apart by the placement
  (`veil.batch.placement`), which suffixes the second ``_2``;
* the instance: ``InstanceNumber`` (four digits) ``.dcm``.

Every part goes through `safe_part` (letters, digits, ``.-_``; no leading dot; bounded
length): a value from a received file never reaches the file system unsanitised.

The mirror layout keeps the input's own names, which often carry the patient
(``MRN12345_SMITH/SMITH_JOHN_001.dcm``). `mirror_path` searches a path for every identifying
value of its file in every form the audit searches for (`veil.audit.forms`), and replaces each
folder or file name that holds one by a keyed token (the same name gives the same token, so a
folder stays one folder). Hierarchy names get the same check (`checked_hierarchy`).

On the fast path neither file is read again: the name's values come from the output's raw
bytes (`veil.batch.fast_names`, the same name as `hierarchy_name` of `name_dataset`), and a
path with no form of the fast path's identifiers of its input in it is clear
(`clear_of_identifiers`); only a path holding one takes the full check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath

import pydicom
from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.audit.findings import Severity
from veil.audit.forms import Needle, needles_for, search_forms
from veil.audit.identifiers import collect, dedupe
from veil.audit.text_search import Haystack, TextElement
from veil.dicom import tag_of
from veil.engine.fast import FastOutput
from veil.engine.fast import audit as fast_audit
from veil.engine.fast.parse import Element, parse_head
from veil.mapping import Mapper
from veil.standard import Option

MAX_PART = 64  # characters of one folder or file name
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
_SUFFIXES = (".gz",)  # gzip inputs are written as plain DICOM


def safe_part(value: object, fallback: str = "_") -> str:
    """One path part from any text: unsafe characters become ``_``, runs of them one ``_``,
    no leading dot (no hidden file, no ``..``), at most `MAX_PART` characters."""
    text = str(value).strip().replace("\x00", "")
    out: list[str] = []
    for char in text:
        char = char if char in _SAFE else "_"
        if char == "_" and out and out[-1] == "_":
            continue
        out.append(char)
    part = "".join(out)
    while part != (trimmed := part.strip("_").lstrip(".")):  # "_.0": neither may lead
        part = trimmed
    part = part[:MAX_PART].rstrip(".")
    return part or fallback


def digest6(uid: str) -> str:
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:6]


def _number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def study_part(ds: Dataset) -> str:
    """The study folder: the output's study date (if any) and a short digest of its UID."""
    uid = str(ds.get("StudyInstanceUID", "") or "")
    digits = "".join(c for c in str(ds.get("StudyDate", "") or "") if c.isdigit())
    suffix = digest6(uid) if uid else "nouid"
    if len(digits) == 8:
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}_{suffix}"
    return f"study_{suffix}"


def series_part(ds: Dataset) -> str:
    """The series folder: ``SeriesNumber_SeriesDescription`` (the description if kept)."""
    number = _number(ds.get("SeriesNumber", ""))
    description = str(ds.get("SeriesDescription", "") or "").strip()
    head = str(number) if number is not None else "series"
    if description:
        return safe_part(f"{head}_{description}", head)
    return head


def instance_stem(ds: Dataset) -> str:
    """The file name without ``.dcm``: the instance number in four digits."""
    number = _number(ds.get("InstanceNumber", ""))
    return f"{number:04d}" if number is not None and number >= 0 else "instance"


# What the study and series folders read of an output, and the character set its text is
# decoded by (in this order: veil.batch.fast_names keys its memo on their values so).
FOLDER_TAGS = tuple(
    tag_of(keyword)
    for keyword in (
        "SpecificCharacterSet",
        "StudyDate",
        "SeriesDescription",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SeriesNumber",
    )
)
# What a hierarchy name reads: the folders' elements and the instance number.
NAME_TAGS = frozenset((*FOLDER_TAGS, tag_of("InstanceNumber")))
_LAST_NAME_TAG = max(NAME_TAGS)


def name_dataset(encoded: bytes) -> Dataset:
    """The elements of an output file that `hierarchy_name` reads, as the raw elements
    ``dcmread`` makes (decoded the same way when read), from a parse of the file's head only:
    a full read of the output cost several times the fast path's own work per file.
    ``veil.engine.fast.parse.Unsupported`` when the fast parse does not take the file."""
    return raw_dataset(encoded, name_elements(encoded))


def name_elements(encoded: bytes) -> list[Element]:
    """The top-level elements of an output that a hierarchy name reads, from a parse of its
    head only (``Unsupported`` when the fast parse does not take the file)."""
    return [e for e in parse_head(encoded, _LAST_NAME_TAG) if e.tag in NAME_TAGS]


def raw_dataset(encoded: bytes, elements: Iterable[Element]) -> Dataset:
    """A dataset of ``elements`` of ``encoded`` (explicit VR little endian, in tag order) as
    the raw elements ``dcmread`` makes."""
    ds = Dataset()
    for elem in elements:
        tag = Tag(elem.tag)
        value = encoded[elem.value_start : elem.value_end]
        ds._dict[tag] = RawDataElement(
            tag, elem.vr, len(value), value, elem.value_start, False, True
        )
    return ds


@dataclass(frozen=True)
class HierarchyName:
    """Where a de-identified instance goes: a series folder, a file stem, and its series UID
    (the placement keeps two series apart when their folder names are the same)."""

    series_folder: str  # pseudonym/study/series, relative to the output folder
    stem: str
    series_uid: str


def hierarchy_name(ds: Dataset, patient_pseudonym: str) -> HierarchyName:
    folder = "/".join(
        [safe_part(patient_pseudonym, "patient"), safe_part(study_part(ds)), series_part(ds)]
    )
    return HierarchyName(folder, instance_stem(ds), str(ds.get("SeriesInstanceUID", "") or ""))


@dataclass(frozen=True)
class MirrorPath:
    """A mirror-layout output path, and what was renamed in it (kinds only, never a value)."""

    path: str
    renamed: tuple[str, ...] = ()  # the identifier kinds found, e.g. ("patient-id", "name")


def strip_suffixes(relative: str) -> str:
    path = PurePosixPath(relative)
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return str(path.with_name(name or "instance.dcm"))


def _lowered(text: str) -> str:
    """``text`` lowered as `Haystack` lowers it (offsets kept)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    return lowered


def _fast_codec(fast: FastOutput) -> str | None:
    """The codec the fast path's collector decodes the input by (None: not one it takes)."""
    charset = next((e for e in fast.parsed.elements if e.tag == _CHARSET), None)
    term = "" if charset is None else fast.parsed.value(charset).decode("latin-1").strip(" \0")
    if term not in ("", "ISO_IR 6", "ISO_IR 100"):
        return None
    codecs = tuple(convert_encodings([term]))
    return codecs[0] if len(codecs) == 1 and fast_audit.text_codec_ok(codecs) else None


_CHARSET = tag_of("SpecificCharacterSet")


def clear_of_identifiers(
    relative: str, fast: FastOutput, data: bytes, options: frozenset[Option] = frozenset()
) -> bool:
    """True when no part of ``relative`` can hold an identifying value of the fast path's
    input ``data`` (`identifying_parts` would find none), without reading the input again.

    The fast path's collector gives every error-level identifier the reference collector
    gives (and more: it makes no excuses, veil.engine.fast.audit), its forms are the same
    (`search_forms`), and the audit's search finds a form only where its text is a substring
    of the lowered text: no form in the path, no finding. False (the full check decides)
    whenever a form is there or anything differs from what this reasoning assumes."""
    if fast.parsed.data is not data:
        return False  # another input than the fast path's
    found = fast.found
    if found is None:  # the audit did not run: collect as it would have
        codec = _fast_codec(fast)
        if codec is None:
            return False
        try:
            found = fast_audit.collect(fast.parsed, options, codec)
        except Exception:  # e.g. a public UN: the full check decides
            return False
    lowered = _lowered(relative)
    # The file's distinct form texts: a study's dates and names repeat in several elements.
    for text in set().union(*[form_texts(idents) for idents in found.values()]):
        if text in lowered:
            return False
    return True


def form_texts(idents: list[fast_audit.Found]) -> tuple[str, ...]:
    """The distinct texts of every search form of ``idents``, kept on the list itself when it
    is the audit's memoised ``Identifiers`` (its lists serve every file of a study). Measured:
    `clear_of_identifiers` went from ~17 to ~9 us a file (benchmark corpus, in-process); it
    hashed every Found record of the file and asked ``search_forms`` for each, per file."""
    texts: tuple[str, ...] | None = getattr(idents, "form_texts", None)
    if texts is None:
        texts = tuple(
            dict.fromkeys(
                form.text
                for ident in idents
                for form in search_forms(ident.kind, ident.vr, ident.value)
            )
        )
        if isinstance(idents, fast_audit.Identifiers):
            idents.form_texts = texts
    return texts


def _original_header(data: bytes) -> Dataset | None:
    try:
        return pydicom.dcmread(BytesIO(data), stop_before_pixels=True, force=True)
    except Exception:  # the pipeline read it already; an odd header just finds nothing here
        return None


def _holds(text: str, needles: list[Needle]) -> set[str]:
    """The kinds of identifier whose forms occur in ``text`` (the audit's search and edges)."""
    haystack = Haystack([TextElement("output path", 0, "LO", text)])
    return {
        needle.ident.kind.value
        for needle in needles
        if next(haystack.find(needle, uid_elements=True), None) is not None
    }


_EXTENSIONS = (".gz", ".dcm", ".dicom", ".dic", ".ima", ".img")


def _without_extensions(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for extension in _EXTENSIONS:
            if name.lower().endswith(extension) and len(name) > len(extension):
                name, changed = name[: -len(extension)], True
    return name


def identifying_parts(
    relative: str, original: Dataset, options: frozenset[Option] = frozenset()
) -> dict[int, set[str]]:
    """Each part of ``relative`` that holds an identifying value of ``original`` -> its kinds.

    The search is the audit's own: its identifiers (`collect`), their forms (`needles_for`)
    and its edge rules (`Haystack`). A value split across parts ("2014/03/10") marks them all.
    """
    # Errors only, as the audit quarantines: a series description in a folder name
    # ("5_anat-T1w") is a descriptor (a warning), not an identifier.
    identifiers = [i for i in dedupe(collect(original, options)) if i.severity is Severity.ERROR]
    needles = [n for ident in identifiers for n in needles_for(ident)]
    if not needles:
        return {}
    parts = relative.split("/")
    # Searched without the file's extension: a UID's edge refuses a following dot, and
    # "<SOP Instance UID>.dcm" is the commonest identifying file name of all.
    searched = [*parts[:-1], _without_extensions(parts[-1])]
    whole = _holds("/".join(searched), needles)
    if not whole:
        return {}
    found = {
        index: kinds for index, part in enumerate(searched) if (kinds := _holds(part, needles))
    }
    if not found:  # a form that spans folders: every part is suspect
        found = {index: whole for index in range(len(parts))}
    return found


def _renamed(part: str, last: bool, mapper: Mapper) -> str:
    token = "path-" + mapper.token("output-path", part, 12).lower()
    return token + ".dcm" if last else token


def mirror_path(
    relative: str,
    data: bytes,
    mapper: Mapper,
    options: frozenset[Option] = frozenset(),
    fast: FastOutput | None = None,
) -> MirrorPath:
    """The mirror output path of an input, with every identifying part renamed. With the
    fast path's ``fast`` output of ``data``, a path clear of its identifiers is known so
    without reading the input again (`clear_of_identifiers`)."""
    path = strip_suffixes(relative)
    if fast is not None and clear_of_identifiers(path, fast, data, options):
        return MirrorPath(path)
    original = _original_header(data)
    if original is None:
        return MirrorPath(path)
    found = identifying_parts(path, original, options)
    if not found:
        return MirrorPath(path)
    parts = path.split("/")
    renamed = [
        _renamed(part, index == len(parts) - 1, mapper) if index in found else part
        for index, part in enumerate(parts)
    ]
    kinds = sorted(set().union(*found.values()))
    return MirrorPath("/".join(renamed), tuple(kinds))


def checked_hierarchy(
    name: HierarchyName,
    data: bytes,
    mapper: Mapper,
    options: frozenset[Option] = frozenset(),
    fast: FastOutput | None = None,
) -> HierarchyName:
    """``name`` with any part that happens to hold an identifying value of the input renamed
    to a keyed token, as in the mirror layout. Hierarchy names come from de-identified data,
    yet a value can coincide: an instance file ``0009.dcm`` where the input's Performed
    Location is ``0009`` is what the audit of file names (`veil.audit.paths`) reports.
    ``fast``: as in `mirror_path`."""
    relative = f"{name.series_folder}/{name.stem}.dcm"
    if fast is not None and clear_of_identifiers(relative, fast, data, options):
        return name
    original = _original_header(data)
    if original is None:
        return name
    found = identifying_parts(relative, original, options)
    if not found:
        return name
    parts = name.series_folder.split("/")
    folder = "/".join(
        _renamed(part, False, mapper) if index in found else part
        for index, part in enumerate(parts)
    )
    stem = _renamed(name.stem, False, mapper) if len(parts) in found else name.stem
    return HierarchyName(folder, stem, name.series_uid)
