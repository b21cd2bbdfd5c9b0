"""Render what a stack declares, without a Pulumi CLI, engine or cloud.

    python -m tools.render STACK --out DIR [--secrets FILE]

Runs the real program (`__main__.py`) of STACK under Pulumi's mocks, fed from
`stacks/Pulumi.STACK.yaml`, and writes:

- `DIR/resources.json`: every resource (type, logical name, parent, provider, dependencies,
  inputs, and the options a reviewer cares about), secrets masked, in a stable order;
- `DIR/outputs.json`: the stack outputs, secrets masked;
- `DIR/manifests/`: one kubectl-style YAML file per Kubernetes object.

Two runs give byte-identical output. An unknown stack or an invalid config exits 2 with the
message and writes nothing.

Secure values of a stack file cannot be decrypted without the Pulumi CLI, so the program gets a
visible placeholder, marked secret. `--secrets FILE` (YAML: full key -> value) stands in for the
CLI's decryption: each value replaces the placeholder of a key the stack file holds encrypted and
reaches the program as a secret, exactly as the CLI passes it (tests use it to prove that a known
value is masked everywhere).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import runpy
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tools.mocks import RecordingMonitor

from components.config import PROJECT_ROOT

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - the mask written in place of a secret
SECURE_PLACEHOLDER = "[secure value: decrypted by the Pulumi CLI only]"
# The marker Pulumi's RPC layer wraps secret values in.
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a public marker, not a secret


class RenderError(Exception):
    """A problem the user must fix (unknown stack, invalid config); exit code 2."""


def project_name() -> str:
    return str(yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())["name"])


STACKS_DIR = PROJECT_ROOT / "stacks"


def known_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in stacks_dir.glob("Pulumi.*.yaml"))


def stack_config(
    stack: str, stacks_dir: Path = STACKS_DIR, decrypted: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the Pulumi CLI hands it to a program: strings, objects as JSON.
    Secure values cannot be decrypted without the CLI, so they become a visible placeholder, or the
    value `decrypted` gives for their key."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise RenderError(f"unknown stack {stack!r}: no {path}; known stacks: {', '.join(known_stacks(stacks_dir))}")
    document = yaml.safe_load(path.read_text()) or {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    project = project_name()
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = (decrypted or {}).get(full_key, SECURE_PLACEHOLDER)
            secret_keys.append(full_key)
        elif isinstance(value, str):
            values[full_key] = value
        else:
            values[full_key] = json.dumps(value)
    extra = sorted(set(decrypted or {}) - set(secret_keys))
    if extra:
        raise RenderError(f"--secrets gives {', '.join(extra)}, which {path.name} does not hold as secure values")
    return values, secret_keys


def read_secrets(path: Path) -> dict[str, str]:
    """`--secrets FILE`: a YAML mapping of full config keys to plain values."""
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise RenderError(f"{path}: --secrets takes a YAML mapping of full config keys to string values")
    return {str(key): value for key, value in document.items()}


def clean(value: Any, *, keep_keys: bool = False) -> Any:
    """Normalises what reaches mocks for writing: secrets masked, whole floats back to ints.
    `keep_keys`: a secret mapping keeps its keys, each value masked (a manifest's Secret `data`
    must stay a mapping to pass schema validation); otherwise it is masked whole."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            inner = value.get("value")
            if keep_keys and isinstance(inner, dict):
                return dict.fromkeys(sorted(inner), SECRET_PLACEHOLDER)
            return SECRET_PLACEHOLDER
        return {key: clean(item, keep_keys=keep_keys) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [clean(item, keep_keys=keep_keys) for item in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def run_program(
    stack: str, stacks_dir: Path = STACKS_DIR, decrypted: Mapping[str, str] | None = None
) -> tuple[RecordingMonitor, dict[str, Any]]:
    """Runs the real program under mocks in this process; returns (monitor, outputs). `decrypted`:
    values for the stack file's secure keys (see `stack_config`)."""
    import pulumi
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import Stack, wait_for_rpcs
    from pulumi.runtime.sync_await import _sync_await

    from tools import mock_backends
    from tools.mocks import RecordingMonitor

    values, secret_keys = stack_config(stack, stacks_dir, decrypted)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = mock_backends.platform_mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project_name(), stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(values, secret_keys)

    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")
        loop.run_until_complete(wait_for_rpcs())
    except pulumi.RunError as error:
        raise RenderError(str(error)) from None
    finally:
        os.chdir(cwd)

    root = runtime_settings.get_root_resource()
    if not isinstance(root, Stack):
        raise RenderError("the program registered no stack resource: did __main__.py run?")
    exported = {}
    for key, value in sorted(root.outputs.items()):
        output = pulumi.Output.from_input(value)
        resolved = _sync_await(output.future())
        exported[key] = SECRET_PLACEHOLDER if _sync_await(output.is_secret()) else resolved
    return monitor, exported


def resources_document(stack: str, monitor: RecordingMonitor) -> dict[str, Any]:
    resources = []
    for registration in sorted(monitor.registrations, key=lambda r: r.urn):
        resources.append(
            {
                "urn": registration.urn,
                "type": registration.type,
                "name": registration.name,
                "custom": registration.custom,
                "parent": registration.parent,
                "provider": registration.provider,
                "dependencies": list(registration.dependencies),
                "options": {
                    "protect": registration.protect,
                    "ignoreChanges": sorted(registration.ignore_changes),
                    "deleteBeforeReplace": registration.delete_before_replace,
                    "replaceOnChanges": sorted(registration.replace_on_changes),
                    "additionalSecretOutputs": sorted(registration.additional_secret_outputs),
                    "retainOnDelete": registration.retain_on_delete,
                    "aliases": list(registration.aliases),
                    "customTimeouts": registration.custom_timeouts,
                },
                "inputs": clean(registration.inputs),
            }
        )
    return {"stack": stack, "project": project_name(), "resources": resources}


def kubernetes_manifests(monitor: RecordingMonitor) -> dict[str, dict[str, Any]]:
    """File name -> object, for every Kubernetes object (not providers, not Helm/YAML components)."""
    manifests = {}
    for urn, registration in monitor.resources.items():
        type_token = urn.split("::")[2].split("$")[-1]
        if not type_token.startswith("kubernetes:") or type_token.startswith(("kubernetes:helm.sh", "kubernetes:yaml")):
            continue
        _, group_version, kind = type_token.split(":")
        group, _, version = group_version.rpartition("/")
        api_version = version if group in ("core", "") else f"{group}/{version}"
        state = clean(registration.state, keep_keys=True)
        body = {
            "apiVersion": api_version,
            "kind": kind,
            **{k: v for k, v in state.items() if k not in ("apiVersion", "kind", "status")},
        }
        metadata = body["metadata"]
        scope = metadata.get("namespace")
        file_name = f"{kind.lower()}-{scope + '-' if scope else ''}{metadata['name']}.yaml"
        manifests[file_name] = body
    return dict(sorted(manifests.items()))


def write(out: Path, stack: str, monitor: RecordingMonitor, exported: dict[str, Any]) -> int:
    """Writes to a temporary directory first, so a failure never leaves a half-written render.
    Returns how many Kubernetes objects it wrote."""
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=out.parent))
    try:
        (staging / "resources.json").write_text(
            json.dumps(resources_document(stack, monitor), indent=2, sort_keys=True) + "\n"
        )
        (staging / "outputs.json").write_text(json.dumps(clean(exported), indent=2, sort_keys=True) + "\n")
        manifest_dir = staging / "manifests"
        manifest_dir.mkdir()
        manifests = kubernetes_manifests(monitor)
        for file_name, body in manifests.items():
            (manifest_dir / file_name).write_text(yaml.safe_dump(body, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        return len(manifests)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, type=Path, help="directory to write (replaced if it exists)")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where stack files live (default: stacks/)")
    parser.add_argument(
        "--secrets", type=Path, help="YAML of full key -> value for the stack's secure keys (what the CLI decrypts)"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        decrypted = read_secrets(args.secrets) if args.secrets else None
        monitor, exported = run_program(args.stack, args.stacks_dir.resolve(), decrypted)
        out.parent.mkdir(parents=True, exist_ok=True)
        objects = write(out, args.stack, monitor, exported)
    except RenderError as error:
        print(f"render {args.stack}: {error}", file=sys.stderr)
        return 2
    print(f"rendered {args.stack}: {len(monitor.registrations)} resources, {objects} Kubernetes objects -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
