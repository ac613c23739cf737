"""Reading policy files (YAML) with errors that name the line and the problem.

A policy file looks like::

    name: my-trial
    base: basic                      # the PS3.15 Basic Application Level Confidentiality Profile
    options: [retain-patient-characteristics, retain-longitudinal-modified-dates]
    requirements: [neuroquant]       # destination profiles the output must satisfy, merged
                                     # with --for (a YAML path is relative to this file)
    layout: hierarchy                # veil deid's output layout unless --layout is given
    overrides:
      - {attribute: PatientID, action: pseudonym}
      - {attribute: "(0010,1010)", action: replace, value: "040Y"}
      - {attribute: {creator: "SIEMENS CSA HEADER", group: "0029"}, action: keep}
      - {attribute: Manufacturer, action: set, value: SIEMENS}   # adds it when absent
    set:                             # shorthand for `set` overrides: repair what another
      ManufacturerModelName: Prisma  # tool removed, from what you know of the data
"""

from __future__ import annotations

import re
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydicom import config
from pydicom.datadict import tag_for_keyword
from pydicom.valuerep import validate_value

from veil.dicom import STRING_VRS, describe_tag, dictionary_vr, is_private
from veil.errors import PolicyError
from veil.pixels.model import AtRisk, RedactMode
from veil.pixels.rules import RegionRule, load_rule_file
from veil.pixels.settings import PixelSettings
from veil.policy.model import (
    OVERRIDE_WORDS,
    Action,
    Layout,
    Override,
    Policy,
    PrivateSelector,
    RequirementRef,
)
from veil.standard import Option
from veil.yamlnode import YamlNode, compose

BUILTIN_NAMES = ("basic", "research-longitudinal", "research-release")
NOT_YET = {
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: "defacing is not implemented yet",
}
TOP_KEYS = {
    "name",
    "description",
    "base",
    "options",
    "overrides",
    "requirements",
    "layout",
    "pixels",
    "set",
}
PIXEL_KEYS = {"burned-in-risk", "redact", "allow", "rules", "ocr-every-image", "ocr-every-frame"}
_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$")


def option_by_name(name: str) -> Option:
    normalised = name.strip().lower().replace("_", "-").replace(" ", "-")
    for option in Option:
        if normalised in (option.value, option.meaning.lower().replace(" ", "-")):
            return option
    names = ", ".join(o.value for o in Option if o is not Option.BASIC)
    raise PolicyError(f"unknown option '{name}'; the options are: {names}")


def _parse_tag(text: str) -> int | None:
    match = _TAG.match(text.strip())
    if match:
        return int(match.group(1) + match.group(2), 16)
    return None


def _parse_attribute(node: YamlNode) -> tuple[int | None, PrivateSelector | None, str]:
    if isinstance(node.node, yaml.MappingNode):
        fields = node.mapping("a private attribute")
        unknown = set(fields) - {"creator", "group", "element"}
        if unknown:
            raise node.fail(f"unknown key(s) {sorted(unknown)}; use creator, group, element")
        if "creator" not in fields:
            raise node.fail("a private attribute needs 'creator' (the private creator string)")
        creator = fields["creator"].scalar("creator").strip()

        def hex_field(key: str, limit: int) -> int | None:
            if key not in fields:
                return None
            raw = fields[key].scalar(key).strip().lower().removeprefix("0x")
            raw = raw[-2:] if key == "element" and len(raw) == 4 and raw[:2] == "xx" else raw
            try:
                number = int(raw, 16)
            except ValueError:
                raise fields[key].fail(f"{key} must be hexadecimal, e.g. 0x10") from None
            if not 0 <= number <= limit:
                raise fields[key].fail(f"{key} must be between 0 and {limit:#x}")
            return number

        group = hex_field("group", 0xFFFF)
        if group is not None and group % 2 == 0:
            raise fields["group"].fail("a private group is odd (e.g. 0029)")
        selector = PrivateSelector(creator, group, hex_field("element", 0xFF))
        return None, selector, selector.describe()
    text = node.scalar("attribute")
    tag = _parse_tag(text)
    if tag is None:
        tag = tag_for_keyword(text.strip())
        if tag is None:
            raise node.fail(
                f"'{text}' is neither a DICOM keyword (e.g. PatientAge) "
                "nor a tag (e.g. (0010,1010))"
            )
    return tag, None, text.strip()


