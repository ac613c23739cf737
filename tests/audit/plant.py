"""A generator that plants a (made-up) patient's identifiers in many places of a real file.

``plant(path, variant)`` returns the planted file's bytes and where each copy was put, with
the element path the audit must report for it. Places: the identifying attributes themselves,
sequences three levels deep (in a sequence the profile removes and in one it keeps), private
elements of several creators (text, person name, binary blob), free text, other person-name
attributes, multi-valued elements, an overlay group (description, label, data) and a curve
group, elements after the pixel data (a private block and trailing padding), the preamble,
and the pixel data itself. The text is in ISO_IR 100 or ISO_IR 192 as the variant says.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.audit.identifiers import profile_row


@dataclass(frozen=True)
class Identity:
    """A made-up patient; none of these values occurs in the corpus."""

    family: str
    given: str
    patient_id: str
    birth: str  # YYYYMMDD
    accession: str
    institution: str
    physician_family: str
    physician_given: str
    charset: str  # several values separated by a backslash, as in the file
    ideographic: str = ""  # the ideographic group of the name, if any

    @property
    def name(self) -> str:
        group = f"={self.ideographic}" if self.ideographic else ""
        return f"{self.family}^{self.given}{group}"

    @property
    def physician(self) -> str:
        return f"{self.physician_family}^{self.physician_given}"

    def secrets(self) -> list[str]:
        """Strings that must never appear in anything veil prints or writes as a report."""
        b = self.birth
        return [
            self.family,
            self.given,
            self.patient_id,
            self.patient_id.lstrip("0"),
            b,
            f"{b[6:]}/{b[4:6]}/{b[:4]}",
            f"{b[:4]}-{b[4:6]}-{b[6:]}",
            self.accession,
            self.accession.replace("-", ""),
            self.institution,
            self.physician_family,
            self.physician_given,
        ]


IDENTITIES = {
    "ascii": Identity(
        "Vandermeulen",
        "Marguerite",
        "0047110815",
        "19610423",
        "ACC-88231977",
        "Clinique Beaulieu Varennes",
        "Okonkwo",
        "Chidubem",
        "ISO_IR 100",
    ),
    "latin1": Identity(
        "Brännström",
        "Åsa",
        "0093307781",
        "19580709",
        "ACC-55120943",
        "Hôpital Sainte-Clothilde",
        "Ødegård",
        "Torbjørn",
        "ISO_IR 100",
    ),
    "utf8": Identity(
        "Kjærgaardsen",
        "Søren",
        "0071204466",
        "19730212",
        "ACC-60177205",
        "Klinik Ærøskøbing Nord",
        "Wiśniewski",
        "Zdzisław",
        "ISO_IR 192",
    ),
    # Japanese in ISO 2022: the alphabetic group in ASCII, the ideographic group in JIS X 0208.
    "iso2022": Identity(
        "Hasegawa",
        "Tomokazu",
        "0058812390",
        "19690817",
        "ACC-73310462",
        "Kitasato Imaging Clinic",
        "Morimoto",
        "Sayuri",
        "ISO 2022 IR 6\\ISO 2022 IR 87",
        "長谷川^智和",
    ),
}


@dataclass(frozen=True)
class Plant:
    """One planted copy: the path the audit must report (a prefix for raw-byte hits)."""

    path: str
    note: str
    raw: bool = False  # reported as "<element> bytes@offset"
    removable: bool = True  # a place the basic profile governs (not pixel data)


@dataclass
class Planted:
    data: bytes
    identity: Identity
    plants: list[Plant] = field(default_factory=list)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def _ascii_blob(text: str) -> bytes:
    return b"\x00\x07\xff" + text.encode("utf-8") + b"\x00\xfe\x01"


def plant(
    path: Path, variant: str = "ascii", *, pixels: bool = True, preamble: bool = True
) -> Planted:
    """Plant ``IDENTITIES[variant]`` in a copy of the file at ``path`` (never modified)."""
    who = IDENTITIES[variant]
    ds = dcmread(path, force=True)
    result = Planted(b"", who)
    add = result.plants.append
    b = who.birth
    ds.SpecificCharacterSet = who.charset.split("\\") if "\\" in who.charset else who.charset

    # The identifying attributes themselves.
    ds.PatientName = who.name
    ds.PatientID = who.patient_id
    ds.PatientBirthDate = who.birth
    ds.AccessionNumber = who.accession
    ds.InstitutionName = who.institution
    ds.ReferringPhysicianName = who.physician
    for tag in (0x00100010, 0x00100020, 0x00100030, 0x00080050, 0x00080080, 0x00080090):
        add(Plant(_tag(tag), "the attribute itself"))

    # Three levels deep in a sequence the profile removes.
    level3 = _item(
        PersonName=who.physician,
        TextValue=f"{who.given} {who.family}, born {b[6:]}/{b[4:6]}/{b[:4]}",
    )
    ds.RequestAttributesSequence = Sequence(
        [_item(ReferencedStudySequence=Sequence([_item(ContentSequence=Sequence([level3]))]))]
    )
    deep = "(0040,0275)[0].(0008,1110)[0].(0040,A730)[0]."
    add(Plant(deep + "(0040,A123)", "PN three levels deep, removed sequence"))
    add(Plant(deep + "(0040,A160)", "free text three levels deep, removed sequence"))

    # Three levels deep in sequences the profile does not list (kept and walked into).
    kept_chain = (0x00409096, 0x004008EA, 0x00081199)
    assert all(profile_row(t) is None for t in kept_chain), "pick sequences E.1-1 does not list"
    inner = _item(PersonName=who.name, RequestedProcedureDescription=f"{who.family.upper()} MR")
    ds.add_new(0x00409096, "SQ", Sequence([_item()]))
    ds[0x00409096].value[0].add_new(0x004008EA, "SQ", Sequence([_item()]))
    ds[0x00409096].value[0][0x004008EA].value[0].add_new(0x00081199, "SQ", Sequence([inner]))
    kept = "(0040,9096)[0].(0040,08EA)[0].(0008,1199)[0]."
    add(Plant(kept + "(0040,A123)", "PN three levels deep, kept sequences"))
    add(Plant(kept + "(0032,1060)", "family name in text three levels deep, kept sequences"))

    # Private elements of several creators: text, a person name, a binary blob.
    block_a = ds.private_block(0x0011, "VEIL TEST PLANT A", create=True)
    block_a.add_new(0x10, "LO", who.patient_id.lstrip("0"))
    block_a.add_new(0x11, "OB", _ascii_blob(who.name.upper()))
    add(Plant(_tag(block_a.get_tag(0x10)), "ID without leading zeros, private LO"))
    add(Plant(_tag(block_a.get_tag(0x11)), "name in a private binary blob", raw=True))
    block_b = ds.private_block(0x0013, "VEIL TEST PLANT B", create=True)
    block_b.add_new(0x10, "LT", f"Ref: Dr. {who.physician_given} {who.physician_family}")
    block_b.add_new(0x12, "PN", who.name)
    add(Plant(_tag(block_b.get_tag(0x10)), "physician in private free text"))
    add(Plant(_tag(block_b.get_tag(0x12)), "private person name"))

    # Free text.
    ds.ImageComments = f"{who.family.upper()} {who.given} DOB {b[:4]}-{b[4:6]}-{b[6:]}"
    ds.PatientComments = f"accession {who.accession.replace('-', '')}"
    ds.StudyDescription = f"MR brain for {who.family}"
    for tag in (0x00204000, 0x00104000, 0x00081030):
        add(Plant(_tag(tag), "free text"))

    if who.ideographic:  # the ideographic name alone, written without its caret
        ds.StudyComments = "患者 " + who.ideographic.replace("^", "")
        add(Plant("(0032,4000)", "ideographic name joined, ISO 2022 text"))

    # Other person-name attributes, and multi-valued elements.
    ds.PerformingPhysicianName = [who.physician, "Lindqvist^Henrike"]
    ds.NameOfPhysiciansReadingStudy = f"{who.physician_given} {who.physician_family}"
    ds.OperatorsName = who.name
    ds.OtherPatientIDs = ["ALT-5521", who.patient_id]
    ds.OtherPatientNames = ["Lindqvist^Henrike", who.name]
    for tag in (0x00081050, 0x00081060, 0x00081070, 0x00101000, 0x00101001):
        add(Plant(_tag(tag), "other PN / multi-valued"))

    # An overlay group and a curve group.
    for tag, vr, value in (
        (0x60000010, "US", 16),
        (0x60000011, "US", 16),
        (0x60000040, "CS", "G"),
        (0x60000050, "SS", [1, 1]),
        (0x60000100, "US", 1),
        (0x60000102, "US", 0),
    ):
        ds.add_new(tag, vr, value)
    ds.add_new(0x60000022, "LO", who.institution)
    ds.add_new(0x60001500, "LO", who.family)
    ds.add_new(0x60003000, "OW", (b"\x00" * 4 + who.birth.encode() + b"\x00" * 20)[:32])
    add(Plant("(6000,0022)", "institution in overlay description"))
    add(Plant("(6000,1500)", "family name in overlay label"))
    add(Plant("(6000,3000)", "birth date in overlay data", raw=True))
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50000010, "US", 4)
    ds.add_new(0x50000022, "LO", f"{who.physician_given} {who.physician_family}")
    ds.add_new(0x50003000, "OB", _ascii_blob(who.accession))
    add(Plant("(5000,0022)", "physician in curve description"))
    add(Plant("(5000,3000)", "accession in curve data", raw=True))

    # Elements after the pixel data.
    trailer = ds.private_block(0x7FE1, "VEIL TEST TRAILER", create=True)
    trailer.add_new(0x10, "LO", f"{who.family}, {who.given}")
    add(Plant(_tag(trailer.get_tag(0x10)), "name after the pixel data, private"))
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 6 + who.patient_id.encode() + b"\x00" * 6)
    add(Plant("(FFFC,FFFC)", "ID in trailing padding", raw=True))

    if pixels and "PixelData" in ds and not ds.file_meta.TransferSyntaxUID.is_compressed:
        data = bytearray(ds.PixelData)
        text = who.name.upper().encode("utf-8")
        middle = len(data) // 2
        data[middle : middle + len(text)] = text
        ds.PixelData = bytes(data)
        add(Plant("(7FE0,0010)", "name in pixel data", raw=True, removable=False))
    if preamble:
        ds.preamble = (b"VEIL" + who.patient_id.encode() + b"\x00" * 128)[:128]
        add(Plant("preamble", "ID in the preamble", raw=True))

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    result.data = buffer.getvalue()
    return result
