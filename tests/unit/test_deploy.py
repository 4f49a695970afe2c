"""Deployment files are valid: Kubernetes manifests against the API schemas, the KEDA
scaler against what its redis-streams trigger needs, compose against the Compose
Specification (what `docker compose config` checks, without needing Docker) and its own
rules; images are versioned, pinned and health-checked."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from loyalty_progress.api.auth import token_verifier
from loyalty_progress.config import Settings

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


def _kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name)


def test_the_service_exposes_the_read_side_and_prometheus_scrapes_the_metrics_port() -> None:
    deployment = _kind("Deployment", "loyalty-progress")
    config = _kind("ConfigMap", "loyalty-progress")["data"]
    template = deployment["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert ports == {
        "http": int(config["LOYALTY_HTTP_PORT"]),
        "metrics": int(config["LOYALTY_METRICS_PORT"]),
    }
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    service = _kind("Service", "loyalty-progress")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    # In a pod both servers listen beyond loopback, so the read side needs its key.
    assert config["LOYALTY_HTTP_HOST"] == config["LOYALTY_METRICS_HOST"] == "0.0.0.0"
    assert config["LOYALTY_AUTH"] == "jwt"


def test_the_public_key_file_is_mounted_where_the_worker_reads_it() -> None:
    config = _kind("ConfigMap", "loyalty-progress")["data"]
    pod = _kind("Deployment", "loyalty-progress")["spec"]["template"]["spec"]
    key_file = Path(config["LOYALTY_AUTH_PUBLIC_KEY_FILE"])
    [mount] = pod["containers"][0]["volumeMounts"]
    assert Path(mount["mountPath"]) == key_file.parent
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    keys = _kind("ConfigMap", volume["configMap"]["name"])["data"]
    assert key_file.name in keys


def test_the_network_policy_keeps_metrics_to_the_monitoring_namespace() -> None:
    policy = _kind("NetworkPolicy", "loyalty-progress")
    deployment = _kind("Deployment", "loyalty-progress")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = {r["ports"][0]["port"]: r.get("from") for r in policy["spec"]["ingress"]}
    assert rules["http"] is None  # the read side: from anywhere the Service is reachable
    assert rules["metrics"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert set(rules) == {"http", "metrics"}


def _image_env() -> dict[str, str]:
    text = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = (p for line in text.splitlines() if line.startswith("ENV ") for p in line.split()[1:])
    return dict(pair.partition("=")[::2] for pair in pairs)


def test_the_image_binds_every_interface_and_leaves_auth_to_the_deployment() -> None:
    env = _image_env()
    assert env["LOYALTY_HTTP_HOST"] == env["LOYALTY_METRICS_HOST"] == "0.0.0.0"
    assert (env["LOYALTY_HTTP_PORT"], env["LOYALTY_METRICS_PORT"]) == ("8080", "8081")
    # No key and no LOYALTY_AUTH=none baked in: a container without auth settings refuses.
    assert not [name for name in env if name.startswith("LOYALTY_AUTH")]


def test_compose_binds_services_to_loopback_and_its_workers_start_with_auth() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
    assert "--requirepass" in services["redis"]["command"]
    env = services["worker"]["environment"]
    password = services["redis"]["command"][services["redis"]["command"].index("--requirepass") + 1]
    assert f":{password}@redis:" in env["LOYALTY_REDIS_URL"]
    settings = Settings.from_env(env)
    assert settings.http_host == "0.0.0.0"
    assert token_verifier(settings) is not None  # would refuse to start otherwise


# --- reproducible images, and a Deployment KEDA and node drains can live with --------------


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_constraints_pin_every_declared_dependency_within_its_bounds() -> None:
    project = _project()
    declared = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    pins = _pins()
    for raw in declared:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run `make constraints`"
        assert requirement.specifier.contains(pins[name], prereleases=True), raw


def test_ci_and_the_image_install_the_pinned_versions() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--constraint constraints.txt" in makefile
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt" in dockerfile
    assert "--constraint constraints.txt" in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", dockerfile, re.M)


def test_the_image_checks_its_own_health() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    healthcheck = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", dockerfile, re.M)
    assert healthcheck is not None
    command = json.loads(healthcheck.group(1))
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")  # the inline program is valid Python


def test_images_carry_the_release_version_not_latest() -> None:
    version = _project()["version"]
    expected = f"loyalty-progress:{version}"
    images = [
        container["image"]
        for _, doc in DOCS
        if doc["kind"] in {"Deployment", "Job"}
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    images += [s["image"] for s in compose.values() if "build" in s]
    assert images
    assert set(images) == {expected}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"ARG VERSION={version}" in dockerfile


def test_the_autoscaler_alone_sets_the_replica_count() -> None:
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    scaled = next(d for _, d in DOCS if d["kind"] == "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]


def test_a_node_drain_with_one_replica_can_proceed() -> None:
    budget = next(d for _, d in DOCS if d["kind"] == "PodDisruptionBudget")
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    scaled = next(d for _, d in DOCS if d["kind"] == "ScaledObject")
    assert "minAvailable" not in budget["spec"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert scaled["spec"]["minReplicaCount"] >= 1


def test_in_flight_batches_finish_before_the_pod_goes() -> None:
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    command = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    # The pause, FastStream's 15 s drain, and room for the batch in hand.
    assert pod["terminationGracePeriodSeconds"] >= pause + 15 + 30
