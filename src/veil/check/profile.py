"""Reading destination requirement profiles (YAML) with errors that name the line and problem.

A profile looks like::

    name: my-destination
    description: What the destination needs and why.
    uses:                                  # what it uses of a study (the rest is skipped)
      what: a 3D T1-weighted MR volume
      when: {all: [{image: true}, {attribute: Modality, matches: "^MR$"}]}
      series: [acquisition-3d, t1-weighted]  # series checks that select the series it uses
      study: any                           # any: one used series passing is enough; every
    age: {id: age, severity: warn, need: age norms, min-years: 3, max-years: 100}
    rules:                                 # attributes every file of a series must carry
      - id: patient-sex
        attribute: PatientSex
        severity: warn                     # fail | warn
        need: sex-normative report         # the downstream feature that needs it
        why: The report compares volumes with same-sex norms.
        fix: Enter the patient's sex at the scanner or in the RIS.
        unless: {valid: PatientAge}        # not needed when this holds (also: when:)
        quality-check: false               # true: skipped with --no-quality-checks
        preserve: keep                     # keep | derive-age | shift | no
    series:                                # checks on the whole series
      - {id: three-d, check: acquisition-3d, severity: fail, need: volumetry}
    private:                               # vendor private blocks, named by creator
      - {id: csa, creator: SIEMENS CSA HEADER, severity: warn, need: slice timing,
         when: {attribute: Manufacturer, matches: siemens},
         remove: [xx20]}                   # or elements: [...] (keep only), clean: [...]

Conditions: ``{valid: KW}``, ``{present: KW}``, ``{attribute: KW, matches: REGEX}``,
``{attribute: KW, contains: VALUE}``, ``{image: true}``, ``{multiframe: true}``,
``{any: [...]}``, ``{all: [...]}``, ``{not: {...}}``.
"""

from __future__ import annotations

import re
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

from pydicom.datadict import tag_for_keyword

from veil.check.model import (
    AgeRule,
    AttributeRule,
    Condition,
    Preserve,
    PrivateRule,
    RequirementProfile,
    RuleText,
    SeriesCheck,
    SeriesRule,
    Severity,
    StudyNeed,
    Uses,
)
from veil.errors import ProfileError
from veil.yamlnode import YamlNode, compose

