"""What happened to every element of one file, and why: `veil explain`'s table as typed data.

One function builds the rows, so `veil explain` (the terminal) and the console's "try it on a
sample" (the browser) cannot tell two stories about the same file:

    rows = explain_dataset(original, plan, mapper)                # no audit (veil explain)
    rows = explain_rows(original, output, recording.decisions)    # after veil.pipeline ran
    for item in fold_private_blocks(rows): ...                    # private blocks folded

Each row carries the value before and after as text (shown only to whoever may see it) and a
*summary* of the value before that names its kind and shape, never its content
("PN, 3 components"): what a role that may not see originals is shown instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.dicom import tag_text
from veil.engine import Decision, deidentify
from veil.mapping import Mapper
from veil.policy.plan import Plan

REMOVED = "(removed)"
ABSENT = "(absent)"
_SHOWN_CHARACTERS = 60


class Change(str, Enum):
    """What de-identification did to one element's value."""

    KEPT = "kept"  # the same value after
    CHANGED = "changed"  # another value (a pseudonym, a shifted date, a new UID, a dummy...)
    REMOVED = "removed"
    ADDED = "added"  # not in the input (de-identification record, a derived age)


@dataclass(frozen=True)
class PrivateBlock:
    """The private block an element belongs to: found by its creator, not its number."""

    creator: str  # "" when the block has no creator element
    group: int
    block: int  # the block byte (gggg,BBxx)
    where: str  # the path of the dataset holding the block ("" at the top level)

    def label(self) -> str:
        who = f'"{self.creator}"' if self.creator else "(no private creator)"
        return f"private block {who} ({self.group:04X},{self.block:02X}xx)"


@dataclass(frozen=True)
class ExplainRow:
    """One element of the input (or one the output added), before and after."""

    path: str  # "(0008,1115)[0].(0020,000E)"
    tag: int
    keyword: str  # "" for elements the dictionary does not know
    vr: str
    before: str  # the value as text; shown only to whoever may see originals
    before_summary: str  # the kind and shape of the value before, never its content
    after: str  # the value as text, or "(removed)"
    rule: str  # the rule that decided (Table E.1-1 row and option, override, requirement)
    change: Change
    does: str = ""  # what the action does, in its handler's words (when the engine says)
    private: PrivateBlock | None = None

    @property
    def depth(self) -> int:
        return self.path.count("[")


@dataclass(frozen=True)
class FoldedBlock:
    """A private block's rows folded into one line: a vendor block has dozens of elements that
    one rule decides."""

    block: PrivateBlock
    rows: tuple[ExplainRow, ...]

    @property
    def summary(self) -> str:
        counts: dict[Change, int] = {}
        for row in self.rows:
            counts[row.change] = counts.get(row.change, 0) + 1
        if len(counts) == 1:
            change = next(iter(counts))
            return f"{change.value}: {len(self.rows)} element(s)"
        return ", ".join(f"{n} {change.value}" for change, n in sorted(counts.items()))

    @property
    def rule(self) -> str:
        """The rule, when one rule decided the whole block (creator aside); else ''."""
        rules = {row.rule for row in self.rows if row.tag & 0xFF00}
        return rules.pop() if len(rules) == 1 else ""

    @property
    def path(self) -> str:
        return self.rows[0].path


@dataclass
class Recording:
    """The engine's recorder: every decision it makes, by element path."""

    decisions: dict[str, Decision] = field(default_factory=dict)

    def __call__(self, decision: Decision) -> None:
        self.decisions[decision.path] = decision


