"""Score a de-identified copy of the MIDI-B-like set against its answer key.

    python benchmarks/midib/score.py SET_DIR OUTPUT_DIR [--json FILE]

Modelled on CBIIT's MIDI_validation_script (the MIDI-B challenge's public validator):
every check of the answer key is passed or failed, and the score is passed / total, overall
and per category (HIPAA, DICOM, TCIA best practice) and per action. Text checks use its
rule: a removed value must not be in the output's value, nor any of its tokens (stop words
and punctuation aside); a retained one must be, or all its tokens. Where this scorer differs:

- outputs are paired with inputs by their pixel data (every tool keeps pixels), not through
  a UID mapping the tool provides; consistency is judged from the outputs themselves: a UID
  must become the same new UID wherever it occurs, a patient one new ID;
- a date still present must have moved by the patient's one offset (MIDI: only "changed");
- an input without an output (not written, quarantined) fails all its checks;
- the tokeniser is a regular expression, not NLTK's (NLTK's data cannot be fetched offline);
- every output's bytes are also searched for every planted identifier (names, IDs, dates,
  UIDs, contacts), in UTF-8, Latin-1 and the patient's character set: "survivors".
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import re
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer import Action, Category, Check, FileKey, load

DEBUG = False
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "without",
        "from",
        "per",
        "no",
        "not",
        "is",
        "are",
        "was",
        "be",
        "this",
        "that",
        "it",
        "as",
    ]
)
_TOKEN = re.compile(r"\w+(?:[-'.@/]\w+)*")
_PRIVATE = re.compile(
    r"\((?P<group>[0-9A-Fa-f]{4}),'(?P<creator>[^']*)',(?P<element>[0-9A-Fa-f]{2})\)"
)
_SEGMENT = re.compile(r"(?P<name>[A-Za-z]+)(?:\[(?P<index>\d+)\])?$")


def tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def text_check(file_value: str, answer: str, retain: bool) -> bool:
    """MIDI's validate_text: the whole value, then token by token (substring, lower case)."""
    found, wanted = file_value.lower(), answer.lower()
    a, b = _number(found.strip()), _number(wanted.strip())
    if a is not None and b is not None:  # numbers: equal up to float32 rounding
        same = math.isclose(a, b, rel_tol=1e-6)
        return same if retain else not same
    if wanted in found:
        return retain
    parts = tokens(wanted)
    words = set(tokens(found))
    # ASCII tokens as whole tokens (MIDI's substring test finds "2" of a phone inside
    # "2015"); other scripts have no spaces between words, so as substrings.
    present = [t for t in parts if (t in words if t.isascii() else t in found)]
    return len(present) == len(parts) if retain else not present


def _split(path: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in path:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def resolve(ds: Dataset, path: str) -> tuple[bool, str]:
    """(present, value as text) of the element a check names."""
    current: Dataset | None = ds
    segments = _split(path)
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        assert current is not None
        private = _PRIVATE.fullmatch(segment)
        if private:
            group, element = int(private["group"], 16), int(private["element"], 16)
            tag = None
            for block in range(0x10, 0x100):
                creator = current.get((group << 16) | block, None)
                if creator is not None and str(creator.value).strip() == private["creator"]:
                    tag = (group << 16) | (block << 8) | element
                    break
            if tag is None or tag not in current:
                return False, ""
            return True, _text(current[tag].value)
        match = _SEGMENT.fullmatch(segment)
        if not match or match["name"] not in current:
            return False, ""
        elem = current.data_element(match["name"])
        if elem is None:
            return False, ""
        if match["index"] is not None:
            items = elem.value or []
            index = int(match["index"])
            if index >= len(items):
                return False, ""
            current = items[index]
            continue
        if not last:
            return False, ""
        return True, _text(elem.value)
    return False, ""


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(_text(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value).strip()


def _date(text: str) -> dt.date | None:
    text = text.strip()[:8]
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


@dataclass
class Output:
    path: Path
    ds: Dataset
    data: bytes


@dataclass
class Result:
    check: Check
    file: str
    patient: str
    passed: bool


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    inputs: int = 0
    written: int = 0
    unpaired_outputs: int = 0
    survivors: dict[str, int] = field(default_factory=dict)  # what -> files
    files_with_survivors: int = 0

    def rate(self, chosen: list[Result]) -> tuple[int, int, float]:
        passed = sum(r.passed for r in chosen)
        return passed, len(chosen), (100.0 * passed / len(chosen)) if chosen else 100.0

    def summary(self) -> dict[str, object]:
        by_category = {
            c.value: self.rate([r for r in self.results if r.check.category is c]) for c in Category
        }
        by_action = {
            a.value: self.rate([r for r in self.results if r.check.action is a])
            for a in Action
            if any(r.check.action is a for r in self.results)
        }
        failing = Counter(r.check.action_class for r in self.results if not r.passed)
        return {
            "overall": self.rate(self.results),
            "categories": by_category,
            "actions": by_action,
            "failing_action_classes": dict(sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))),
            "inputs": self.inputs,
            "written": self.written,
            "unpaired_outputs": self.unpaired_outputs,
            "files_with_survivors": self.files_with_survivors,
            "survivors": self.survivors,
        }


