"""Static checks of the Helm chart in helm/inference-sidecar.

How the chart is rendered: with Helm itself. The PyPI package ``helm-python-sdk`` (import name
``helm_python``) ships ``libhelm_c``, a C ABI over Helm's official Go SDK (Helm v4), loaded with
ctypes. So ``helm lint``, ``helm template`` (``Chart.render``: offline, no cluster; ``lookup`` returns
nothing) and the values.schema.json check are Helm's own code, not a re-implementation: every Go
template and Sprig function the chart uses behaves as it will under ``helm install``.

What is checked:

* ``helm lint --strict`` passes for the default values and tests/deploy/values-production.yaml;
* values files validate against values.schema.json (with ``jsonschema``, draft-07) and bad values
  files are rejected both by ``jsonschema`` and by Helm;
* cross-key rules the chart enforces with ``fail``/``required`` fire;
* every rendered object validates against the Kubernetes OpenAPI schemas shipped by the PyPI package
  ``kubernetes-validate`` (strict: unknown fields are errors), for the oldest Kubernetes the chart
  supports and the newest the package knows; the ServiceMonitor (a CRD) against
  tests/deploy/servicemonitor.schema.json, a subset of the Prometheus Operator's schema;
* security: non-root uid 10001, read-only root filesystem, no privilege escalation, all capabilities
  dropped, RuntimeDefault seccomp, a writable /tmp emptyDir, no service-account token, secrets reach
  the pod only through secretKeyRef;
* the health probes' paths, terminationGracePeriodSeconds > shutdown grace + drain, and that the
  rendered environment is accepted by the application's own Settings.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from sidecar.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "inference-sidecar"
HERE = Path(__file__).resolve().parent
PRODUCTION = HERE / "values-production.yaml"
RELEASE = "sidecar"
NAMESPACE = "search"
# The chart's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]

SECRET_ENV = {"SIDECAR_SECRETS_KEY", "SIDECAR_SECRETS_OLD_KEYS", "SIDECAR_ES_USERNAME", "SIDECAR_ES_PASSWORD",
              "SIDECAR_ES_API_KEY"}
# Settings the chart deliberately leaves alone: development mode only.
NOT_FOR_KUBERNETES = {"dev", "dev_es_port"}

TEST_KEY = base64.b64encode(bytes(range(32))).decode()
OLD_KEY = base64.b64encode(bytes(range(32, 64))).decode()
CREATED_SECRET_VALUES: dict[str, Any] = {
    "secrets": {
        "create": True,
        "secretsKey": TEST_KEY,
        "secretsOldKeys": OLD_KEY,
        "esUsername": "sentinel-user-3f9a",
        "esPassword": "sentinel-password-8c1d",
    },
}


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        data = yaml.safe_load(handle)
    return data or {}


def production_values() -> dict[str, Any]:
    return load_yaml(PRODUCTION)


VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "production": production_values(),
    "created-secret": CREATED_SECRET_VALUES,
    "everything-on": {
        **copy.deepcopy(CREATED_SECRET_VALUES),
        "elasticsearch": {"urls": ["https://es:9200"], "auth": "basic",
                          "caCert": {"configMapName": "es-ca", "key": "ca.pem"}},
        "autoscaling": {"enabled": True},
        "podDisruptionBudget": {"enabled": True, "minAvailable": "50%", "maxUnavailable": None},
        "metrics": {"serviceMonitor": {"enabled": True, "namespace": "monitoring",
                                       "relabelings": [{"action": "labeldrop", "regex": "pod_template_hash"}]}},
        "networkPolicy": {"enabled": True,
                          "egress": {"elasticsearch": {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]},
                                     "extra": [{"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
                                                "ports": [{"port": 8080, "protocol": "TCP"}]}]}},
        "podAntiAffinity": "",
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "DoNotSchedule"}],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "tmpSizeLimit": "",
        "podAnnotations": {"example.com/team": "search"},
        "serviceAccount": {"annotations": {"example.com/role": "none"}},
        "service": {"type": "ClusterIP", "port": 80, "annotations": {"example.com/x": "y"}},
        "image": {"repository": "registry.example.com/sidecar", "digest": "sha256:" + "a" * 64},
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm_python.Chart, values: dict[str, Any]) -> dict[str, str]:
    """`helm template sidecar helm/inference-sidecar -n search -f values`: template path -> text."""
    manifests = chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
    return {Path(path).name: text for path, text in manifests.items()}


def objects(manifests: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for name, text in manifests.items():
        if not name.endswith(".yaml"):
            continue
        found.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return found


def by_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["kind"] == kind]


def the(items: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = by_kind(items, kind)
    assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
    return matches[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(deployment)["env"]}


@pytest.fixture(scope="module")
def rendered(chart: helm_python.Chart) -> dict[str, list[dict[str, Any]]]:
    return {name: objects(render(chart, values)) for name, values in VALUE_SETS.items()}


# --- helm lint and the values schema ------------------------------------------------------------------


@pytest.mark.parametrize("values_name", ["default", "production"])
def test_helm_lint_strict_is_clean(values_name: str) -> None:
    report = helm_python.lint(CHART, copy.deepcopy(VALUE_SETS[values_name]), strict=True, namespace=NAMESPACE,
                              kube_version="v1.25.0")
    assert report["errors"] == []
    # Severity 1 is informational (e.g. "icon is recommended"); warnings and errors are not allowed.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.fixture(scope="module")
def values_schema() -> dict[str, Any]:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    return schema


@pytest.mark.parametrize("path", [CHART / "values.yaml", PRODUCTION], ids=["values.yaml", "values-production"])
def test_values_files_match_the_schema(values_schema: dict[str, Any], path: Path) -> None:
    jsonschema.Draft7Validator(values_schema).validate(load_yaml(path))


def test_every_default_value_is_in_the_schema(values_schema: dict[str, Any]) -> None:
    """Each leaf of values.yaml is declared (so additionalProperties: false never rejects a default)."""

    def walk(values: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        for key, value in values.items():
            assert key in schema.get("properties", {}), f"{path}{key} is not in values.schema.json"
            sub = schema["properties"][key]
            if isinstance(value, dict) and sub.get("additionalProperties") is False:
                walk(value, sub, f"{path}{key}.")

    walk(load_yaml(CHART / "values.yaml"), values_schema, "")


def declared_values(schema: dict[str, Any], path: str = "") -> set[str]:
    """Dotted names of every value the chart owns: leaves of the schema's closed objects."""
    names: set[str] = set()
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and sub.get("additionalProperties") is False:
            names |= declared_values(sub, f"{path}{key}.")
        else:
            names.add(f"{path}{key}")
    return names


