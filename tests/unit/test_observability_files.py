"""The committed Grafana dashboard and Prometheus alert rules fit the worker: valid files of
their kind, and every metric their queries name is one the worker's registry exports (the
real registry, so a renamed metric fails here). No promtool here: the structure is checked
against a schema of `PrometheusRule`, the expressions for their metric names and brackets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from loyalty_progress.observability.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "loyalty-progress.json"
RULES = ROOT / "deploy" / "k8s" / "prometheus-rules.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"

OUR_METRIC = re.compile(r"\b(?:loyalty|process|python)_[a-z0-9_]+\b")
# Exported by kube-state-metrics, not by the worker.
EXTERNAL = {"kube_pod_status_ready"}
EXTERNAL_METRIC = re.compile(r"\bkube_[a-z0-9_]+\b")
DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}

RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}},
        },
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": DURATION},
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["alert", "expr"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": DURATION},
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "annotations": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}


def exported_series() -> set[str]:
    """Every series name the worker's registry can expose."""
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in _SUFFIXES[family.type]
    }


def unknown_metrics(expr: str, exported: set[str]) -> set[str]:
    """Metric names in a PromQL expression that nothing exports (strings left out)."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    ours = set(OUR_METRIC.findall(code)) - exported
    theirs = set(EXTERNAL_METRIC.findall(code)) - EXTERNAL
    return ours | theirs


def balanced(expr: str) -> bool:
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    depth: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in code:
        if char in "([{":
            depth.append(char)
        elif char in pairs and (not depth or depth.pop() != pairs[char]):
            return False
    return not depth


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_the_metric_check_catches_names_nobody_exports() -> None:
    exported = exported_series()
    assert "loyalty_batch_duration_seconds_bucket" in exported
    assert "process_resident_memory_bytes" in exported
    assert unknown_metrics("rate(loyalty_batch_size[5m])", exported) == {"loyalty_batch_size"}
    assert unknown_metrics('x{reason="loyalty_nothing"}', exported) == set()
    assert unknown_metrics("kube_nothing == 1", exported) == {"kube_nothing"}
    assert not balanced("sum(rate(x[5m])")


def test_the_dashboard_is_a_grafana_dashboard_of_our_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs, panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    exported = exported_series()
    for title, expr in _dashboard_exprs():
        assert balanced(expr), (title, expr)
        assert OUR_METRIC.search(expr), (title, expr)
        assert unknown_metrics(expr, exported) == set(), (title, expr)


@pytest.mark.parametrize(
    "topic",
    ["loyalty_events_applied_total", "loyalty_consumer_lag_entries",
     "loyalty_batch_duration_seconds_bucket", "loyalty_dead_lettered_total",
     "loyalty_outbox_backlog_rows"],
)  # fmt: skip
def test_the_dashboard_shows_what_operators_watch(topic: str) -> None:
    assert any(topic in expr for _title, expr in _dashboard_exprs())


def test_the_alert_rules_are_a_valid_prometheus_rule_of_our_metrics() -> None:
    document = yaml.safe_load(RULES.read_text())
    jsonschema.validate(document, RULE_SCHEMA)
    exported = exported_series()
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names))
    for rule in _rules():
        assert balanced(rule["expr"]), rule["alert"]
        assert unknown_metrics(rule["expr"], exported) == set(), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_the_rule_schema_rejects_what_the_operator_would() -> None:
    broken = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
              "metadata": {"name": "x"},
              "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up",
                                                            "for": "ten minutes"}]}]}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError, match="ten minutes"):
        jsonschema.validate(broken, RULE_SCHEMA)


def test_the_runbook_lists_exactly_the_committed_alerts() -> None:
    rows = re.findall(r"^\| `(Loyalty\w+)`[^|]*\| `(.+?)` \| (\w+) \|", RUNBOOK.read_text(), re.M)
    documented = {name: (expr, duration) for name, expr, duration in rows}
    committed = {rule["alert"]: (rule["expr"], rule["for"]) for rule in _rules()}
    assert documented == committed