def _parse_override(node: YamlNode) -> Override:
    fields = node.mapping("an override")
    unknown = set(fields) - {"attribute", "action", "value"}
    if unknown:
        raise node.fail(
            f"unknown key(s) {sorted(unknown)} in an override; use attribute, action, value"
        )
    if "attribute" not in fields or "action" not in fields:
        raise node.fail("an override needs 'attribute' and 'action'")
    tag, private, label = _parse_attribute(fields["attribute"])
    word = fields["action"].scalar("action").strip().lower()
    if word not in OVERRIDE_WORDS:
        raise fields["action"].fail(
            f"unknown action '{word}'; use one of {', '.join(OVERRIDE_WORDS)}"
        )
    action = OVERRIDE_WORDS[word]
    value = fields["value"].scalar("value") if "value" in fields else None
    if action in (Action.REPLACE, Action.SET) and value is None:
        raise node.fail(f"action '{word}' needs a 'value'")
    if action not in (Action.REPLACE, Action.SET) and value is not None:
        raise fields["value"].fail(
            f"'value' is only used with actions 'replace' and 'set', not '{word}'"
        )
    if action is Action.SET and tag is not None and value is not None:
        check_set_value(tag, value, fields["value"])
    if private is not None and action not in (Action.KEEP, Action.REMOVE):
        raise fields["action"].fail("private attributes can only be kept or removed")
    return Override(action, tag, private, value, node.line, label)


def _parse_pixels(node: YamlNode | None, options: set[Option], origin: str) -> PixelSettings:
    """The ``pixels:`` section: what happens to images that may carry burned-in text."""
    clean = Option.CLEAN_PIXEL_DATA in options
    if node is None:
        return PixelSettings(clean=clean)
    fields = node.mapping("pixels", PIXEL_KEYS)

    def choice(key: str, enum: type[AtRisk] | type[RedactMode], default: Any) -> Any:
        if key not in fields:
            return default
        word = fields[key].scalar(key).lower()
        try:
            return enum(word)
        except ValueError:
            names = ", ".join(member.value for member in enum)
            raise fields[key].fail(f"{key} must be one of {names}, not '{word}'") from None

    allow = []
    for item in fields["allow"].items("allow") if "allow" in fields else []:
        pattern = item.scalar("an allow-list pattern")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise item.fail(f"not a valid regular expression ({exc.msg})") from None
        allow.append(pattern)
    rules: list[RegionRule] = []
    folder = Path(origin).parent if Path(origin).exists() else Path.cwd()
    for item in fields["rules"].items("rules") if "rules" in fields else []:
        path = Path(item.scalar("a rule file"))
        try:
            rules.extend(load_rule_file(path if path.is_absolute() else folder / path))
        except PolicyError as exc:
            raise item.fail(str(exc)) from None
    if not clean and {"redact", "allow", "rules", "ocr-every-image", "ocr-every-frame"} & set(
        fields
    ):
        raise node.fail("these pixel settings need the option clean-pixel-data")
    return PixelSettings(
        clean=clean,
        redact=choice("redact", RedactMode, RedactMode.ALL_TEXT),
        allow=tuple(allow),
        at_risk=choice("burned-in-risk", AtRisk, AtRisk.FLAG),
        ocr_every_image=fields["ocr-every-image"].flag("ocr-every-image")
        if "ocr-every-image" in fields
        else False,
        ocr_every_frame=fields["ocr-every-frame"].flag("ocr-every-frame")
        if "ocr-every-frame" in fields
        else False,
        rules=tuple(rules),
    )


def check_set_value(tag: int, value: str, node: YamlNode) -> None:
    """A `set` value must be valid for the attribute's VR in the data dictionary: veil would
    otherwise write a file a destination rejects. Text VRs only (no sequences, no binary)."""
    if is_private(tag):
        raise node.fail("'set' names a public attribute; private elements can only be kept")
    vr = dictionary_vr(tag)
    if vr not in STRING_VRS:
        raise node.fail(f"'set' writes text values; {describe_tag(tag)} has VR {vr} (not settable)")
    for part in value.split("\\") if vr not in ("LT", "ST", "UT", "UR") else [value]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                validate_value(vr, part, config.RAISE)
        except (ValueError, TypeError) as exc:
            raise node.fail(
                f"the value is not a valid {vr} for {describe_tag(tag)}: "
                f"{str(exc).split(' Please see')[0]}"
            ) from None