def test_every_value_is_documented(values_schema: dict[str, Any]) -> None:
    readme = (ROOT / "helm" / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Za-z][\w.]*)` \|", readme, flags=re.MULTILINE))
    declared = declared_values(values_schema)
    assert declared - documented == set(), "values missing from helm/README.md"
    assert documented - declared == set(), "helm/README.md documents values the chart does not have"


BAD_VALUES: dict[str, dict[str, Any]] = {
    "negative replicas": {"replicaCount": -1},
    "replicas as string": {"replicaCount": "3"},
    "fractional replicas": {"replicaCount": 2.5},
    "unknown top-level key": {"replicas": 3},
    "unknown nested key": {"config": {"logFormatt": "json"}},
    "bad log format": {"config": {"logFormat": "xml"}},
    "bad log level": {"config": {"logLevel": "TRACE"}},
    "api compat as a number": {"config": {"apiCompat": 8.12}},
    "unknown api compat": {"config": {"apiCompat": "7.17"}},
    "negative drain": {"config": {"shutdownDrainSeconds": -1}},
    "es urls as a string": {"elasticsearch": {"urls": "https://es:9200"}},
    "no es urls": {"elasticsearch": {"urls": []}},
    "es url without scheme": {"elasticsearch": {"urls": ["es:9200"]}},
    "bad auth": {"elasticsearch": {"auth": "token"}},
    "verifyCerts as string": {"elasticsearch": {"verifyCerts": "no"}},
    "secrets key not 32 bytes": {"secrets": {"create": True, "secretsKey": "c2hvcnQ=", "esUsername": "u",
                                             "esPassword": "p"}},
    "bad secret key name": {"secrets": {"keys": {"secretsKey": "has space"}}},
    "port out of range": {"service": {"port": 70000}},
    "bad service type": {"service": {"type": "ExternalName"}},
    "zero probe period": {"probes": {"liveness": {"periodSeconds": 0}}},
    "bad anti-affinity": {"podAntiAffinity": "maybe"},
    "maxReplicas as string": {"autoscaling": {"maxReplicas": "ten"}},
    "zero minReplicas": {"autoscaling": {"minReplicas": 0}},
    "bad pdb percent": {"podDisruptionBudget": {"minAvailable": "half"}},
    "bad scrape interval": {"metrics": {"serviceMonitor": {"interval": "often"}}},
    "bad image digest": {"image": {"digest": "sha256:xyz"}},
    "bad pull policy": {"image": {"pullPolicy": "Sometimes"}},
    "terminationGrace zero": {"terminationGracePeriodSeconds": 0},
    "network policy typo": {"networkPolicy": {"egres": {}}},
    "provider ipBlock without cidr": {"networkPolicy": {"egress": {"providers": {"ipBlocks": [{"except": []}]}}}},
    "env without name": {"extraEnv": [{"value": "x"}]},
}


def merged(values: dict[str, Any]) -> dict[str, Any]:
    """values.yaml overlaid with `values`, as Helm coalesces them."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for key, value in over.items():
                out[key] = merge(base.get(key), value) if key in base else value
            return out
        return over

    return merge(load_yaml(CHART / "values.yaml"), values)


@pytest.mark.parametrize("values", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_values_are_rejected_by_the_schema(values_schema: dict[str, Any], values: dict[str, Any]) -> None:
    assert list(jsonschema.Draft7Validator(values_schema).iter_errors(merged(values)))


@pytest.mark.parametrize("values", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_values_are_rejected_by_helm(chart: helm_python.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmError, match="schema"):
        render(chart, values)


TEMPLATE_FAILURES: dict[str, tuple[dict[str, Any], str]] = {
    "grace too short": (
        {"terminationGracePeriodSeconds": 35},
        "terminationGracePeriodSeconds .* must exceed",
    ),
    "grace too short for custom drain": (
        {"config": {"shutdownGraceSeconds": 10, "shutdownDrainSeconds": 60}, "terminationGracePeriodSeconds": 60},
        "must exceed",
    ),
    "two CA sources": (
        {"elasticsearch": {"caCert": {"secretName": "a", "configMapName": "b"}}},
        "at most one of elasticsearch.caCert",
    ),
    "no secret at all": ({"secrets": {"create": False, "existingSecret": ""}}, "secrets.existingSecret is required"),
    "created secret without key": (
        {"secrets": {"create": True, "esUsername": "u", "esPassword": "p"}},
        "secrets.secretsKey is required",
    ),
    "created secret without password": (
        {"secrets": {"create": True, "secretsKey": TEST_KEY, "esUsername": "u"}},
        "secrets.esPassword is required",
    ),
    "created secret without api key": (
        {"elasticsearch": {"auth": "apiKey"}, "secrets": {"create": True, "secretsKey": TEST_KEY}},
        "secrets.esApiKey is required",
    ),
    "pdb with both bounds": (
        {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}},
        "only one of podDisruptionBudget",
    ),
    "hpa max below min": (
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}},
        "maxReplicas must be at least",
    ),
}


@pytest.mark.parametrize(("values", "message"), list(TEMPLATE_FAILURES.values()), ids=list(TEMPLATE_FAILURES))
def test_cross_key_rules_fail_the_render(chart: helm_python.Chart, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(chart, values)


# --- Kubernetes schemas ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servicemonitor_schema() -> dict[str, Any]:
    schema = json.loads((HERE / "servicemonitor.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_rendered_objects_match_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]],
    servicemonitor_schema: dict[str, Any],
    values_name: str,
    kube_version: str,
) -> None:
    items = rendered[values_name]
    assert items
    for item in items:
        where = f"{item['kind']}/{item['metadata']['name']}"
        assert item["metadata"].get("namespace") == NAMESPACE or item["kind"] == "ServiceMonitor", where
        if item["apiVersion"] == "monitoring.coreos.com/v1":
            jsonschema.Draft7Validator(servicemonitor_schema).validate(item)
            continue
        try:
            kubernetes_validate.validate(item, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{where} is not a valid object for Kubernetes {kube_version}: {path}: {exc.message}")


def test_the_kubernetes_validator_is_not_vacuous(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = copy.deepcopy(the(rendered["default"], "Deployment"))
    container(deployment)["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(the(rendered["default"], "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


def test_the_servicemonitor_schema_rejects_mistakes(
    rendered: dict[str, list[dict[str, Any]]], servicemonitor_schema: dict[str, Any]
) -> None:
    monitor = the(rendered["production"], "ServiceMonitor")
    for mutate in (
        lambda m: m["spec"].pop("selector"),
        lambda m: m["spec"]["endpoints"][0].update(intervall="30s"),
        lambda m: m["spec"]["endpoints"][0].update(interval=30),
        lambda m: m.update(apiVersion="monitoring.coreos.com/v1beta1"),
    ):
        broken = copy.deepcopy(monitor)
        mutate(broken)
        assert list(jsonschema.Draft7Validator(servicemonitor_schema).iter_errors(broken))


# --- what each values set renders -----------------------------------------------------------------------


def test_default_values_render_the_minimum(rendered: dict[str, list[dict[str, Any]]]) -> None:
    items = rendered["default"]
    assert sorted(item["kind"] for item in items) == ["Deployment", "Service", "ServiceAccount"]
    deployment = the(items, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    env = env_of(deployment)
    assert env["SIDECAR_SECRETS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "inference-sidecar"
    assert "SIDECAR_ES_CA_CERTS" not in env
    assert container(deployment)["image"] == "inference-sidecar:0.1.0"


def test_production_values_render_every_optional_object(rendered: dict[str, list[dict[str, Any]]]) -> None:
    items = rendered["production"]
    assert sorted(item["kind"] for item in items) == [
        "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service",
        "ServiceAccount", "ServiceMonitor",
    ]
    deployment = the(items, "Deployment")
    # The HPA owns the replica count.
    assert "replicas" not in deployment["spec"]
    hpa = the(items, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    pdb = the(items, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2 and "maxUnavailable" not in pdb["spec"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert the(items, "Service")["spec"]["selector"] == selector
    assert the(items, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == selector

    monitor = the(items, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["path"] == "/_sidecar/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    service_labels = the(items, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()

    # Existing Secret, API key auth, no Secret object in the release.
    assert not by_kind(items, "Secret")
    env = env_of(deployment)
    assert env["SIDECAR_ES_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "inference-sidecar-prod",
                                                                      "key": "es-api-key"}
    assert "SIDECAR_ES_USERNAME" not in env and "SIDECAR_ES_PASSWORD" not in env
    assert env["SIDECAR_ES_URL"]["value"].count(",") == 2


@pytest.mark.parametrize("values_name", ["production", "everything-on"])
def test_ca_certificate_is_mounted_where_the_setting_points(
    rendered: dict[str, list[dict[str, Any]]], values_name: str
) -> None:
    deployment = the(rendered[values_name], "Deployment")
    ca_path = Path(env_of(deployment)["SIDECAR_ES_CA_CERTS"]["value"])
    mount = next(m for m in container(deployment)["volumeMounts"] if m["mountPath"] == str(ca_path.parent))
    assert mount["readOnly"] is True
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    source = volume.get("secret") or volume.get("configMap")
    assert source is not None
    assert [item["path"] for item in source["items"]] == [ca_path.name]
    if values_name == "production":
        assert volume["secret"]["secretName"] == "es-prod-http-ca"
    else:
        assert volume["configMap"] == {"name": "es-ca", "items": [{"key": "ca.pem", "path": "ca.crt"}]}


def test_network_policy_allows_elasticsearch_dns_and_providers(rendered: dict[str, list[dict[str, Any]]]) -> None:
    policy = the(rendered["production"], "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(ingress["from"]) == 2
    ports = [[(p["port"], p["protocol"]) for p in rule["ports"]] for rule in policy["egress"]]
    assert ports == [[(9200, "TCP")], [(53, "UDP"), (53, "TCP")], [(443, "TCP")]]
    es_rule, dns_rule, provider_rule = policy["egress"]
    assert es_rule["to"][0]["podSelector"]["matchLabels"]["elasticsearch.k8s.elastic.co/cluster-name"] == "es-prod"
    assert dns_rule["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    (block,) = provider_rule["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "169.254.0.0/16"} <= set(block["ipBlock"]["except"])


# --- security -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_pod_runs_locked_down(rendered: dict[str, list[dict[str, Any]]], values_name: str) -> None:
    deployment = the(rendered[values_name], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    context = container(deployment)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # The one writable place is an emptyDir at /tmp.
    tmp = next(m for m in container(deployment)["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    for account in by_kind(rendered[values_name], "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_secrets_reach_the_pod_only_by_reference(rendered: dict[str, list[dict[str, Any]]], values_name: str) -> None:
    deployment = the(rendered[values_name], "Deployment")
    env = env_of(deployment)
    assert "SIDECAR_SECRETS_KEY" in env
    for name, item in env.items():
        if name in SECRET_ENV:
            assert "value" not in item, name
            assert set(item["valueFrom"]) == {"secretKeyRef"}, name
        elif "valueFrom" in item:
            assert "secretKeyRef" in item["valueFrom"] or "fieldRef" in item["valueFrom"], name
    assert env["SIDECAR_SECRETS_KEY"]["valueFrom"]["secretKeyRef"].get("optional") is not True
    assert env["SIDECAR_SECRETS_OLD_KEYS"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_created_secret_values_stay_out_of_the_deployment(chart: helm_python.Chart) -> None:
    manifests = render(chart, CREATED_SECRET_VALUES)
    sensitive = [TEST_KEY, OLD_KEY, "sentinel-user-3f9a", "sentinel-password-8c1d"]
    deployment_text = manifests["deployment.yaml"]
    for value in sensitive:
        assert value not in deployment_text
        assert base64.b64encode(value.encode()).decode() not in deployment_text
    for name, text in manifests.items():
        if name != "secret.yaml":
            assert not any(value in text for value in sensitive), name

    items = objects(manifests)
    secret = the(items, "Secret")
    deployment = the(items, "Deployment")
    assert secret["type"] == "Opaque"
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {"secrets-key": TEST_KEY, "secrets-old-keys": OLD_KEY, "es-username": "sentinel-user-3f9a",
                       "es-password": "sentinel-password-8c1d"}
    for name in ("SIDECAR_SECRETS_KEY", "SIDECAR_ES_USERNAME", "SIDECAR_ES_PASSWORD"):
        assert env_of(deployment)[name]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]


def test_secret_checksum_rolls_the_pods_when_the_secret_changes(chart: helm_python.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = the(objects(render(chart, values)), "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]

    first = checksum(CREATED_SECRET_VALUES)
    assert len(first) == 64
    assert checksum(CREATED_SECRET_VALUES) == first
    changed = copy.deepcopy(CREATED_SECRET_VALUES)
    changed["secrets"]["esPassword"] = "another-password"
    assert checksum(changed) != first
    # No Secret from the chart, nothing to hash.
    default = the(objects(render(chart, {})), "Deployment")
    assert "checksum/secret" not in default["spec"]["template"]["metadata"].get("annotations", {})


# --- probes, shutdown, settings -------------------------------------------------------------------------


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_probes_use_the_health_routes(rendered: dict[str, list[dict[str, Any]]], values_name: str) -> None:
    main = container(the(rendered[values_name], "Deployment"))
    assert main["ports"] == [{"name": "http", "containerPort": 9280, "protocol": "TCP"}]
    assert main["startupProbe"]["httpGet"] == {"path": "/_sidecar/health/live", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/_sidecar/health/live", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/_sidecar/health/ready", "port": "http"}
    assert "lifecycle" not in main  # SIGTERM handling is the application's; no preStop hook


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, 45),
        (production_values(), 70),
        ({"config": {"shutdownGraceSeconds": 2.5, "shutdownDrainSeconds": 60}}, 73),
        ({"config": {"shutdownGraceSeconds": 0, "shutdownDrainSeconds": 0}}, 10),
        ({"terminationGracePeriodSeconds": 36}, 36),
    ],
    ids=["default", "production", "fractional", "zero", "explicit"],
)
def test_termination_grace_outlasts_shutdown(chart: helm_python.Chart, values: dict[str, Any], expected: int) -> None:
    deployment = the(objects(render(chart, values)), "Deployment")
    grace_period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_period == expected
    env = env_of(deployment)
    shutdown = float(env["SIDECAR_SHUTDOWN_GRACE_SECONDS"]["value"]) + float(env["SIDECAR_SHUTDOWN_DRAIN_SECONDS"]["value"])
    assert grace_period > shutdown


# Settings a Kubernetes deployment cannot do without; the chart wires these whatever else it offers.
# (The chart also maps every other setting under `config`: checked below. `extraEnv` can add anything.)
DEPLOYMENT_SETTINGS = {
    "SIDECAR_ES_URL", "SIDECAR_ES_API_KEY", "SIDECAR_ES_CA_CERTS", "SIDECAR_ES_VERIFY_CERTS", "SIDECAR_HOST",
    "SIDECAR_PORT", "SIDECAR_SECRETS_KEY", "SIDECAR_SECRETS_OLD_KEYS", "SIDECAR_INDEX_PREFIX",
    "SIDECAR_API_COMPAT", "SIDECAR_PRIVILEGE_PUT", "SIDECAR_PRIVILEGE_GET", "SIDECAR_PRIVILEGE_DELETE",
    "SIDECAR_PRIVILEGE_INFER", "SIDECAR_LOG_LEVEL", "SIDECAR_LOG_FORMAT", "SIDECAR_SHUTDOWN_GRACE_SECONDS",
    "SIDECAR_SHUTDOWN_DRAIN_SECONDS",
}


def test_chart_sets_only_settings_the_application_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A renamed or removed setting would be silently ignored by the application (extra="ignore")."""
    fields = {f"SIDECAR_{name.upper()}" for name in Settings.model_fields if name not in NOT_FOR_KUBERNETES}
    for values_name in ("production", "created-secret"):
        env = env_of(the(rendered[values_name], "Deployment"))
        sidecar_env = {name for name in env if name.startswith("SIDECAR_")}
        assert sidecar_env - fields == set(), "env the application does not read"
    production = set(env_of(the(rendered["production"], "Deployment")))
    assert DEPLOYMENT_SETTINGS - production == set()
    basic = set(env_of(the(rendered["created-secret"], "Deployment")))
    assert {"SIDECAR_ES_USERNAME", "SIDECAR_ES_PASSWORD"} <= basic
    assert fields - production - basic == set(), "settings the chart offers no value for"


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_rendered_environment_is_accepted_by_the_application(
    rendered: dict[str, list[dict[str, Any]]], values_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolve the secretKeyRefs with test values, then let the application's Settings parse the env."""
    for name in list(os.environ):
        if name.startswith("SIDECAR_"):
            monkeypatch.delenv(name)
    stand_ins = {"SIDECAR_SECRETS_KEY": TEST_KEY, "SIDECAR_SECRETS_OLD_KEYS": OLD_KEY, "SIDECAR_ES_USERNAME": "u",
                 "SIDECAR_ES_PASSWORD": "p", "SIDECAR_ES_API_KEY": "k"}
    env = env_of(the(rendered[values_name], "Deployment"))
    for name, item in env.items():
        if name.startswith("SIDECAR_"):
            monkeypatch.setenv(name, item["value"] if "value" in item else stand_ins[name])
    settings = load_settings()
    assert settings.port == 9280
    assert settings.host == "0.0.0.0"
    assert settings.es_hosts
    assert settings.secrets_key_bytes() == bytes(range(32))
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.cache_max_bytes == 256 * 1024 * 1024