def _read_outputs(folder: Path) -> list[Output]:
    outputs = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True)
                if "PixelData" not in ds:
                    continue
        except Exception:
            continue
        outputs.append(Output(path, ds, data))
    return outputs


def _encodings(ds: Dataset) -> list[str]:
    names = ["utf-8", "latin-1"]
    charset = ds.get("SpecificCharacterSet", "")
    values = [str(v) for v in charset] if isinstance(charset, MultiValue | list) else [str(charset)]
    if any("IR 87" in v for v in values):
        names.append("iso2022_jp")
    if any("IR 149" in v for v in values):
        names.append("euc_kr")
    if any("GB18030" in v or "GBK" in v for v in values):
        names.append("gb18030")
    return names


def _needles(key: FileKey) -> dict[str, set[str]]:
    """Planted identifiers of one input to search the output's bytes for, by class."""
    found: dict[str, set[str]] = defaultdict(set)
    for check in key.checks:
        if check.action is Action.TEXT_REMOVED:
            value = check.value
            found[check.what].add(value)
            if "^" in value:  # a person name: each component alone
                for group in value.split("="):
                    for part in group.split("^"):
                        if len(part) >= 4 or (len(part) >= 2 and not part.isascii()):
                            found[check.what].add(part)
            for run in re.findall(r"\d{7,}", value.replace("-", "").replace(" ", "")):
                found[check.what].add(run)
        elif check.action in (Action.DATE_SHIFTED, Action.UID_CHANGED):
            found[check.what].add(
                check.value[:8] if check.action is Action.DATE_SHIFTED else check.value
            )
    return found


def _encoded(text: str, encodings: list[str]) -> set[bytes]:
    out = set()
    for encoding in encodings:
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        if encoding == "iso2022_jp":
            data = re.sub(rb"\x1b[$(][@BJ]", b"", data)
        out.add(data.lower())
    return out


_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")


def _occurs(data: bytes, needle: bytes) -> bool:
    """True when ``needle`` occurs in ``data`` as a whole word: "chen" is not in "cheng"."""
    start = data.find(needle)
    while start >= 0:
        end = start + len(needle)
        left_ok = start == 0 or needle[0] not in _ALNUM or data[start - 1] not in _ALNUM
        right_ok = end >= len(data) or needle[-1] not in _ALNUM or data[end] not in _ALNUM
        if left_ok and right_ok:
            return True
        start = data.find(needle, start + 1)
    return False


def score(set_dir: Path, output_dir: Path) -> Report:
    keys, _ = load(set_dir / "answer_key.json")
    report = Report(inputs=len(keys))
    paired = _pair(keys, _read_outputs(output_dir), report)
    values, canon = _canonical(keys, paired)
    for key in keys:
        output = paired.get(key.name)
        for index, check in enumerate(key.checks):
            if output is None:
                passed = False
            elif check.action is Action.PIXELS_RETAINED:
                passed = hashlib.sha256(bytes(output.ds.PixelData)).hexdigest() == check.value
            else:
                present, value = values[(key.name, index)]
                passed = _judge(check, present, value, key.patient, *canon)
            report.results.append(Result(check, key.name, key.patient, passed))
    _count_survivors(keys, paired, report)
    return report


def _pair(keys: list[FileKey], outputs: list[Output], report: Report) -> dict[str, Output]:
    """Outputs paired with their inputs by pixel data (no tool-supplied UID map needed)."""
    by_digest = {k.pixel_digest: k for k in keys}
    paired: dict[str, Output] = {}
    for output in outputs:
        digest = hashlib.sha256(bytes(output.ds.PixelData)).hexdigest()
        key = by_digest.get(digest)
        if key is None or key.name in paired:
            report.unpaired_outputs += 1
            continue
        paired[key.name] = output
    report.written = len(paired)
    return paired


