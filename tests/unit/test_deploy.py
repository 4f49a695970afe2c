"""Deployment files are valid: Kubernetes manifests against the API schemas, the KEDA
scaler against what its redis-streams trigger needs, compose against the Compose
Specification (what `docker compose config` checks, without needing Docker) and its own
rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.name}:{doc['kind']}", doc))
    return docs


DOCS = _documents()
# Custom resources (KEDA, the Prometheus Operator) are checked by their own tests.
CUSTOM = ("keda.sh/", "monitoring.coreos.com/")
BUILT_IN = [(name, doc) for name, doc in DOCS if not doc["apiVersion"].startswith(CUSTOM)]


@pytest.mark.parametrize(("name", "doc"), BUILT_IN, ids=[n for n, _ in BUILT_IN])
def test_manifest_validates_against_the_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, "1.30", strict=True)


def test_worker_probes_and_grace_period_fit_the_worker() -> None:
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["terminationGracePeriodSeconds"] > 15  # FastStream drains for up to 15 s
    env = {e["name"] for e in worker["env"]}
    assert "LOYALTY_CONSUMER_NAME" in env


def test_keda_scales_the_worker_on_the_consumer_group_lag() -> None:
    scaled = next(d for _, d in DOCS if d["kind"] == "ScaledObject")
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    for trigger in scaled["spec"]["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis-streams"
        assert meta["consumerGroup"] == config["data"]["LOYALTY_CONSUMER_GROUP"]
        assert meta["stream"].startswith(config["data"]["LOYALTY_STREAM_PREFIX"] + ".")
        assert ("lagCount" in meta) or ("pendingEntriesCount" in meta)
        assert meta["addressFromEnv"] in config["data"]


def test_compose_file_follows_the_compose_specification() -> None:
    compose = PyCompose.from_yaml((ROOT / "docker-compose.yml").read_text())
    compose.validate()  # raises ValueError naming the field
    parsed: dict[str, Any] = compose.to_dict()
    services = set(parsed["services"])
    for name, service in parsed["services"].items():
        assert set(service.get("depends_on") or ()) <= services, name


def test_the_compose_check_rejects_what_compose_would() -> None:
    broken = "services:\n  worker:\n    image: x\n    restart: sometimes\n"
    with pytest.raises(ValueError, match="restart"):
        PyCompose.from_yaml(broken)


def test_compose_runs_migration_before_two_workers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "worker"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_runs_the_demo_against_the_healthy_workers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    demo, worker = services["demo"], services["worker"]
    assert demo["command"] == ["demo"]
    assert demo["build"] == worker["build"]
    assert demo["depends_on"]["worker"]["condition"] == "service_healthy"
    assert "healthcheck" in worker  # service_healthy needs one
    # The demo talks to the very servers the workers use.
    for name in ("LOYALTY_DATABASE_URL", "LOYALTY_REDIS_URL"):
        assert demo["environment"][name] == worker["environment"][name]
