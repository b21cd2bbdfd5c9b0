"""The imagePullSecret pods pull a private registry's images with, made in the workloads' namespace
from the registry's pull credentials (the same secret config value the images are pushed with).

It goes on the cluster contract (`ClusterContract.image_pull_secrets`), which every workload pod
lists, so workloads stay blind to which registry or cloud they run on: a registry that needs no
pull secret (ECR, Artifact Registry, kind's local registry, public images) simply adds none.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.contracts.cluster import ClusterContract
from components.contracts.registry import Registry, RegistryCredentials

SECRET_TYPE = "kubernetes.io/dockerconfigjson"  # noqa: S105 - a Secret type, not a secret
SECRET_KEY = ".dockerconfigjson"  # noqa: S105 - the key kubelets read, not a secret


def docker_config_json(server: str, username: str, password: str) -> str:
    """The `~/.docker/config.json` shape kubelets read: one `auths` entry for the registry."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)


def _base64(text: str) -> str:
    """Secret `data` values are base64."""
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True, kw_only=True)
class ImagePullSecretArgs:
    credentials: RegistryCredentials
    """The registry's pull credentials; the password is a secret Output."""
    namespace: pulumi.Input[str]
    """The workloads' namespace: pods can only use a pull secret of their own namespace."""
    provider: k8s.Provider


class ImagePullSecret(pulumi.ComponentResource):
    secret: k8s.core.v1.Secret
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: ImagePullSecretArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:registry:ImagePullSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        credentials = args.credentials
        encoded: pulumi.Output[str] = pulumi.Output.all(
            credentials.server, credentials.username, credentials.password
        ).apply(lambda values: _base64(docker_config_json(str(values[0]), str(values[1]), str(values[2]))))
        # Secret in state and in every preview, whatever the password's own Output says.
        secret_value: pulumi.Output[str] = pulumi.Output.secret(encoded)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace, labels=labels.kubernetes_labels("registry")),
            type=SECRET_TYPE,
            data={SECRET_KEY: secret_value},
            opts=child,
        )
        self.secret_name = self.secret.metadata.name
        self.register_outputs({"secret_name": self.secret_name})


def with_image_pull_secret(
    contract: ClusterContract, registry: Registry, opts: pulumi.ResourceOptions | None = None
) -> ClusterContract:
    """The cluster contract, with the registry's imagePullSecret when its pods need one: workloads
    list it and wait for it like any other `ready` resource."""
    if registry.pull_credentials is None:
        return contract
    pull = ImagePullSecret(
        "image-pull",
        ImagePullSecretArgs(
            credentials=registry.pull_credentials, namespace=contract.namespace, provider=contract.provider
        ),
        opts,
    )
    return dataclasses.replace(
        contract,
        image_pull_secrets=(*contract.image_pull_secrets, pull.secret_name),
        ready=(*contract.ready, pull.secret),
    )
