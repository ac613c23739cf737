"""Fixtures for the attack tests: nodes on loopback, stopped whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.node_harness import ServedNode, node_config, serve
from veil.node.config import NodeConfig
from veil.node.service import Node


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start nodes in this process; keyword arguments change the test configuration."""
    started: list[Node] = []

    def start(config: NodeConfig | None = None, **changes: object) -> Node:
        node = Node(config or node_config(tmp_path, **changes))
        node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def served_node(tmp_path: Path) -> Iterator[Callable[..., ServedNode]]:
    """Start `veil serve` processes (stopped at the end)."""
    started: list[ServedNode] = []

    def start(
        node: dict[str, Any] | None = None, extra: dict[str, Any] | None = None, name: str = "node"
    ) -> ServedNode:
        served = serve(tmp_path / name, node, extra)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
