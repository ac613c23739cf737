"""What `veil explain` shows: private blocks folded into one line per creator, the attributes
veil adds, and a table that fits the terminal.

A GE or Siemens file has 100+ private elements, nearly all removed by one rule: listed one by
one they bury the public attributes a reader came for. Each block is one line naming its
creator (a vendor dictionary, not a value of the patient), the count, and what happened;
``--all-private`` lists them again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from veil.dicom import is_private, is_private_creator, tag_text, text_values
from veil.engine import Decision

# Attributes the engine writes into every output (PS3.15 E.1.1 and the options), with why.
_ADDED_BECAUSE: dict[int, str] = {
    0x00120062: "added: a de-identified object declares it (PS3.15 E.1.1)",
    0x00120063: "added: the policy and options applied, in words (PS3.15 E.1.1)",
    0x00120064: "added: the profile and options applied, as CID 7050 codes (PS3.15 E.1.1)",
    0x00280303: "added: whether dates were shifted, kept or removed (PS3.15 E.3.6)",
}


# "Table E.1-1 (0008,0080) Institution Name: basic profile X/Z/D -> X": the row's tag and name
# repeat the attribute column, so the rule column keeps only what decided.
_ROW_NAME = re.compile(r"Table E\.1-1 \([0-9A-Fa-fXx]{4},[0-9A-Fa-fXx]{4}\) [^:]*: ")
_ODD_GROUPS = re.compile(r"Table E\.1-1 \(GGGG,EEEE\) WHERE GGGG IS ODD: ")
_CREATOR_RULE = "private creator of a"


def short_rule(rule: str) -> str:
    """A rule as the table shows it: without the repeated attribute name."""
    rule = _ODD_GROUPS.sub("Table E.1-1 private (odd group): ", rule)
    return _ROW_NAME.sub("Table E.1-1 ", rule)


@dataclass(frozen=True)
class Row:
    attribute: str
    before: str
    after: str
    does: str  # what the action does, in the engine handler's words
    rule: str
    changed: bool
    shows_values: bool = True  # False: a summary line, its before/after are counts, not values


@dataclass
class _Block:
    """The decisions of one private block (one creator) at one nesting level."""

    label: str
    first: int  # position of its first decision, so the folded line keeps file order
    removed: int = 0
    kept: int = 0
    rules: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def add(self, removed: bool, rule: str, does: str) -> None:
        if removed:
            self.removed += 1
        else:
            self.kept += 1
        rule = short_rule(rule)
        if rule not in self.rules:
            self.rules.append(rule)
        if does and does not in self.actions:
            self.actions.append(does)

    def row(self) -> Row:
        total = self.removed + self.kept
        # The creator slot follows its block: say so only when nothing else decided.
        rules = [r for r in self.rules if not r.startswith(_CREATOR_RULE)] or self.rules
        after = (
            "(removed)"
            if not self.kept
            else ("kept" if not self.removed else f"{self.kept} kept, {self.removed} removed")
        )
        rule = "; ".join(rules[:3]) + (f"; +{len(rules) - 3} more" if len(rules) > 3 else "")
        return Row(
            self.label,
            f"{total} element(s)",
            after,
            "; ".join(self.actions[:2]) + ("; ..." if len(self.actions) > 2 else ""),
            rule,
            changed=bool(self.removed),
            shows_values=False,
        )


def _creator(original: Dataset, path: str) -> str:
    """The creator of the private block that ``path`` (its last step) lies in."""
    current: Dataset | None = original
    steps = path.split(".")
    for step in steps[:-1]:  # walk to the dataset that holds the element
        text, _, item = step.partition("[")
        tag = int(text[1:5] + text[6:10], 16)
        try:
            current = current[tag].value[int(item.rstrip("]"))] if current is not None else None
        except Exception:
            return "?"
    last = steps[-1]
    tag = int(last[1:5] + last[6:10], 16)
    creator_tag = (tag & 0xFFFF0000) | ((tag >> 8) & 0xFF) if not is_private_creator(tag) else tag
    if current is None or creator_tag not in current:
        return "without a private creator"
    text = "".join(
        ch for ch in "".join(text_values(current[creator_tag].value)) if 32 <= ord(ch) < 127
    )
    return repr(text[:64]) if text else "without a private creator"


def _block_key(path: str, tag: int) -> tuple[str, int, int]:
    prefix = path.rsplit(".", 1)[0] + "." if "." in path else ""
    block = tag & 0xFF if is_private_creator(tag) else (tag >> 8) & 0xFF
    return prefix, tag >> 16, block


def fold_private(original: Dataset, decisions: Iterable[Decision]) -> list[Row]:
    """Rows in file order: public attributes one per line, private blocks one per creator."""
    rows: list[Row | _Block] = []
    blocks: dict[tuple[str, int, int], _Block] = {}
    for d in decisions:
        path, tag = d.path, d.tag
        if not is_private(tag):
            rows.append(_row(d))
            continue
        key = _block_key(path, tag)
        block = blocks.get(key)
        if block is None:
            prefix, group, byte = key
            label = f"{prefix}({group:04X},{byte:02X}xx) private block {_creator(original, path)}"
            block = blocks[key] = _Block(label, len(rows))
            rows.append(block)
        block.add(d.after == "(removed)", d.rule, d.does)
    return [r.row() if isinstance(r, _Block) else r for r in rows]


def _row(d: Decision) -> Row:
    name = keyword_for_tag(d.tag) or ("private" if is_private(d.tag) else "")
    return Row(
        f"{d.path} {name}".rstrip(),
        d.before,
        d.after,
        d.does,
        short_rule(d.rule),
        d.before != d.after,
    )


def unfolded(decisions: Iterable[Decision]) -> list[Row]:
    """Every decision on its own line (--all-private)."""
    return [_row(d) for d in decisions]


def added_rows(original: Dataset, output: Dataset, recorded: set[str]) -> list[Row]:
    """Top-level attributes of ``output`` that ``original`` lacks and no rule recorded: the
    ones the engine adds to every output (declarations of what was done)."""
    rows = []
    for elem in output:
        if elem.tag in original or tag_text(elem.tag) in recorded:
            continue
        because = _ADDED_BECAUSE.get(elem.tag, "added by veil")
        value = (
            "\\".join(text_values(elem.value))
            if elem.VR != "SQ"
            else f"<sequence of {len(elem.value)} item(s)>"
        )
        rows.append(
            Row(
                f"{tag_text(elem.tag)} {keyword_for_tag(elem.tag) or ''}".rstrip(),
                "(absent)",
                value,
                "added",
                because,
                True,
            )
        )
    return rows
