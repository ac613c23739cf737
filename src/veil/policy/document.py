"""A policy as an editor holds it: the fields of the console's form, and their YAML.

The form and the YAML view are two views of one `PolicyDocument`: the form is read into a
document and written out as YAML; YAML is checked by the policy loader (errors name the line)
and read back into a document. Writing a document and reading it back gives the same document
(`tests/policy/test_document_round_trip.py`); YAML read and written again keeps its meaning but
not its comments or layout (the console says so).

The document holds text as the user wrote it (an attribute keyword or a tag, a private
creator); whether it is valid is the loader's word, with a line number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml

from veil.errors import PolicyError
from veil.policy.loader import option_by_name, parse_policy
from veil.policy.model import OVERRIDE_WORDS, Policy
from veil.standard import Option
from veil.yamlnode import YamlNode, compose

# Words YAML 1.1 would read as something else than text.
_SPECIAL = {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~"}
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9 ._/-]*[A-Za-z0-9._-]$|^[A-Za-z]$")


def quoted(value: str) -> str:
    """``value`` double-quoted for YAML (a JSON string is a valid YAML one), with every
    character that is not printable escaped: YAML folds line and paragraph separators."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def yaml_text(value: str) -> str:
    """``value`` as a YAML scalar that reads back as the same text, in flow context too:
    plain when that is safe, else double-quoted."""
    if _PLAIN.match(value) and value.lower() not in _SPECIAL:
        return value
    return quoted(value)


def option_names() -> tuple[str, ...]:
    """The options a policy may name, in the standard's order."""
    return tuple(option.value for option in Option if option is not Option.BASIC)


@dataclass(frozen=True)
class OverrideLine:
    """One override: a public attribute (keyword or tag) or a private one (by its creator)."""

    action: str  # an override word: keep, remove, replace...
    attribute: str = ""  # keyword or "(gggg,eeee)"; empty for a private attribute
    value: str = ""  # for replace
    creator: str = ""  # a private attribute's private creator
    group: str = ""  # its odd group ("0029"), or empty for any group
    element: str = ""  # its element in the block ("10"), or empty for the whole block
    # A row of the editor meant for a private attribute, its creator not typed yet.
    private: bool = field(default=False, compare=False)

    @property
    def is_private(self) -> bool:
        return self.private or bool(self.creator)

    @property
    def blank(self) -> bool:
        """A row the editor added and nobody filled: not part of the policy."""
        return not self.attribute.strip() and not self.creator.strip()

    def yaml(self) -> str:
        if self.is_private:
            parts = [f"creator: {yaml_text(self.creator)}"]
            if self.group:
                parts.append(f"group: {json.dumps(self.group)}")
            if self.element:
                parts.append(f"element: {json.dumps(self.element)}")
            attribute = "{" + ", ".join(parts) + "}"
        else:
            attribute = yaml_text(self.attribute)
        text = f"{{attribute: {attribute}, action: {yaml_text(self.action)}"
        if self.action == "replace":
            text += f", value: {quoted(self.value)}"
        return text + "}"


@dataclass(frozen=True)
class PolicyDocument:
    """Everything a policy says, as the editor's fields."""

    name: str
    description: str = ""
    options: tuple[str, ...] = ()  # option names (Option values)
    requirements: tuple[str, ...] = ()  # destination profile names
    overrides: tuple[OverrideLine, ...] = ()
    layout: str = ""  # "", "mirror" or "hierarchy"

    def to_yaml(self) -> str:
        """The policy file for this document (the YAML view, a saved version, an export)."""
        lines = [f"name: {yaml_text(self.name)}"]
        if self.description:
            lines.append(f"description: {quoted(self.description)}")
        lines.append("base: basic")
        ordered = [name for name in option_names() if name in self.options]
        lines.append(f"options: [{', '.join(ordered)}]")
        lines.append(f"requirements: [{', '.join(yaml_text(r) for r in self.requirements)}]")
        if self.layout:
            lines.append(f"layout: {self.layout}")
        overrides = [override for override in self.overrides if not override.blank]
        if overrides:
            lines.append("overrides:")
            lines += [f"  - {override.yaml()}" for override in overrides]
        else:
            lines.append("overrides: []")
        return "\n".join(lines) + "\n"

    def policy(self, origin: str) -> Policy:
        """The policy this document is (PolicyError naming the line of `to_yaml`'s text)."""
        return parse_policy(self.to_yaml(), origin)


def _scalar(node: YamlNode, what: str) -> str:
    return node.scalar(what).strip()


def _override(node: YamlNode) -> OverrideLine:
    fields = node.mapping("an override")
    action = _scalar(fields["action"], "action").lower()
    value = _scalar(fields["value"], "value") if "value" in fields else ""
    attribute = fields["attribute"]
    if isinstance(attribute.node, yaml.MappingNode):
        private = attribute.mapping("a private attribute")

        def part(key: str) -> str:
            return _scalar(private[key], key) if key in private else ""

        return OverrideLine(
            action,
            value=value,
            creator=part("creator"),
            group=part("group"),
            element=part("element"),
            private=True,
        )
    return OverrideLine(action, _scalar(attribute, "attribute"), value)


def document_from_yaml(text: str, origin: str) -> PolicyDocument:
    """Read a policy's YAML into a document; PolicyError (naming the line) when the loader
    refuses it. Scalars are read as written (``0010`` stays text, never a number)."""
    policy = parse_policy(text, origin)  # validates every field, with line numbers
    root = compose(text, origin, PolicyError, "policy file").mapping("a policy")
    options = (
        tuple(
            option_by_name(_scalar(item, "an option")).value for item in root["options"].items("")
        )
        if "options" in root
        else ()
    )
    requirements = (
        tuple(_scalar(item, "a requirement") for item in root["requirements"].items(""))
        if "requirements" in root
        else ()
    )
    overrides = (
        tuple(_override(item) for item in root["overrides"].items(""))
        if "overrides" in root
        else ()
    )
    return PolicyDocument(
        name=policy.name,
        description=policy.description,
        options=tuple(name for name in option_names() if name in options),
        requirements=requirements,
        overrides=overrides,
        layout=policy.layout.value if policy.layout is not None else "",
    )


def is_override_word(word: str) -> bool:
    return word in OVERRIDE_WORDS


__all__ = [
    "OverrideLine",
    "PolicyDocument",
    "document_from_yaml",
    "is_override_word",
    "option_names",
    "yaml_text",
]
