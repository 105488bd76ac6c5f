"""Prometheus metrics, one registry per application (no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.orders = Gauge("bayar_orders", "Orders by status", ["status"], registry=self.registry)
        self.notifications = Counter(
            "bayar_notifications_total",
            "Gateway notifications received, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.gateway_calls = Histogram(
            "bayar_gateway_call_seconds",
            "Latency of outbound gateway calls",
            ["operation", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.transitions = Counter(
            "bayar_order_transitions_total",
            "Order status changes",
            ["to_status", "source"],
            registry=self.registry,
        )

        # An alarm (issue 12): the gateway denied knowing a transaction it had answered for.
        self.gateway_unknown = Counter(
            "bayar_gateway_unknown_total",
            "Orders the gateway said it does not know after it answered for them",
            registry=self.registry,
        )

    def observe_gateway(self, operation: str, seconds: float, outcome: str) -> None:
        self.gateway_calls.labels(operation, outcome).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