_Canon = tuple[dict[str, str], Counter[str], dict[str, str], Counter[str], dict[str, int]]


def _canonical(
    keys: list[FileKey], paired: dict[str, Output]
) -> tuple[dict[tuple[str, int], tuple[bool, str]], _Canon]:
    """Every check's value in its output, and the canonical mappings taken from the outputs
    themselves: the replacement most outputs use for a UID or patient, the usual offset."""
    uid_seen: dict[str, Counter[str]] = defaultdict(Counter)
    id_seen: dict[str, Counter[str]] = defaultdict(Counter)
    shifts: dict[str, Counter[int]] = defaultdict(Counter)
    values: dict[tuple[str, int], tuple[bool, str]] = {}
    for key in keys:
        output = paired.get(key.name)
        if output is None:
            continue
        for index, check in enumerate(key.checks):
            if check.action is Action.PIXELS_RETAINED:
                continue
            present, value = resolve(output.ds, check.path)
            values[(key.name, index)] = (present, value)
            if check.action is Action.UID_CONSISTENT and present and value:
                uid_seen[check.value][value] += 1
            elif check.action is Action.PATID_CONSISTENT and present:
                id_seen[key.patient][value] += 1
            elif check.action is Action.DATE_SHIFTED and present and value:
                _count_shift(shifts[key.patient], value, check.value)
    uid_map = {old: seen.most_common(1)[0][0] for old, seen in uid_seen.items()}
    id_map = {patient: seen.most_common(1)[0][0] for patient, seen in id_seen.items()}
    offsets = {patient: seen.most_common(1)[0][0] for patient, seen in shifts.items()}
    return values, (uid_map, Counter(uid_map.values()), id_map, Counter(id_map.values()), offsets)


def _count_shift(shifts: Counter[int], value: str, original: str) -> None:
    new, old = _date(value), _date(original)
    if new is not None and old is not None:
        shifts[(old - new).days] += 1


def _count_survivors(keys: list[FileKey], paired: dict[str, Output], report: Report) -> None:
    """Every output's bytes searched for every planted identifier of its input."""
    survivors: Counter[str] = Counter()
    for key in keys:
        output = paired.get(key.name)
        if output is None:
            continue
        lowered = output.data.lower()
        encodings = _encodings(output.ds)
        leaked = {
            what
            for what, texts in _needles(key).items()
            if any(
                _occurs(lowered, n) for t in texts for n in _encoded(t, encodings) if len(n) >= 4
            )
        }
        if leaked and DEBUG:
            print(output.path.name, key.name, sorted(leaked), file=sys.stderr)
        survivors.update(leaked)
        report.files_with_survivors += bool(leaked)
    report.survivors = dict(survivors.most_common())


def _consistent(
    present: bool, value: str, canonical: str, original: str, owners: Counter[str]
) -> bool:
    """Replaced by the one value every output uses for it, and owned by nothing else."""
    if not present:
        return True
    return value == canonical and canonical != original and owners[canonical] == 1


def _shifted(present: bool, value: str, original: str, offset: int | None) -> bool:
    """Gone, or moved back by the patient's one (non-zero) offset."""
    if not present or not value.strip():
        return True
    if original in value:
        return False
    new, old = _date(value), _date(original)
    return (
        new is not None
        and old is not None
        and offset is not None
        and offset != 0
        and ((old - new).days == offset)
    )


def _judge(
    check: Check,
    present: bool,
    value: str,
    patient: str,
    uid_map: dict[str, str],
    uid_owners: Counter[str],
    id_map: dict[str, str],
    id_owners: Counter[str],
    offsets: dict[str, int],
) -> bool:
    action = check.action
    if action is Action.TAG_RETAINED:
        return present
    if action is Action.TEXT_NOTNULL:
        return present and bool(value.strip())
    if action is Action.TEXT_RETAINED:
        return present and bool(value) and text_check(value, check.value, retain=True)
    if action is Action.TEXT_REMOVED:
        return not present or not value.strip() or text_check(value, check.value, retain=False)
    if action is Action.UID_CHANGED:
        return not present or check.value not in value
    if action is Action.UID_CONSISTENT:
        return _consistent(present, value, uid_map.get(check.value, ""), check.value, uid_owners)
    if action is Action.PATID_CONSISTENT:
        return _consistent(present, value, id_map.get(patient, ""), check.value, id_owners)
    if action is Action.DATE_SHIFTED:
        return _shifted(present, value, check.value, offsets.get(patient))
    raise ValueError(action)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    summary = score(args.set_dir, args.output_dir).summary()
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
