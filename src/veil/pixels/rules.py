"""Known-region rules: where a given device burns text in, by manufacturer, model and image size.

The shape is that of RSNA CTP's DicomPixelAnonymizer script (a condition over header elements,
then the rectangles to blank), written as YAML with the line of every value::

    rules:
      - name: Philips CX50, header band
        when:
          Manufacturer: {contains: philips}
          ManufacturerModelName: CX50             # a plain value: equals (case-insensitive)
          Columns: 800
        remove:
          - [0, 0, 800, 60]                       # x, y, width, height

Conditions (all must hold): ``equals``, ``contains``, ``starts-with``, ``one-of`` (a list),
``present`` (true/false); comparisons ignore case and surrounding spaces, and a multi-valued
element (Image Type) matches when any of its values does. Keys are DICOM keywords. veil ships
its own rule file (``veil/pixels/data/regions.yaml``); a policy adds rule files of its own
(``pixels: rules: [file.yaml]``), which are tried first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.errors import PolicyError
from veil.pixels.model import Box
from veil.yamlnode import YamlNode, compose

BUILTIN_RULES = "regions.yaml"
_MAX_RULES = 10_000  # a rule file is read whole; bound it


class Test(str, Enum):
    EQUALS = "equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts-with"
    ONE_OF = "one-of"
    PRESENT = "present"


@dataclass(frozen=True)
class Condition:
    keyword: str
    test: Test
    values: tuple[str, ...] = ()  # normalised (upper case, stripped)
    present: bool = True

    def holds(self, header: Mapping[str, str]) -> bool:
        value = header.get(self.keyword)
        if self.test is Test.PRESENT:
            return (value is not None and value != "") == self.present
        if value is None:
            return False
        parts = [_norm(part) for part in value.split("\\")] or [""]
        for part in parts:
            if self.test is Test.EQUALS and part == self.values[0]:
                return True
            if self.test is Test.CONTAINS and self.values[0] in part:
                return True
            if self.test is Test.STARTS_WITH and part.startswith(self.values[0]):
                return True
            if self.test is Test.ONE_OF and part in self.values:
                return True
        return False


@dataclass(frozen=True)
class RegionRule:
    """One rule: when every condition holds, blank the boxes (in every frame)."""

    name: str
    conditions: tuple[Condition, ...]
    boxes: tuple[Box, ...]
    origin: str  # file and line, for `veil explain` and errors

    def matches(self, header: Mapping[str, str]) -> bool:
        return all(condition.holds(header) for condition in self.conditions)

    @property
    def keywords(self) -> frozenset[str]:
        return frozenset(condition.keyword for condition in self.conditions)


def _norm(text: str) -> str:
    return " ".join(text.split()).upper()


def _condition(keyword_node: YamlNode, keyword: str, node: YamlNode) -> Condition:
    if tag_for_keyword(keyword) is None:
        raise keyword_node.fail(f"'{keyword}' is not a DICOM keyword (e.g. ManufacturerModelName)")
    if not isinstance(node.node, yaml.MappingNode):
        return Condition(keyword, Test.EQUALS, (_norm(node.scalar(keyword)),))
    fields = node.mapping(f"the condition on {keyword}", {t.value for t in Test})
    if len(fields) != 1:
        raise node.fail(f"one test per condition on {keyword}, e.g. {{contains: GE}}")
    ((word, value),) = fields.items()
    test = Test(word)
    if test is Test.PRESENT:
        return Condition(keyword, test, present=value.flag("present"))
    if test is Test.ONE_OF:
        values = tuple(_norm(item.scalar("a value")) for item in value.items("one-of"))
        if not values:
            raise value.fail("one-of needs at least one value")
        return Condition(keyword, test, values)
    text = _norm(value.scalar(word))
    if not text:
        raise value.fail(f"{word} needs a value")
    return Condition(keyword, test, (text,))


def _box(node: YamlNode) -> Box:
    items = node.items("a region")
    if len(items) != 4:
        raise node.fail("a region is [x, y, width, height]")
    numbers = []
    for item in items:
        try:
            numbers.append(int(item.scalar("a coordinate")))
        except ValueError:
            raise item.fail("coordinates are whole numbers of pixels") from None
    x, y, w, h = numbers
    if x < 0 or y < 0 or w <= 0 or h <= 0 or max(numbers) > 65535:
        raise node.fail("a region needs x, y >= 0 and a positive width and height (< 65536)")
    return Box(x, y, w, h)


def parse_rules(text: str, origin: str) -> tuple[RegionRule, ...]:
    """The rules of one rule file; a mistake raises PolicyError naming the line."""
    root = compose(text, origin, PolicyError, "rule file").mapping("a rule file", {"rules"})
    if "rules" not in root:
        raise PolicyError(f"{origin}: a rule file has a 'rules:' list")
    rules: list[RegionRule] = []
    items = root["rules"].items("rules")
    if len(items) > _MAX_RULES:
        raise root["rules"].fail(f"more than {_MAX_RULES} rules")
    for item in items:
        fields = item.mapping("a rule", {"name", "when", "remove"})
        for key in ("when", "remove"):
            if key not in fields:
                raise item.fail(f"a rule needs '{key}'")
        name = fields["name"].scalar("name") if "name" in fields else f"line {item.line}"
        when = fields["when"]
        conditions = tuple(
            _condition(when, keyword, node) for keyword, node in when.mapping("when").items()
        )
        if not conditions:
            raise when.fail("a rule needs at least one condition")
        boxes = tuple(_box(node) for node in fields["remove"].items("remove"))
        if not boxes:
            raise fields["remove"].fail("a rule removes at least one region")
        rules.append(RegionRule(name, conditions, boxes, f"{origin}:{item.line}"))
    return tuple(rules)


def load_rule_file(path: str | Path) -> tuple[RegionRule, ...]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the rule file ({type(exc).__name__})") from None
    return parse_rules(text, str(path))


@cache
def builtin_rules() -> tuple[RegionRule, ...]:
    text = files("veil.pixels").joinpath("data", BUILTIN_RULES).read_text(encoding="utf-8")
    return parse_rules(text, f"built-in {BUILTIN_RULES}")


def header_view(ds: Dataset, keywords: frozenset[str]) -> dict[str, str]:
    """The top-level values of ``keywords`` as text (multi-valued joined by backslash)."""
    view: dict[str, str] = {}
    for keyword in keywords:
        elem = ds.data_element(keyword) if keyword in ds else None
        if elem is None or elem.VR == "SQ":
            continue
        value = elem.value
        if value is None:
            view[keyword] = ""
        elif isinstance(value, bytes | bytearray):
            continue
        elif isinstance(value, MultiValue | list | tuple):
            view[keyword] = "\\".join(str(v) for v in value)
        else:
            view[keyword] = str(value)
    return view


def matching_rules(ds: Dataset, rules: tuple[RegionRule, ...]) -> list[RegionRule]:
    """The rules whose conditions hold for ``ds`` (the input, before de-identification)."""
    if not rules:
        return []
    keywords = frozenset().union(*(rule.keywords for rule in rules))
    header = header_view(ds, keywords)
    return [rule for rule in rules if rule.matches(header)]
