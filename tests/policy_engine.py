"""The Pulumi engine's side of a policy pack, for tests: start the pack the way the CLI does
(`python -m pulumi.policy ENGINE PROGRAM` in the pack's directory, PULUMI_STACK set), then call its
gRPC Analyzer service with a render's resources, as the engine calls it during `pulumi preview`.

What the CLI adds around it is mimicked only where a test needs it: Configure gets every policy's
level (the CLI fills levels the config file leaves out from the pack's own), and a resource
policy's diagnostics belong to the resource analyzed (the engine attaches them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parents[1] / "policy"
LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVEL_NAMES.items()}


@dataclass(frozen=True, order=True)
class Diagnostic:
    rule: str
    level: str
    urn: str
    message: str


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


class Engine:
    def __init__(self, channel: grpc.Channel):
        self.stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        self.descriptions = {policy.name: policy.description for policy in self.info.policies}

    def levels(self) -> dict[str, str]:
        return {policy.name: LEVEL_NAMES[policy.enforcementLevel] for policy in self.info.policies}

    def configure(self, config: Mapping[str, Any]) -> None:
        """`config` in the config file's format, without `all` (the CLI expands it)."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        defaults = self.levels()
        for name, entry in config.items():
            entry = {"enforcementLevel": entry} if isinstance(entry, str) else dict(entry)
            level = entry.pop("enforcementLevel", defaults[name])
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_VALUES[level], properties=_struct(entry))
            )
        self.stub.Configure(request)

    def analyze(self, resources: list[dict[str, Any]]) -> list[Diagnostic]:
        """Every resource through Analyze, then the stack through AnalyzeStack."""
        by_urn = {resource["urn"]: resource for resource in resources}
        found: list[Diagnostic] = []
        for resource in resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource["type"],
                properties=_struct(resource["inputs"]),
                urn=resource["urn"],
                name=resource["name"],
                options=_options(resource),
                provider=_provider(resource, by_urn),
            )
            found += self._diagnostics(self.stub.Analyze(request), default_urn=resource["urn"])
        stack = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=resource["type"],
                    properties=_struct(resource["inputs"]),
                    urn=resource["urn"],
                    name=resource["name"],
                    options=_options(resource),
                    provider=_provider(resource, by_urn),
                    parent=resource.get("parent") or "",
                    dependencies=resource.get("dependencies") or [],
                )
                for resource in resources
            ]
        )
        found += self._diagnostics(self.stub.AnalyzeStack(stack), default_urn="")
        return sorted(found)

    def _diagnostics(self, response: Any, default_urn: str) -> list[Diagnostic]:
        diagnostics = []
        for diagnostic in response.diagnostics:
            # The SDK sends "<policy description>\n<message>".
            message = diagnostic.message.removeprefix(self.descriptions[diagnostic.policyName] + "\n")
            diagnostics.append(
                Diagnostic(
                    rule=diagnostic.policyName,
                    level=LEVEL_NAMES[diagnostic.enforcementLevel],
                    urn=diagnostic.urn or default_urn,
                    message=message,
                )
            )
        return diagnostics


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.get("options") or {}
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options.get("protect")),
        ignoreChanges=options.get("ignoreChanges") or [],
        deleteBeforeReplace=bool(options.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined=True,
        additionalSecretOutputs=options.get("additionalSecretOutputs") or [],
        aliases=options.get("aliases") or [],
        parent=resource.get("parent") or "",
    )


def _provider(
    resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(str(resource.get("provider") or ""))
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"], properties=_struct(provider["inputs"]), urn=provider["urn"], name=provider["name"]
    )


@contextmanager
def running_pack(stack: str, python: str = sys.executable, timeout: float = 60) -> Iterator[Engine]:
    """The pack in a child process, as the CLI starts it for `pulumi preview -s STACK`."""
    env = {**os.environ, "PULUMI_STACK": stack, "PULUMI_PROJECT": "ml-platform", "PULUMI_DRY_RUN": "true"}
    process = subprocess.Popen(
        [python, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=PACK_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _first_line(process, timeout)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=timeout)
            yield Engine(channel)
    finally:
        process.kill()
        process.wait(timeout=timeout)


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The port the pack prints once its server listens (its only stdout line)."""
    line: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0].strip().isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=timeout)
        raise AssertionError(f"the policy pack did not start: {line!r}\n{stderr}")
    return line[0].strip()
