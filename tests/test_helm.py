"""The Helm chart (deploy/helm/air-mparticle) against Helm itself, the Kubernetes API schemas,
the CRDs' documented fields and the code it deploys.

`helm` is helm.sh/helm/v4 v4.3.2, found in `$(go env GOPATH)/bin` or on PATH, else built once
with `go install` (several minutes the first time); without Go and without helm every test
here skips, saying so. No cluster runs here: `helm template` renders, `helm lint` lints, and
every rendered object of a built-in kind is validated with the pinned `kubernetes-validate`
(strict: an unknown field fails) for the chart's oldest Kubernetes and the newest it knows.
KEDA's and the Prometheus Operator's objects, which it has no schemas for, are checked for
the fields their documentation requires (keda.sh: ScaledObject specification, the Kafka
scaler; the operator's API: ServiceMonitor, PrometheusRule)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as k8s
from pydantic import SecretStr

from config.settings import Settings, env_name, load_settings
from ops.cli import cli
from streams.app import rebalance_timeout
from streams.edges import ROUTES
from streams.topics import by_wallet_topic, consumed_topics
from testkit.processes import ROOT
from tests.test_compose import image_command, setting_variables

# The first test pays for building helm when it is missing; pytest's 300 s would cut it off.
pytestmark = pytest.mark.timeout(1800)

CHART = ROOT / "deploy" / "helm" / "air-mparticle"
ALL_ON = ROOT / "tests" / "helm" / "all-on.yaml"
HELM_MODULE = "helm.sh/helm/v4/cmd/helm@v4.3.2"
RELEASE = "airmp"
FULLNAME = "airmp-air-mparticle"  # the release name with the chart's name after it
# The chart's kubeVersion floor, and the newest schemas kubernetes-validate 1.37.0 ships.
KUBE_VERSIONS = ("1.27.0", "1.37.0")
CRD_KINDS = {
    "keda.sh/v1alpha1": {"ScaledObject", "TriggerAuthentication"},
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
}
ALERTS = ROOT / "ops" / "monitoring" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "monitoring" / "grafana" / "dashboards" / "airmp.json"
# Every KEDA Kafka scaler parameter a TriggerAuthentication may carry (keda.sh, "Apache Kafka").
KEDA_KAFKA_AUTH = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}

Objects = list[dict[str, Any]]


def gopath_helm() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, check=True)
    for directory in gopath.stdout.strip().split(os.pathsep):
        candidate = Path(directory) / "bin" / "helm"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def is_helm_4(path: str) -> bool:
    done = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=60)
    return done.returncode == 0 and done.stdout.startswith("v4.")


class Helm:
    """One helm binary; renders cached, since most tests read the same two renders."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.renders: dict[tuple[str, ...], Objects] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args], capture_output=True, text=True, timeout=300, check=False
        )

    def template(self, *args: str) -> subprocess.CompletedProcess[str]:
        kube = ("--kube-version", KUBE_VERSIONS[-1])
        return self.run("template", RELEASE, str(CHART), "--namespace", RELEASE, *kube, *args)

    def objects(self, *args: str) -> Objects:
        if args not in self.renders:
            done = self.template(*args)
            assert done.returncode == 0, done.stderr
            self.renders[args] = [o for o in yaml.safe_load_all(done.stdout) if o]
        return self.renders[args]


@pytest.fixture(scope="session")
def helm() -> Helm:
    found = gopath_helm()
    if found is not None:
        return Helm(str(found))
    on_path = shutil.which("helm")
    if on_path is not None and is_helm_4(on_path):
        return Helm(on_path)
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"no helm 4 and no Go to build it ({HELM_MODULE}): the chart is not checked")
    done = subprocess.run(
        [go, "install", HELM_MODULE], capture_output=True, text=True, timeout=1700, check=False
    )
    assert done.returncode == 0, f"go install {HELM_MODULE} failed:\n{done.stderr[-3000:]}"
    built = gopath_helm()
    assert built is not None, "go install succeeded but no helm in $(go env GOPATH)/bin"
    return Helm(str(built))


@pytest.fixture(scope="session")
def default(helm: Helm) -> Objects:
    return helm.objects()


@pytest.fixture(scope="session")
def all_on(helm: Helm) -> Objects:
    return helm.objects("-f", str(ALL_ON))