TOP_KEYS = {"name", "description", "uses", "age", "rules", "series", "private"}
TEXT_KEYS = {"id", "severity", "need", "why", "fix", "when"}
USES_KEYS = {"what", "when", "series", "study"}
AGE_KEYS = (TEXT_KEYS - {"when"}) | {"min-years", "max-years"}
RULE_KEYS = TEXT_KEYS | {"attribute", "unless", "quality-check", "preserve", "allowed"}
SERIES_KEYS = TEXT_KEYS | {"check", "params", "quality-check"}
PRIVATE_KEYS = TEXT_KEYS | {"creator", "elements", "remove", "clean"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _keyword(node: YamlNode, what: str) -> str:
    keyword = node.scalar(what)
    if tag_for_keyword(keyword) is None:
        raise node.fail(f"'{keyword}' is not a DICOM keyword (e.g. PatientAge, Manufacturer)")
    return keyword


def _condition(node: YamlNode) -> Condition:
    fields = node.mapping("a condition")
    simple = {"valid", "present", "image", "multiframe"}
    if "attribute" in fields:
        keyword = _keyword(fields["attribute"], "attribute")
        tests = [name for name in fields if name != "attribute"]
        if tests not in (["matches"], ["contains"]):
            raise node.fail("a condition on 'attribute' needs exactly one of: matches, contains")
        pattern = fields[tests[0]].scalar(tests[0])
        if tests[0] == "matches":
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fields["matches"].fail(f"not a valid regular expression: {exc}") from None
        return Condition(tests[0], keyword, pattern, text=f"{keyword} {tests[0]} '{pattern}'")
    if len(fields) != 1:
        raise node.fail(
            "a condition has one key: valid, present, image, multiframe, any, all, not, "
            "or attribute with matches/contains"
        )
    kind, value = next(iter(fields.items()))
    if kind in ("valid", "present"):
        keyword = _keyword(value, kind)
        return Condition(
            kind, keyword, text=f"{keyword} {'is valid' if kind == 'valid' else 'is present'}"
        )
    if kind in simple:
        flag = value.flag(kind)
        noun = "an image" if kind == "image" else "multi-frame"
        text = f"it is {'' if flag else 'not '}{noun}"
        return Condition(kind, pattern="true" if flag else "false", text=text)
    if kind in ("any", "all"):
        children = tuple(_condition(child) for child in value.items(kind))
        if not children:
            raise value.fail(f"'{kind}' needs at least one condition")
        joiner = " or " if kind == "any" else " and "
        return Condition(
            kind, children=children, text="(" + joiner.join(c.text for c in children) + ")"
        )
    if kind == "not":
        child = _condition(value)
        return Condition("not", children=(child,), text=f"not {child.text}")
    raise node.fail(f"unknown condition '{kind}'")


E = TypeVar("E", bound=Enum)


def _enum(node: YamlNode, enum: type[E], what: str) -> E:
    value = node.scalar(what)
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise node.fail(f"{what} '{value}' is unknown; use one of: {choices}") from None


def _common(
    fields: dict[str, YamlNode], node: YamlNode, profile: str, what: str, seen: set[str]
) -> tuple[str, Severity, RuleText, Condition | None]:
    for required in ("id", "severity", "need"):
        if required not in fields:
            raise node.fail(f"{what} is missing '{required}'")
    rule_id = fields["id"].scalar("id")
    if not _ID.match(rule_id):
        raise fields["id"].fail(f"id '{rule_id}' must be lower-case letters, digits and dashes")
    if rule_id in seen:
        raise fields["id"].fail(f"id '{rule_id}' is used twice in this profile")
    seen.add(rule_id)
    severity = _enum(fields["severity"], Severity, "severity")
    text = RuleText(
        need=fields["need"].scalar("need"),
        why=fields["why"].scalar("why") if "why" in fields else "",
        fix=fields["fix"].scalar("fix") if "fix" in fields else "",
    )
    when = _condition(fields["when"]) if "when" in fields else None
    return f"{profile}/{rule_id}", severity, text, when


def _attribute_rule(node: YamlNode, profile: str, seen: set[str]) -> AttributeRule:
    fields = node.mapping("a rule", RULE_KEYS)
    if "attribute" not in fields:
        raise node.fail("a rule is missing 'attribute'")
    rule_id, severity, text, when = _common(fields, node, profile, "a rule", seen)
    allowed = (
        tuple(item.scalar("allowed value") for item in fields["allowed"].items("allowed"))
        if "allowed" in fields
        else ()
    )
    return AttributeRule(
        rule_id=rule_id,
        keyword=_keyword(fields["attribute"], "attribute"),
        severity=severity,
        text=text,
        when=when,
        unless=_condition(fields["unless"]) if "unless" in fields else None,
        quality_check=fields["quality-check"].flag("quality-check")
        if "quality-check" in fields
        else False,
        preserve=_enum(fields["preserve"], Preserve, "preserve")
        if "preserve" in fields
        else Preserve.KEEP,
        allowed=allowed,
        line=node.line,
    )


def _series_rule(node: YamlNode, profile: str, seen: set[str]) -> SeriesRule:
    fields = node.mapping("a series check", SERIES_KEYS)
    if "check" not in fields:
        raise node.fail("a series check is missing 'check'")
    rule_id, severity, text, when = _common(fields, node, profile, "a series check", seen)
    params: dict[str, float] = {}
    if "params" in fields:
        for name, value in fields["params"].mapping("params").items():
            raw = value.scalar(name)
            if raw.lower() in ("true", "false"):
                params[name] = 1.0 if raw.lower() == "true" else 0.0
                continue
            try:
                params[name] = float(raw)
            except ValueError:
                raise value.fail(f"parameter '{name}' must be a number, not '{raw}'") from None
    return SeriesRule(
        rule_id=rule_id,
        check=_enum(fields["check"], SeriesCheck, "check"),
        severity=severity,
        text=text,
        params=params,
        when=when,
        quality_check=fields["quality-check"].flag("quality-check")
        if "quality-check" in fields
        else False,
        line=node.line,
    )


def _private_rule(node: YamlNode, profile: str, seen: set[str]) -> PrivateRule:
    fields = node.mapping("a private block", PRIVATE_KEYS)
    if "creator" not in fields:
        raise node.fail("a private block is missing 'creator'")
    rule_id, severity, text, when = _common(fields, node, profile, "a private block", seen)
    creator = fields["creator"].scalar("creator")
    if not creator or len(creator) > 64:
        raise fields["creator"].fail("a private creator is 1 to 64 characters")
    elements = _elements(fields["elements"], "elements") if "elements" in fields else ()
    remove = _elements(fields["remove"], "remove") if "remove" in fields else ()
    clean = _elements(fields["clean"], "clean") if "clean" in fields else ()
    if set(elements) & set(remove) or set(clean) & set(remove) or set(clean) & set(elements):
        raise node.fail("an element can be in only one of 'elements', 'remove' and 'clean'")
    return PrivateRule(rule_id, creator, severity, text, when, node.line, elements, remove, clean)


def _elements(node: YamlNode, what: str) -> tuple[int, ...]:
    """Element numbers within a private block, written as in the standard: xx10, xx20."""
    found: list[int] = []
    for item in node.items(what):
        text = item.scalar(what).lower()
        if not re.fullmatch(r"xx[0-9a-f]{2}", text):
            raise item.fail(
                f"'{text}' in {what} is not an element of a private block; write it as "
                "xx10 (the element number within the block, in hexadecimal)"
            )
        found.append(int(text[2:], 16))
    return tuple(found)


def _uses(node: YamlNode) -> Uses:
    fields = node.mapping("uses", USES_KEYS)
    if "what" not in fields:
        raise node.fail("'uses' needs 'what': how reports name what the destination uses")
    checks = (
        tuple(_enum(item, SeriesCheck, "check") for item in fields["series"].items("series"))
        if "series" in fields
        else ()
    )
    return Uses(
        what=fields["what"].scalar("what"),
        when=_condition(fields["when"]) if "when" in fields else None,
        series=checks,
        study=_enum(fields["study"], StudyNeed, "study") if "study" in fields else StudyNeed.EVERY,
        line=node.line,
    )


def _years(fields: dict[str, YamlNode], name: str, default: float) -> float:
    if name not in fields:
        return default
    raw = fields[name].scalar(name)
    try:
        value = float(raw)
    except ValueError:
        raise fields[name].fail(f"{name} must be a number of years, not '{raw}'") from None
    if not 0 <= value <= 150:
        raise fields[name].fail(f"{name} must be between 0 and 150 years")
    return value


def _age(node: YamlNode, profile: str, seen: set[str]) -> AgeRule:
    fields = node.mapping("age", AGE_KEYS)
    rule_id, severity, text, _ = _common(fields, node, profile, "the age rule", seen)
    low, high = _years(fields, "min-years", 0.0), _years(fields, "max-years", 150.0)
    if low > high:
        raise node.fail("min-years is larger than max-years")
    return AgeRule(rule_id, severity, text, low, high, node.line)


def parse_profile(text: str, origin: str) -> RequirementProfile:
    """Parse and validate a profile's YAML text; `origin` names it in error messages."""
    root = compose(text, origin, ProfileError, "profile")
    top = root.mapping("the profile", TOP_KEYS)
    if "name" not in top:
        raise root.fail("the profile has no 'name'")
    name = top["name"].scalar("name")
    if not _ID.match(name):
        raise top["name"].fail(f"name '{name}' must be lower-case letters, digits and dashes")
    seen: set[str] = set()
    rules = (
        tuple(_attribute_rule(n, name, seen) for n in top["rules"].items("rules"))
        if "rules" in top
        else ()
    )
    series = (
        tuple(_series_rule(n, name, seen) for n in top["series"].items("series"))
        if "series" in top
        else ()
    )
    private = (
        tuple(_private_rule(n, name, seen) for n in top["private"].items("private"))
        if "private" in top
        else ()
    )
    if not (rules or series or private):
        raise root.fail("the profile has no rules, series checks or private blocks")
    return RequirementProfile(
        name=name,
        source=origin,
        description=top["description"].scalar("description") if "description" in top else "",
        rules=rules,
        series_rules=series,
        private_rules=private,
        uses=_uses(top["uses"]) if "uses" in top else Uses("every object"),
        age=_age(top["age"], name, seen) if "age" in top else None,
    )


def builtin_names() -> tuple[str, ...]:
    folder = files("veil.check").joinpath("profiles")
    return tuple(
        sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    )


def load_profile(name_or_path: str | Path) -> RequirementProfile:
    """A built-in profile by name (neuroquant, dcm2niix, basic-viewing) or a YAML file."""
    text_name = str(name_or_path)
    if text_name in builtin_names():
        resource = files("veil.check").joinpath("profiles", f"{text_name}.yaml")
        return parse_profile(resource.read_text(encoding="utf-8"), f"built-in profile {text_name}")
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read the profile: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ProfileError(f"{path}: the profile is not UTF-8 text") from None
        return parse_profile(text, str(path))
    raise ProfileError(
        f"unknown profile '{text_name}'; built-in profiles: {', '.join(builtin_names())}, "
        "or give the path to a YAML file"
    )
