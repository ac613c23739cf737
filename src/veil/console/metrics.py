"""Prometheus metrics: the node's counts and durations, read from its store at scrape time.

Labels are states, destination names and route templates (``/studies/{key}``), never a study
key, a pseudonym or anything else a request carried, so the metrics hold no identifier and
their cardinality stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from veil.console import nodeview
from veil.node.config import NodeConfig
from veil.node.store import Store

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, float("inf"))


class NodeCollector(Collector):
    def __init__(self, store: Store, config: NodeConfig) -> None:
        self.store = store
        self.config = config

    def collect(self) -> Iterator[Metric]:
        board = nodeview.dashboard(self.store, self.config)
        studies = GaugeMetricFamily("veil_studies", "Studies per state", labels=["state"])
        for state, n in board.counts.items():
            studies.add_metric([state], n)
        yield studies
        returns = GaugeMetricFamily("veil_returns", "Returned results per state", labels=["state"])
        for state, n in board.returns.items():
            returns.add_metric([state], n)
        yield returns
        yield GaugeMetricFamily(
            "veil_instances_sent_last_hour",
            "Instances delivered to any destination in the last hour",
            value=board.sent_last_hour,
        )
        if board.disk_free_bytes is not None:
            yield GaugeMetricFamily(
                "veil_spool_disk_free_bytes",
                "Free space on the spool's file system",
                value=board.disk_free_bytes,
            )
        paused = GaugeMetricFamily(
            "veil_destination_paused", "1 when a destination is paused", labels=["destination"]
        )
        last_send = GaugeMetricFamily(
            "veil_destination_last_send_timestamp_seconds",
            "When a destination last accepted an instance",
            labels=["destination"],
        )
        for dest in board.destinations:
            paused.add_metric([dest.name], 1.0 if dest.paused else 0.0)
            if dest.last_send_at is not None:
                last_send.add_metric([dest.name], dest.last_send_at)
        yield paused
        yield last_send
        durations = nodeview.processing_seconds(self.store)
        buckets = []
        for bound in BUCKETS:
            label = "+Inf" if bound == float("inf") else repr(bound)
            buckets.append((label, float(sum(1 for d in durations if d <= bound))))
        yield HistogramMetricFamily(
            "veil_study_seconds",
            "First instance received to study sent, for studies sent",
            buckets=buckets,
            sum_value=sum(durations),
        )


class Metrics:
    """The console's own registry: the node collector and HTTP request metrics."""

    def __init__(self, store: Store, config: NodeConfig) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(NodeCollector(store, config))
        self.requests = Counter(
            "veil_console_requests",
            "Console HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "veil_console_request_seconds",
            "Console HTTP request duration",
            ["route"],
            registry=self.registry,
        )
        self.started = time.time()
