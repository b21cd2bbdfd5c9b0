"""What a stack file may add to a model's workloads beyond the platform's own settings: extra
trainer flags (`training.args`), environment variables (`training.env`, `serving.env`) and an
autoscaler (`serving.autoscaling`); and what the platform keeps for itself.

Pure pydantic, imported by `components.config`. Each reserved flag or variable maps to who sets
it, which the config error shows beside the key and the value. The pod templates
(`components/workloads/training_pod.py`, `serving_pod.py`) set exactly the platform's own; every
variable a pod sets, the artifact store's included, must be reserved here, which the pods check
at render (`workloads.pod.with_configured_env`), so this is the one list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import AfterValidator, Field, StrictInt, StrictStr, model_validator

from components.schema import PositiveInt, Schema

TRAINER_FLAGS: Mapping[str, str] = {
    "--output-uri": "set by the platform: the training run's own location (<model root>/runs/<run id>)",
    "--model-name": "set by the platform from the model's name",
    "--epochs": "set by the platform from training.epochs",
    "--batch-size": "set by the platform from training.batchSize",
    "--learning-rate": "set by the platform from training.learningRate",
    "--seed": "set by the platform from training.seed",
}
"""Flags the training pod passes before any of `training.args`; argparse keeps a flag's last value,
so a repeat in `args` would silently win over the setting the run id was computed from."""

_HELP = "argparse's help: the trainer would print its usage and exit 0, and the Job succeed without training"
EXITING_FLAGS: Mapping[str, str] = {"--help": _HELP}
"""Flags that make an argparse trainer exit 0 at once; refused like the platform's (prefixes too)."""
EXITING_SHORT_FLAGS: Mapping[str, str] = {"-h": _HELP}
"""Their one-dash forms; argparse also reads `-hx` as `-h` followed by `-x`, so any `-h...` counts."""

_TORCHRUN = "set by torchrun for each training process"
TRAINING_ENV: Mapping[str, str] = {
    "PYTHONUNBUFFERED": "set by the platform so the trainer's logs reach `kubectl logs` as they are written",
    "JOB_COMPLETION_INDEX": "set by Kubernetes in an Indexed Job; it is the pod's torchrun node rank",
    **dict.fromkeys(
        (
            "RANK",
            "LOCAL_RANK",
            "WORLD_SIZE",
            "LOCAL_WORLD_SIZE",
            "GROUP_RANK",
            "GROUP_WORLD_SIZE",
            "ROLE_NAME",
            "ROLE_RANK",
            "ROLE_WORLD_SIZE",
            "MASTER_ADDR",
            "MASTER_PORT",
        ),
        _TORCHRUN,
    ),
}
"""Variables the training pod, Kubernetes or torchrun set in the trainer's processes."""

SERVING_ENV: Mapping[str, str] = {
    "MODEL_URI": "set by the platform: the training run the server loads",
    "MODEL_NAME": "set by the platform from the model's name (its /v1/models/<name> routes)",
    "PORT": "set by the platform: the inference port the Service and the NetworkPolicy open",
    "MAX_INSTANCES": "set by the platform from serving.maxBatchSize",
    "ADMIN_PORT": "set by the platform: the port of the probes and /metrics, which the Service never exposes",
    "AUTH_TOKEN_FILE": "set by the platform from serving.requireToken (the mounted token Secret)",
    "HOST": "set by the platform to 0.0.0.0: the probes and the Service reach the pod on its own address",
}
"""Variables the serving pod sets for the server (`images/server/mlserve/settings.py`)."""