def _parse_set(root: dict[str, YamlNode]) -> tuple[Override, ...]:
    """The ``set:`` shorthand: ``set: {Manufacturer: SIEMENS}`` is one `set` override each."""
    if "set" not in root:
        return ()
    found = []
    for name, value_node in root["set"].mapping("set").items():
        tag = _parse_tag(name) or tag_for_keyword(name.strip())
        if tag is None:
            raise value_node.fail(
                f"'{name}' is neither a DICOM keyword (e.g. Manufacturer) "
                "nor a tag (e.g. (0008,0070))"
            )
        value = value_node.scalar(f"the value to set for {name}")
        check_set_value(tag, value, value_node)
        found.append(Override(Action.SET, tag, None, value, value_node.line, name.strip()))
    return tuple(found)


def _requirement(item: YamlNode, origin: str) -> RequirementRef:
    """A profile name as written, or a YAML path made relative to the policy file's folder."""
    name = item.scalar("a requirement").strip()
    if not name:
        raise item.fail("a requirement names a destination profile, e.g. neuroquant")
    path = Path(name)
    is_path = path.suffix.lower() in (".yaml", ".yml") or len(path.parts) > 1
    if is_path and not path.is_absolute() and Path(origin).is_file():
        name = str(Path(origin).parent / path)
    return RequirementRef(name, item.line)


def parse_policy(text: str, origin: str) -> Policy:
    root = compose(text, origin, PolicyError, "policy file").mapping("a policy")
    unknown = set(root) - TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise root[key].fail(f"unknown key '{key}'; a policy has {', '.join(sorted(TOP_KEYS))}")
    base = root["base"].scalar("base") if "base" in root else "basic"
    if base != "basic":
        raise root["base"].fail(f"unknown base profile '{base}'; the only base profile is 'basic'")
    options: set[Option] = set()
    for item in root["options"].items("options") if "options" in root else []:
        try:
            option = option_by_name(item.scalar("an option"))
        except PolicyError as exc:
            raise item.fail(str(exc)) from None
        if option in NOT_YET:
            raise item.fail(f"option '{option.value}' is not available yet: {NOT_YET[option]}")
        if option is Option.BASIC:
            continue
        options.add(option)
    if {Option.CLEAN_PIXEL_DATA, Option.RETAIN_UIDS} <= options:
        raise root["options"].fail(
            "clean-pixel-data changes pixels: the cleaned image is a new instance and needs a "
            "new SOP Instance UID; remove retain-uids or clean-pixel-data"
        )
    if {Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES} <= options:
        raise root["options"].fail(
            "choose one of retain-longitudinal-full-dates and retain-longitudinal-modified-dates"
        )
    overrides = tuple(
        _parse_override(item)
        for item in (root["overrides"].items("overrides") if "overrides" in root else [])
    ) + _parse_set(root)
    requirements = tuple(
        _requirement(item, origin)
        for item in (root["requirements"].items("requirements") if "requirements" in root else [])
    )
    layout = None
    if "layout" in root:
        word = root["layout"].scalar("layout").strip().lower()
        if word not in {layout.value for layout in Layout}:
            raise root["layout"].fail("layout must be 'mirror' or 'hierarchy'")
        layout = Layout(word)
    name = root["name"].scalar("name") if "name" in root else Path(origin).stem
    description = root["description"].scalar("description") if "description" in root else ""
    pixels = _parse_pixels(root.get("pixels"), options, origin)
    return Policy(
        name=name,
        source=origin,
        options=frozenset(options),
        overrides=overrides,
        requirements=requirements,
        description=description,
        layout=layout,
        pixels=pixels,
    )


def builtin_policy_text(name: str) -> str:
    return files("veil.policy").joinpath("builtin", f"{name}.yaml").read_text(encoding="utf-8")


def load_policy(name_or_path: str | Path) -> Policy:
    """A built-in policy by name, or a policy file by path."""
    text_name = str(name_or_path)
    if text_name in BUILTIN_NAMES:
        return parse_policy(builtin_policy_text(text_name), f"built-in policy '{text_name}'")
    path = Path(name_or_path)
    if not path.exists():
        raise PolicyError(
            f"{text_name}: no such policy file, and not a built-in policy "
            f"({', '.join(BUILTIN_NAMES)})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({type(exc).__name__})") from None
    return parse_policy(text, str(path))
