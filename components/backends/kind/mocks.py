"""What the kind backend's tools answer under the render's mocks: the kind CLI (run by
pulumi-command) and the Docker engine that runs the local registry container."""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from tools.mocks import FAKE_KUBECONFIG, BackendMocks, auto_name, short_hash


def _docker_remote_image(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    image_id = f"sha256:{hashlib.sha256(args.inputs['name'].encode()).hexdigest()}"
    return image_id, {**args.inputs, "imageId": image_id, "repoDigest": args.inputs["name"]}


def _docker_named(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name = args.inputs.get("name") or auto_name(args.name)
    return short_hash(args.name, length=12), {**args.inputs, "name": name}


def _command(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """The local commands run the kind CLI; this answers as it would."""
    create = args.inputs.get("create", "")
    stdout = FAKE_KUBECONFIG if "kind get kubeconfig" in create else ""
    return short_hash(args.name, length=12), {**args.inputs, "stdout": stdout, "stderr": ""}


MOCKS = BackendMocks(
    resources={
        "docker:index/remoteImage:RemoteImage": _docker_remote_image,
        "docker:index/container:Container": _docker_named,
        "docker:index/volume:Volume": _docker_named,
        "command:local:Command": _command,
    }
)