def one(objects: Objects, kind: str, name: str = FULLNAME) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def kinds(objects: Objects) -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


def pod_specs(objects: Objects) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("StatefulSet", "Deployment"):
            yield o["kind"], o["spec"]["template"]["spec"]
        elif o["kind"] == "Pod":
            yield o["kind"], o["spec"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"a variable set twice: {names}"
    return {e["name"]: e["value"] for e in container["env"]}


def worker(objects: Objects) -> dict[str, Any]:
    container: dict[str, Any] = one(objects, "StatefulSet")["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def chart_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return loaded


def test_helm_lint_passes_with_default_values_and_every_option_on(helm: Helm) -> None:
    for values in ((), ("-f", str(ALL_ON))):
        for version in KUBE_VERSIONS:
            done = helm.run("lint", "--strict", str(CHART), "--kube-version", version, *values)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_the_default_render_is_the_worker_alone(default: Objects) -> None:
    assert kinds(default) == [
        f"Pod/{FULLNAME}-check",
        f"PodDisruptionBudget/{FULLNAME}",
        f"Service/{FULLNAME}",
        f"Service/{FULLNAME}-headless",
        f"ServiceAccount/{FULLNAME}",
        f"StatefulSet/{FULLNAME}",
    ]


def test_every_option_on_renders_every_object(all_on: Objects) -> None:
    assert kinds(all_on) == [
        f"ConfigMap/{FULLNAME}-dashboard",
        f"Deployment/{FULLNAME}-edges",
        f"Ingress/{FULLNAME}",
        f"Pod/{FULLNAME}-check",
        f"PodDisruptionBudget/{FULLNAME}",
        f"PodDisruptionBudget/{FULLNAME}-edges",
        f"PrometheusRule/{FULLNAME}",
        f"ScaledObject/{FULLNAME}",
        f"Service/{FULLNAME}",
        f"Service/{FULLNAME}-edges",
        f"Service/{FULLNAME}-headless",
        f"ServiceAccount/{FULLNAME}",
        f"ServiceMonitor/{FULLNAME}",
        f"StatefulSet/{FULLNAME}",
        f"TriggerAuthentication/{FULLNAME}-kafka",
    ]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", ["default", "all-on"])
def test_every_built_in_object_is_valid_for_the_kubernetes_api(
    helm: Helm, values: str, version: str
) -> None:
    objects = helm.objects() if values == "default" else helm.objects("-f", str(ALL_ON))
    errors: list[str] = []
    custom: set[str] = set()
    for o in objects:
        if o["kind"] in CRD_KINDS.get(o["apiVersion"], set()):
            custom.add(o["kind"])  # checked field by field below
            continue
        errors.extend(f"{o['kind']}/{o['metadata']['name']}: {e}" for e in invalid(o, version))
    assert errors == []
    expected: set[str] = set() if values == "default" else set().union(*CRD_KINDS.values())
    assert custom == expected


def invalid(o: dict[str, Any], version: str) -> list[str]:
    """The schema's complaint about `o` (strict: unknown fields too), or nothing."""
    try:
        k8s.validate(o, version, strict=True)
    except k8s.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


def test_the_validation_refuses_an_unknown_field(default: Objects) -> None:
    statefulset = copy.deepcopy(one(default, "StatefulSet"))
    statefulset["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert invalid(statefulset, KUBE_VERSIONS[-1]) == [
        "spec.template.spec.containers.0: Additional properties are not allowed "
        "('livenesProbe' was unexpected)"
    ]


def test_the_scaled_object_has_what_keda_requires(all_on: Objects) -> None:
    values = yaml.safe_load(ALL_ON.read_text())
    scaled = one(all_on, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": FULLNAME,
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 12)
    assert spec["maxReplicaCount"] <= values["topics"]["partitions"]
    by_wallet = by_wallet_topic(load_settings(app_id=values["appId"]))
    topics = [t["metadata"]["topic"] for t in spec["triggers"]]
    assert topics == ["air-notifications", by_wallet, "mparticle-records"]
    for trigger in spec["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["authenticationRef"] == {"name": f"{FULLNAME}-kafka"}
        metadata = trigger["metadata"]
        # The trigger's metadata is a map of strings in KEDA's CRD: a number there is refused.
        assert all(isinstance(v, str) for v in metadata.values()), metadata
        assert {k: v for k, v in metadata.items() if k != "topic"} == {
            "bootstrapServers": values["kafka"]["bootstrapServers"],
            "consumerGroup": values["appId"],  # Faust's group id is the app id
            "lagThreshold": "5000",
            "activationLagThreshold": "0",
            "offsetResetPolicy": "earliest",  # the worker's consumer_auto_offset_reset
            "sasl": "scram_sha512",
            "tls": "enable",
        }
    # Every consumed topic KEDA watches is one the group reads.
    assert set(topics) <= set(consumed_topics(load_settings(app_id=values["appId"])))


def test_the_trigger_authentication_reads_the_workers_secrets(all_on: Objects) -> None:
    auth = one(all_on, "TriggerAuthentication", f"{FULLNAME}-kafka")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    refs = auth["spec"]["secretTargetRef"]
    assert {r["parameter"] for r in refs} <= KEDA_KAFKA_AUTH
    assert refs == [
        {"parameter": "username", "name": "airmp-secrets", "key": "AIRMP_KAFKA_SASL_USERNAME"},
        {"parameter": "password", "name": "airmp-secrets", "key": "AIRMP_KAFKA_SASL_PASSWORD"},
        {"parameter": "ca", "name": "airmp-kafka-tls", "key": "ca.crt"},
        {"parameter": "cert", "name": "airmp-kafka-tls", "key": "tls.crt"},
        {"parameter": "key", "name": "airmp-kafka-tls", "key": "tls.key"},
    ]


def test_the_service_monitor_scrapes_each_pod_once_as_job_airmp(all_on: Objects) -> None:
    monitor = one(all_on, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]  # required by the operator's CRD
    selected = [
        s["metadata"]["name"]
        for s in all_on
        if s["kind"] == "Service" and selector.items() <= s["metadata"]["labels"].items()
    ]
    assert sorted(selected) == [FULLNAME, f"{FULLNAME}-edges"]  # not the headless one
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    ports = {p["name"] for s in all_on if s["kind"] == "Service" for p in s["spec"]["ports"]}
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
    assert endpoint["relabelings"] == [{"targetLabel": "job", "replacement": "airmp"}]
    assert 'up{job="airmp"}' in ALERTS.read_text()


def test_the_prometheus_rule_is_alerts_yml(all_on: Objects) -> None:
    rule = one(all_on, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == {"groups": yaml.safe_load(ALERTS.read_text())["groups"]}
    for group in rule["spec"]["groups"]:  # the CRD requires a name and rules; each an expr
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert isinstance(r["expr"], str) and ("alert" in r) != ("record" in r), r


def test_the_dashboard_config_map_is_airmp_json_for_the_sidecar(all_on: Objects) -> None:
    config_map = one(all_on, "ConfigMap", f"{FULLNAME}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Connectors"}
    assert config_map["data"] == {"airmp.json": DASHBOARD.read_text()}


def test_the_charts_files_are_the_bytes_of_ops_monitoring() -> None:
    for name, source in (("alerts.yml", ALERTS), ("airmp.json", DASHBOARD)):
        in_chart = CHART / "files" / name
        assert in_chart.is_symlink(), f"{in_chart} must link to {source}, not copy it"
        assert in_chart.resolve() == source.resolve()
        assert in_chart.read_bytes() == source.read_bytes()


def test_the_packaged_chart_carries_the_same_bytes(helm: Helm, tmp_path: Path) -> None:
    done = helm.run("package", str(CHART), "--destination", str(tmp_path))
    assert done.returncode == 0, done.stderr
    version = chart_yaml()["version"]
    with tarfile.open(tmp_path / f"air-mparticle-{version}.tgz") as archive:
        for name, source in (("alerts.yml", ALERTS), ("airmp.json", DASHBOARD)):
            member = archive.getmember(f"air-mparticle/files/{name}")
            assert member.isfile()  # helm package followed the symlink
            extracted = archive.extractfile(member)
            assert extracted is not None and extracted.read() == source.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["autoscaling.enabled=true", "topics.partitions=6", "autoscaling.maxReplicaCount=7"],
            "autoscaling.maxReplicaCount (7) must not exceed topics.partitions (6)",
        ),
        (
            ["replicas=7", "topics.partitions=6"],
            "replicas (7) must not exceed topics.partitions (6)",
        ),
        (
            ["deliveryGraceSeconds=10", "terminationGracePeriodSeconds=29"],
            "terminationGracePeriodSeconds (29) must be at least deliveryGraceSeconds + 20 (30)",
        ),
        (["ingress.enabled=true"], "ingress.tls is required"),
        (
            ["autoscaling.enabled=true", "kafka.securityProtocol=SASL_SSL"],
            "KEDA needs autoscaling.triggerAuthentication.enabled",
        ),
    ],
)
def test_values_the_chart_refuses(helm: Helm, args: list[str], message: str) -> None:
    done = helm.template(*(a for arg in args for a in ("--set", arg)))
    assert done.returncode == 1
    assert message in done.stderr, done.stderr


def test_max_replicas_up_to_the_partitions_renders(helm: Helm) -> None:
    sets = ["autoscaling.enabled=true", "topics.partitions=6", "autoscaling.maxReplicaCount=6"]
    objects = helm.objects(*(a for s in sets for a in ("--set", s)))
    assert one(objects, "ScaledObject")["spec"]["maxReplicaCount"] == 6
    assert "replicas" not in one(objects, "StatefulSet")["spec"]  # KEDA's HPA owns it


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ((), 40),  # the default grace (10) + 30
        (("--set", "deliveryGraceSeconds=45"), 75),
        (("-f", str(ALL_ON)), 60),  # given, above its grace (15) + 20
    ],
)
def test_the_termination_grace_exceeds_the_delivery_grace_and_20s(
    helm: Helm, sets: tuple[str, ...], expected: int
) -> None:
    for kind, spec in pod_specs(helm.objects(*sets)):
        if kind == "Pod":
            continue  # the helm test pod delivers nothing
        grace = float(env_of(spec["containers"][0])["AIRMP_DELIVERY_GRACE_SECONDS"])
        assert spec["terminationGracePeriodSeconds"] == expected
        assert spec["terminationGracePeriodSeconds"] > grace + 20