CLOUD_ENV_PREFIXES: Mapping[str, str] = {
    # The artifact stores' credentials and region come from the workload identity the cluster
    # backend grants (IRSA sets AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE; the S3 store sets
    # AWS_REGION): a stack must not swap in other credentials or another region.
    "AWS_": "reserved for the artifact store's region and workload identity (set by the cluster backend)",
    "GOOGLE_": "reserved for the artifact store's project and workload identity (set by the cluster backend)",
    "CLOUDSDK_": "reserved for the artifact store's project and workload identity (set by the cluster backend)",
}
"""Prefixes no workload's variables may start with, on any backend: a stack keeps its names when it
moves from kind to a cloud."""
DEVICE_ENV: Mapping[str, str] = {
    "CUDA_VISIBLE_DEVICES": (
        "reserved: a pod's GPUs are the ones the device plugin assigns it, and this would hide or renumber them"
    ),
}
DEVICE_ENV_PREFIXES: Mapping[str, str] = {
    # With the NVIDIA runtime's envvar strategy, NVIDIA_VISIBLE_DEVICES=all shows a pod every GPU of
    # its node, whatever it was allotted.
    "NVIDIA_": "set by the GPU device plugin and the NVIDIA container runtime (which GPUs the pod sees)",
}
"""Variables of the GPU stack, on every workload: a pod must see its own GPUs, and only those."""
TRAINING_ENV_PREFIXES: Mapping[str, str] = {
    "TORCHELASTIC_": _TORCHRUN,
    # torchrun reads every flag's default from PET_<FLAG>: PET_STANDALONE=1 would make a multi-node
    # run ignore --master-addr.
    "PET_": (
        "read by torchrun as the defaults of its flags (PET_STANDALONE=1 is --standalone); how torchrun "
        "runs is the platform's (training.nodes, training.processesPerNode)"
    ),
    **DEVICE_ENV_PREFIXES,
    **CLOUD_ENV_PREFIXES,
}
SERVING_ENV_PREFIXES: Mapping[str, str] = {**DEVICE_ENV_PREFIXES, **CLOUD_ENV_PREFIXES}
TRAINING_RESERVED: Mapping[str, str] = {**TRAINING_ENV, **DEVICE_ENV}
"""Every name a stack may not give the trainer: what the platform, Kubernetes and torchrun set, and the GPU stack's."""
SERVING_RESERVED: Mapping[str, str] = {**SERVING_ENV, **DEVICE_ENV}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def reserved_env(name: str, reserved: Mapping[str, str], prefixes: Mapping[str, str]) -> str | None:
    """Who owns `name`, or None if a stack may set it. Compared in upper case: the server reads its
    settings case-insensitively, so `model_uri` would override MODEL_URI just the same."""
    upper = name.upper()
    if upper in reserved:
        return reserved[upper]
    return next((owner for prefix, owner in prefixes.items() if upper.startswith(prefix)), None)


def training_env_owner(name: str) -> str | None:
    """Who owns the trainer's variable `name`, or None if a stack may set it."""
    return reserved_env(name, TRAINING_RESERVED, TRAINING_ENV_PREFIXES)


def serving_env_owner(name: str) -> str | None:
    """Who owns the server's variable `name`, or None if a stack may set it."""
    return reserved_env(name, SERVING_RESERVED, SERVING_ENV_PREFIXES)


def _env_name(reserved: Mapping[str, str], prefixes: Mapping[str, str]) -> AfterValidator:
    allowed = (
        "allowed: any C identifier (letters, digits, '_'; not starting with a digit) except "
        + ", ".join(reserved)
        + " and names starting "
        + ", ".join(prefixes)
    )

    def check(name: str) -> str:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"not a C identifier; {allowed}")
        owner = reserved_env(name, reserved, prefixes)
        if owner is not None:
            shown = name if name == name.upper() else f"{name} (read as {name.upper()})"
            raise ValueError(f"{shown} is {owner}; {allowed}")
        return name

    return AfterValidator(check)


_REFUSED_FLAGS: Mapping[str, str] = {**TRAINER_FLAGS, **EXITING_FLAGS}
_ARGS_ALLOWED = (
    "extra flags may be any the training image accepts except "
    + ", ".join(_REFUSED_FLAGS)
    + " or a prefix of one, and "
    + ", ".join(EXITING_SHORT_FLAGS)
    + " alone or with more letters"
)


