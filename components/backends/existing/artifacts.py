"""Model artifacts of an existing cluster in an S3-compatible object store (AWS S3, MinIO, Ceph RGW):
one credentials Secret in the workloads' namespace, mounted as an AWS shared-credentials file (a
file, not environment variables, so the key is never in a pod's spec or `kubectl describe`), and
the store's endpoint for s3fs through botocore's `AWS_ENDPOINT_URL_S3`.

Training and serving get the same key: the store's own policy is what limits it. (The volume
alternative is `components.contracts.volume_artifacts`.)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.backends.existing.settings import ObjectStore
from components.contracts.artifacts import ArtifactAccess, ArtifactAccessMode
from components.contracts.service_account import workload_service_account

CREDENTIALS_FILE = "credentials"
CREDENTIALS_MOUNT_PATH = "/var/run/secrets/ml-platform/object-store"
CREDENTIALS_VOLUME_NAME = "object-store-credentials"
# Owner and group may read (the pods' fsGroup owns the files); no one may write.
CREDENTIALS_FILE_MODE = 0o440


def shared_credentials_file(access_key_id: str, secret_access_key: str) -> str:
    """An AWS shared-credentials file with one default profile, as botocore (under s3fs) reads it."""
    return f"[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"


def object_store_env(store: ObjectStore) -> list[k8s.core.v1.EnvVarArgs]:
    """Where s3fs finds the credentials, the store and its region; none of it is secret."""
    env = [
        k8s.core.v1.EnvVarArgs(name="AWS_SHARED_CREDENTIALS_FILE", value=f"{CREDENTIALS_MOUNT_PATH}/{CREDENTIALS_FILE}")
    ]
    if store.endpoint is not None:
        env.append(k8s.core.v1.EnvVarArgs(name="AWS_ENDPOINT_URL_S3", value=store.endpoint))
    if store.region is not None:
        env.append(k8s.core.v1.EnvVarArgs(name="AWS_DEFAULT_REGION", value=store.region))
    return env


@dataclass(frozen=True, kw_only=True)
class ObjectStoreCredentialsArgs:
    store: ObjectStore
    secret_access_key: pulumi.Input[str]
    """A secret Output (`ml-platform:objectStoreSecretAccessKey`)."""
    namespace: pulumi.Input[str]
    provider: k8s.Provider


class ObjectStoreCredentials(pulumi.ComponentResource):
    """The Secret every grant mounts."""

    secret: k8s.core.v1.Secret
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectStoreCredentialsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:ObjectStoreCredentials", name, None, opts)
        access_key_id = args.store.access_key_id
        encoded: pulumi.Output[str] = pulumi.Output.from_input(args.secret_access_key).apply(
            lambda secret: base64.b64encode(shared_credentials_file(access_key_id, secret).encode()).decode()
        )
        secret_value: pulumi.Output[str] = pulumi.Output.secret(encoded)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace, labels=labels.kubernetes_labels("artifacts")),
            type="Opaque",
            data={CREDENTIALS_FILE: secret_value},
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.secret_name = self.secret.metadata.name
        self.register_outputs({"secret_name": self.secret_name})


class ObjectStoreArtifactStore:
    """The `ArtifactStore` of an object store: `<uri>/models/<model>`, reached with the mounted key."""

    def __init__(self, *, store: ObjectStore, credentials_secret_name: pulumi.Input[str], namespace: pulumi.Input[str]):
        self._store = store
        self._credentials_secret_name = credentials_secret_name
        self._namespace = namespace

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        account = workload_service_account(name, model, self._namespace, opts)
        return ArtifactAccess(
            model_root_uri=f"{self._store.uri}/models/{model}",
            service_account_name=account.metadata.name,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name=CREDENTIALS_VOLUME_NAME,
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=self._credentials_secret_name, default_mode=CREDENTIALS_FILE_MODE
                    ),
                )
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name=CREDENTIALS_VOLUME_NAME, mount_path=CREDENTIALS_MOUNT_PATH, read_only=True
                )
            ],
            env=object_store_env(self._store),
        )