def test_the_chart_defaults_are_the_workers_own(default: Objects, monkeypatch: Any) -> None:
    env = env_of(worker(default))
    for name in [n for n in os.environ if n.startswith("AIRMP_")]:
        monkeypatch.delenv(name)  # only what the chart sets
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    defaults = {n: f.default for n, f in Settings.model_fields.items()}
    assert settings.delivery_grace_seconds == defaults["delivery_grace_seconds"] == 10.0
    assert settings.kafka_session_timeout_seconds == defaults["kafka_session_timeout_seconds"]
    assert settings.web_port == defaults["web_port"] == 6066
    assert settings.data_dir == "/data"
    # The group waits this long for a revoking worker (streams/app.py): the grace and 30 s.
    assert rebalance_timeout(settings) == 60.0
    assert settings.topic_partitions == 12 and settings.app_id == "airmp"  # docs/capacity.md
    assert settings.table_standby_replicas == defaults["table_standby_replicas"] == 1


@pytest.mark.parametrize("values", ["default", "all-on"])
def test_every_variable_the_chart_sets_is_a_setting(helm: Helm, values: str) -> None:
    objects = helm.objects() if values == "default" else helm.objects("-f", str(ALL_ON))
    known = setting_variables() | {"AIRMP_SECRETS_DIR"}
    secret = {env_name(n) for n, f in Settings.model_fields.items() if secret_field(f.annotation)}
    for _, spec in pod_specs(objects):
        names = set(env_of(spec["containers"][0]))
        assert names - known == set()
        assert names & secret == set(), "a secret in the environment instead of a file"


