"""Reading declarative YAML (policies, requirement profiles) with the line of every value.

Users write these files by hand; an error must say which file, which line and what is wrong.
``yaml.compose`` keeps the marks that ``yaml.safe_load`` throws away.
"""

from __future__ import annotations

import yaml

from veil.errors import VeilError

# libyaml's loader where PyYAML was built with it: the same nodes and lines (not the same
# scalar styles, which nothing here reads), 7.2 -> 0.5 ms for a requirement profile, read at
# every start of `veil deid --for` (issue 12). The pure-Python one otherwise.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


class YamlNode:
    """A YAML node with its file and line; ``error`` is the VeilError subclass to raise."""

    def __init__(self, node: yaml.Node, origin: str, error: type[VeilError]) -> None:
        self.node = node
        self.origin = origin
        self.error = error
        self.line = node.start_mark.line + 1

    def _child(self, node: yaml.Node) -> YamlNode:
        return YamlNode(node, self.origin, self.error)

    def fail(self, problem: str) -> VeilError:
        return self.error(f"{self.origin}: line {self.line}: {problem}")

    def scalar(self, what: str) -> str:
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.fail(f"{what} must be a single value")
        return str(self.node.value).strip()

    def flag(self, what: str) -> bool:
        value = self.scalar(what).lower()
        if value not in ("true", "false", "yes", "no"):
            raise self.fail(f"{what} must be true or false, not '{value}'")
        return value in ("true", "yes")

    def items(self, what: str) -> list[YamlNode]:
        if isinstance(self.node, yaml.ScalarNode) and self.node.value in ("", "~", "null"):
            return []
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list")
        return [self._child(child) for child in self.node.value]

    def mapping(self, what: str, allowed: set[str] | None = None) -> dict[str, YamlNode]:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping of keys to values")
        result: dict[str, YamlNode] = {}
        for key, value in self.node.value:
            name = str(key.value)
            key_node = self._child(key)
            if name in result:
                raise key_node.fail(f"key '{name}' appears twice")
            if allowed is not None and name not in allowed:
                raise key_node.fail(
                    f"unknown key '{name}' in {what}; allowed: {', '.join(sorted(allowed))}"
                )
            result[name] = self._child(value)
        return result


def compose(text: str, origin: str, error: type[VeilError], what: str) -> YamlNode:
    """The root node of ``text``; invalid or empty YAML raises ``error`` naming the line."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{origin}: {where}not valid YAML ({problem})") from None
    if root is None:
        raise error(f"{origin}: the {what} is empty")
    return YamlNode(root, origin, error)