def show_value(elem: DataElement | None) -> str:
    """An element's value as one line of text (cut at 60 characters)."""
    if elem is None:
        return ABSENT
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = "" if value is None else str(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."


def summarise_value(elem: DataElement | None) -> str:
    """The kind and shape of a value, never its content: "PN, 3 components", "DA, 1 value",
    "LO, 12 characters", "SQ, 2 items", "OB, 1024 bytes"."""
    if elem is None:
        return ABSENT
    vr = str(elem.VR)
    value = elem.value
    if vr == "SQ":
        return f"SQ, {len(value)} item(s)"
    if value is None or value == "" or (isinstance(value, bytes | bytearray) and not value):
        return f"{vr}, empty"
    if isinstance(value, bytes | bytearray):
        return f"{vr}, {len(value)} bytes"
    items = list(value) if isinstance(value, MultiValue | list) else [value]
    if len(items) > 1:
        return f"{vr}, {len(items)} values"
    if vr == "PN":
        alphabetic = str(items[0]).split("=", 1)[0]
        parts = [p for p in alphabetic.split("^") if p.strip()]
        return f"PN, {len(parts)} component(s)"
    if isinstance(items[0], str):
        return f"{vr}, {len(items[0])} character(s)"
    return f"{vr}, 1 value"


def find_element(ds: Dataset, path: str) -> DataElement | None:
    """The element at ``path`` ("(0008,1115)[0].(0020,000E)") in ``ds``, or None."""
    current: Dataset = ds
    parts = path.split(".")
    for index, part in enumerate(parts):
        text, _, item = part.partition("[")
        tag = int(text[1:5] + text[6:10], 16)
        if tag not in current:
            return None
        elem = current[tag]
        if index == len(parts) - 1:
            return elem
        position = int(item.rstrip("]"))
        if elem.VR != "SQ" or position >= len(elem.value):
            return None
        current = elem.value[position]
    return None


def _why_unrecorded(path: str, tag: int, removed: bool) -> str:
    if not removed:
        return "kept: not listed in Table E.1-1"
    if "[" in path:
        return "removed with the enclosing sequence"
    if tag >> 16 & 1:
        return "private creator of a removed block"
    return "removed with its group"


def _change(before: str, after: str) -> Change:
    if after == REMOVED:
        return Change.REMOVED
    if before == ABSENT:
        return Change.ADDED
    return Change.KEPT if before == after else Change.CHANGED


def _private_block(ds: Dataset, tag: int, where: str) -> PrivateBlock | None:
    group, element = tag >> 16, tag & 0xFFFF
    if not group & 1 or group <= 0x0008:
        return None
    if 0x0010 <= element <= 0x00FF:  # a private creator element itself
        block = element
    elif element >= 0x1000:
        block = element >> 8
    else:
        return None  # group length or reserved elements: not part of a block
    creator_tag = (group << 16) | block
    creator = ""
    if creator_tag in ds:
        value = ds[creator_tag].value
        creator = str(value).strip() if isinstance(value, str) else ""
    return PrivateBlock(creator, group, block, where)


def _keyword(tag: int) -> str:
    return "" if tag >> 16 & 1 else (keyword_for_tag(tag) or "")


def explain_rows(
    original: Dataset,
    output: Dataset | None,
    decisions: dict[str, Decision],
) -> list[ExplainRow]:
    """A row for every element of ``original``, nested ones included, in file order, then the
    elements the de-identification added. ``decisions`` is what the engine recorded
    (`Recording`); elements it did not visit are explained from ``output``."""
    rows: list[ExplainRow] = []

    def visit(ds: Dataset, prefix: str) -> None:
        for elem in ds:
            path = f"{prefix}{tag_text(elem.tag)}"
            recorded = decisions.get(path)
            does = ""
            if recorded is not None:
                before, after, rule, does = (
                    recorded.before,
                    recorded.after,
                    recorded.rule,
                    recorded.does,
                )
            else:
                found = find_element(output, path) if output is not None else None
                before = show_value(elem)
                after = REMOVED if found is None else show_value(found)
                rule = _why_unrecorded(path, elem.tag, found is None)
            rows.append(
                ExplainRow(
                    path=path,
                    tag=elem.tag,
                    keyword=_keyword(elem.tag),
                    vr=str(elem.VR),
                    before=before,
                    before_summary=summarise_value(elem),
                    after=after,
                    rule=rule,
                    change=_change(before, after),
                    does=does,
                    private=_private_block(ds, elem.tag, prefix.rstrip(".")),
                )
            )
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value):
                    visit(item, f"{path}[{index}].")

    visit(original, "")
    rows += _added(original, output, decisions)
    return rows


def _added(
    original: Dataset, output: Dataset | None, decisions: dict[str, Decision]
) -> list[ExplainRow]:
    """Elements the output has and the input had not: what the engine recorded as added
    (a derived age), then its own record of the de-identification (PS3.15 E.1.1)."""
    rows = []
    for path, decision in decisions.items():
        tag, after, rule = decision.tag, decision.after, decision.rule
        if decision.before != ABSENT:
            continue
        added = find_element(output, path) if output is not None else None
        rows.append(
            ExplainRow(
                path=path,
                tag=tag,
                keyword=_keyword(tag),
                vr=str(added.VR) if added is not None else "",
                before=ABSENT,
                before_summary=ABSENT,
                after=after,
                rule=rule,
                change=Change.ADDED,
                does=decision.does,
            )
        )
    recorded = {row.tag for row in rows}
    for elem in output if output is not None else ():
        if elem.tag in original or elem.tag in recorded:
            continue
        rows.append(
            ExplainRow(
                path=tag_text(elem.tag),
                tag=elem.tag,
                keyword=_keyword(elem.tag),
                vr=str(elem.VR),
                before=ABSENT,
                before_summary=ABSENT,
                after=show_value(elem),
                rule="added by veil: the de-identification record (PS3.15 E.1.1, E.3)",
                change=Change.ADDED,
            )
        )
    return rows


def explain_dataset(original: Dataset, plan: Plan, mapper: Mapper) -> list[ExplainRow]:
    """De-identify a copy of ``original`` by ``plan`` and explain every element (no audit:
    `veil explain`; the console explains through `veil.pipeline`, audit included)."""
    recording = Recording()
    output = deidentify(original, plan, mapper, recorder=recording)
    return explain_rows(original, output, recording.decisions)


def fold_private_blocks(rows: Sequence[ExplainRow]) -> list[ExplainRow | FoldedBlock]:
    """The rows with each private block's elements (creator included) folded into one
    `FoldedBlock`, at the place of the block's first element."""
    # Elements nested inside a private sequence belong to its block, whatever their tags.
    owner: list[PrivateBlock | None] = []
    inside: dict[str, PrivateBlock] = {}
    for row in rows:
        block = row.private
        for prefix, parent in inside.items():
            if row.path.startswith(prefix):
                block = parent
                break
        if block is not None and row.vr == "SQ":
            inside[row.path + "["] = block
        owner.append(block)
    blocks: dict[PrivateBlock, list[ExplainRow]] = {}
    for row, block in zip(rows, owner, strict=True):
        if block is not None:
            blocks.setdefault(block, []).append(row)
    folded: list[ExplainRow | FoldedBlock] = []
    placed: set[PrivateBlock] = set()
    for row, block in zip(rows, owner, strict=True):
        if block is None:
            folded.append(row)
        elif block not in placed:
            placed.add(block)
            folded.append(FoldedBlock(block, tuple(blocks[block])))
    return folded


def changed_only(rows: Iterable[ExplainRow]) -> list[ExplainRow]:
    return [row for row in rows if row.change is not Change.KEPT]


__all__ = [
    "Change",
    "ExplainRow",
    "FoldedBlock",
    "PrivateBlock",
    "Recording",
    "changed_only",
    "explain_dataset",
    "explain_rows",
    "find_element",
    "fold_private_blocks",
    "show_value",
    "summarise_value",
]