def _trainer_arg(value: str) -> str:
    _check_no_variable_reference(value)
    flag = value.split("=", 1)[0]
    if flag.startswith("--") and len(flag) > 2:
        for reserved, owner in _REFUSED_FLAGS.items():
            # argparse also accepts an unambiguous prefix (`--epoch 3` sets --epochs).
            if reserved.startswith(flag):
                shown = reserved if flag == reserved else f"{flag} (argparse reads it as {reserved})"
                raise ValueError(f"{shown} is {owner}; {_ARGS_ALLOWED}")
    elif not flag.startswith("--"):
        for short, owner in EXITING_SHORT_FLAGS.items():
            if value.startswith(short):
                shown = short if value == short else f"{value} (argparse reads it as {short} first)"
                raise ValueError(f"{shown} is {owner}; {_ARGS_ALLOWED}")
    return value


def _check_no_variable_reference(value: str) -> None:
    """Kubernetes expands `$(NAME)` in a container's args from its variables (and reads `$$` as a
    literal `$`): `args: ["$(E)"]` with `env: {E: --epochs}` would pass a reserved flag unseen."""
    index = 0
    while (index := value.find("$", index)) >= 0:
        if value.startswith("$$", index):
            index += 2
        elif value.startswith("$(", index):
            raise ValueError(
                "refers to a variable ($(NAME)), which Kubernetes would replace by its value: flags are "
                "written out in training.args, never taken from variables; write $$( for a literal $("
            )
        else:
            index += 1


def _target_utilization(value: int) -> int:
    if not 1 <= value <= MAX_TARGET_UTILIZATION:
        raise ValueError(
            f"must be a percentage of the CPU request from 1 to {MAX_TARGET_UTILIZATION}: CPU limits equal "
            "requests, so use never exceeds 100% and a target near it would never scale out"
        )
    return value


MAX_TARGET_UTILIZATION = 90

TrainingEnvName = Annotated[str, _env_name(TRAINING_RESERVED, TRAINING_ENV_PREFIXES)]
ServingEnvName = Annotated[str, _env_name(SERVING_RESERVED, SERVING_ENV_PREFIXES)]
EnvValue = StrictStr
TrainerArg = Annotated[StrictStr, AfterValidator(_trainer_arg)]


def _distinct_ignoring_case(why: str) -> AfterValidator:
    """Names equal but for case are refused: of `LOG_LEVEL` and `log_level` the manifest would show
    both and a reader that ignores case (the server's settings) use one, unseen."""

    def check(env: dict[str, str]) -> dict[str, str]:
        first: dict[str, str] = {}
        for name in env:
            if name.upper() in first:
                raise ValueError(f"{first[name.upper()]} and {name} differ only in case ({why}); keep one")
            first[name.upper()] = name
        return env

    return AfterValidator(check)


TrainingEnv = Annotated[
    dict[TrainingEnvName, EnvValue],
    _distinct_ignoring_case("one setting to a program that reads variables ignoring case, as the server does"),
]
ServingEnv = Annotated[
    dict[ServingEnvName, EnvValue], _distinct_ignoring_case("the server reads its settings ignoring case")
]


class Autoscaling(Schema):
    """A HorizontalPodAutoscaler on the model's Deployment, scaling on CPU utilisation.

    CPU is the one signal every cluster serves without extra components (metrics.k8s.io) and the
    one the server's load moves: each request costs CPU, while its memory is the loaded model,
    flat under load. Request-rate or latency targets would need a custom-metrics adapter
    (Prometheus and prometheus-adapter); not provided.
    """

    min_replicas: PositiveInt = Field(
        default=2,
        description=(
            "Fewest server pods (default 2: one may be drained while another serves); "
            "the Deployment starts with this many."
        ),
    )
    max_replicas: PositiveInt = Field(description="Most server pods the autoscaler may run; at least minReplicas.")
    target_cpu_utilization: Annotated[StrictInt, AfterValidator(_target_utilization)] = Field(
        default=70,
        description=(
            "Average CPU use the autoscaler aims at, in percent of each pod's CPU request (default 70); 1 to 90."
        ),
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be at least minReplicas ({self.min_replicas})")
        return self