def secret_field(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def test_secrets_are_files_in_the_secrets_dir(all_on: Objects) -> None:
    for _, spec in pod_specs(all_on):
        container = spec["containers"][0]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["secrets"]["secret"] == {"secretName": "airmp-secrets", "defaultMode": 256}
        directory = env_of(container)["AIRMP_SECRETS_DIR"]
        assert mounts["secrets"] == {"name": "secrets", "mountPath": directory, "readOnly": True}
        tls = mounts["kafka-tls"]["mountPath"]
        assert env_of(container)["AIRMP_KAFKA_SSL_CA_FILE"] == f"{tls}/ca.crt"


def test_the_probes_are_the_workers_own_endpoints(all_on: Objects) -> None:
    views = (ROOT / "streams" / "views.py").read_text()
    pages = set(re.findall(r'@p\.app\.page\("([^"]+)"\)', views))
    assert pages == {"/healthz", "/readyz", "/metrics"}
    for kind, spec in pod_specs(all_on):
        if kind == "Pod":
            continue
        container = spec["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 6066, "protocol": "TCP"}]
        probes = {k: container[f"{k}Probe"] for k in ("startup", "readiness", "liveness")}
        assert {k: p["httpGet"] for k, p in probes.items()} == {
            "startup": {"path": "/readyz", "port": "http"},  # 503 `starting` until recovered
            "readiness": {"path": "/readyz", "port": "http"},
            "liveness": {"path": "/healthz", "port": "http"},  # never restart on readiness
        }
        startup = probes["startup"]
        assert startup["periodSeconds"] * startup["failureThreshold"] == 600  # capacity.md


def dockerfile_uid() -> int:
    found = re.search(r"useradd --uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert found is not None
    return int(found.group(1))


def test_every_pod_runs_restricted_as_the_images_user(all_on: Objects) -> None:
    uid = dockerfile_uid()
    for _, spec in pod_specs(all_on):
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        (container,) = spec["containers"]
        assert container["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert (mounts["/tmp"], mounts["/data"]) == ("tmp", "data")
        assert {"name": "tmp", "emptyDir": {}} in spec["volumes"]


def test_the_worker_keeps_its_tables_on_its_own_volume(default: Objects) -> None:
    statefulset = one(default, "StatefulSet")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "10Gi"}}
    assert statefulset["spec"]["serviceName"] == f"{FULLNAME}-headless"
    assert statefulset["spec"]["replicas"] == 2
    assert worker(default)["resources"] == {  # docs/capacity.md: no CPU limit
        "requests": {"cpu": "1", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    budget = one(default, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_the_image_is_the_connectors_at_the_app_version(default: Objects) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"$', pyproject, flags=re.MULTILINE)
    assert version is not None and chart_yaml()["appVersion"] == version.group(1)
    container = worker(default)
    assert container["image"] == f"air-mparticle:{version.group(1)}"
    # args after the image's ENTRYPOINT (airmp): `airmp worker`, as the image's default.
    assert [*image_command()[:1], *container["args"]] == image_command()


def test_the_edges_deployment_serves_only_the_edges_behind_tls(all_on: Objects) -> None:
    edges = one(all_on, "Deployment", f"{FULLNAME}-edges")["spec"]["template"]["spec"]
    edges_env = env_of(edges["containers"][0])
    assert (edges_env["AIRMP_AGENTS_ENABLED"], edges_env["AIRMP_EDGES_ENABLED"]) == (
        "false",
        "true",
    )
    assert env_of(worker(all_on))["AIRMP_EDGES_ENABLED"] == "false"
    ingress = one(all_on, "Ingress")["spec"]
    assert ingress["tls"] == [{"secretName": "airmp-example-tls", "hosts": ["airmp.example.com"]}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "airmp.example.com"
    paths = rule["http"]["paths"]
    assert [p["path"] for p in paths] == [route.split("/{")[0] for route, _ in ROUTES]
    backend = {"service": {"name": f"{FULLNAME}-edges", "port": {"name": "http"}}}
    assert all(p["backend"] == backend and p["pathType"] == "Prefix" for p in paths)


def test_helm_test_runs_airmp_check_with_the_workers_settings(default: Objects) -> None:
    pod = one(default, "Pod", f"{FULLNAME}-check")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["check"] and "check" in cli.commands
    assert container["image"] == worker(default)["image"]
    assert env_of(container) == env_of(worker(default))


def test_the_schema_refuses_unknown_and_wrong_values(helm: Helm) -> None:
    for bad in ("replica=3", "kafka.securityProtocol=TLS", "topics.partitions=0"):
        done = helm.template("--set", bad)
        assert done.returncode == 1, bad
        assert "values don't meet the specifications of the schema" in done.stderr, done.stderr


def test_ci_builds_the_same_helm() -> None:
    assert f"go install {HELM_MODULE}" in (ROOT / ".ci" / "run").read_text()
