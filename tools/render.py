"""Render what a stack declares, without a Pulumi CLI, engine or cloud.

    python -m tools.render STACK --out DIR [--secrets FILE]

Runs the real program (`__main__.py`) of STACK under Pulumi's mocks, fed from
`stacks/Pulumi.STACK.yaml`, and writes:

- `DIR/resources.json`: every resource (type, logical name, parent, provider, dependencies,
  inputs, and the options a reviewer cares about), secrets masked, in a stable order;
- `DIR/outputs.json`: the stack outputs, secrets masked;
- `DIR/manifests/`: one kubectl-style YAML file per Kubernetes object;
- `DIR/warnings.json`: what the program warned about (`pulumi.log.warn`: a risky stack setting, a
  GPU request that runs on CPU), a sorted list of texts, also printed on stderr as `pulumi up`
  shows them. The pull-request preview lists them per stack (tools/render_diff.py).

Two runs give byte-identical output. Bad input exits 2 with one line `render STACK: ...` (a stack
file's problems as `FILE:LINE:COLUMN: ...`, one line each) and writes nothing: an unknown stack, a
stack file that does not parse, an invalid config, a `--secrets` file that cannot be read or is
not a mapping of text, an `--out` that cannot be written (under a regular file). The inputs are
checked before the program runs. `DIR` must be new, empty or a previous render, which a successful
run replaces and a failed run - whatever failed - removes (saying so), so that an old render is
never mistaken for a fresh one; any other existing `DIR` is refused untouched.

Readers of a render (tools/check.py, tools/cost.py, tools/render_diff.py) read it with
`load_render`, which refuses, as one RenderError line naming the file, a render whose structure
is not what this tool writes.

Secure values of a stack file cannot be decrypted without the Pulumi CLI, so the program gets a
visible placeholder, marked secret. `--secrets FILE` (YAML: full key -> value) stands in for the
CLI's decryption: each value replaces the placeholder of a key the stack file holds encrypted and
reaches the program as a secret, exactly as the CLI passes it (tests use it to prove that a known
value is masked everywhere).
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # `python tools/X.py`: run as `python -m tools.X`
    import _as_module  # type: ignore[import-not-found]  # noqa: F401 - never returns (tools/_as_module.py)

import argparse
import asyncio
import json
import logging
import math
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tools.mocks import RecordingMonitor

from components.config import PROJECT_ROOT
from tools import stack_file

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - the mask written in place of a secret
SECURE_PLACEHOLDER = "[secure value: decrypted by the Pulumi CLI only]"
# The marker Pulumi's RPC layer wraps secret values in.
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a public marker, not a secret


class RenderError(Exception):
    """A problem the user must fix (unknown stack, invalid config); exit code 2."""


def _project() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())
    return document


def project_name() -> str:
    return str(_project()["name"])


def declared_string_keys() -> set[str]:
    """Full keys that `Pulumi.yaml` declares `type: string`: an unquoted number there is refused."""
    project = _project()
    declared = project.get("config") or {}
    return {f"{project['name']}:{key}" for key, spec in declared.items() if spec.get("type") == "string"}


STACKS_DIR = PROJECT_ROOT / "stacks"


def known_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for path in stacks_dir.glob("Pulumi.*.yaml")
        if path.is_file()
    )


def stack_config(
    stack: str, stacks_dir: Path = STACKS_DIR, decrypted: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the Pulumi CLI hands it to a program: strings, objects as JSON.
    Secure values cannot be decrypted without the CLI, so they become a visible placeholder, or the
    value `decrypted` gives for their key."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(known_stacks(stacks_dir)) or f"none in {stacks_dir}"
        raise RenderError(f"unknown stack {stack!r}: no {path}; known stacks: {known}")
    project = project_name()
    try:
        entries = stack_file.read_config(path, project, declared_string_keys())
    except stack_file.StackFileError as error:
        raise RenderError(str(error)) from None
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for full_key, value in entries.items():
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
    """`--secrets FILE`: a YAML mapping of full config keys to plain values, read with a stack
    file's checks (a key given twice would silently lose a value)."""
    try:
        document = stack_file.read_document(path) or {}
    except stack_file.StackFileError as error:
        raise RenderError(f"--secrets: {error}") from None
    if not isinstance(document, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in document.items()
    ):
        raise RenderError(f"--secrets: {path}: expected a YAML mapping of full config keys to string values")
    return document


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


class _LevelFormatter(logging.Formatter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix}{record.levelname.lower()}: {record.getMessage()}"


class _WarningRecorder(logging.Handler):
    """Keeps the text of each warning (or worse) the program logs, for warnings.json."""

    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.into.append(message if record.levelno == logging.WARNING else f"{record.levelname.lower()}: {message}")


def program_log(stack: str) -> logging.Logger:
    """Where the program's `pulumi.log` messages go under mocks: stderr, one line each, marked
    with their level (`render prod-eks: warning: ...`), as `pulumi up` would show them."""
    logger = logging.getLogger(f"ml-platform.render.{stack}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LevelFormatter(f"render {stack}: "))
        logger.addHandler(handler)
    return logger


def run_program(
    stack: str,
    stacks_dir: Path = STACKS_DIR,
    decrypted: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> tuple[RecordingMonitor, dict[str, Any]]:
    """Runs the real program under mocks in this process; returns (monitor, outputs). `decrypted`:
    values for the stack file's secure keys (see `stack_config`). `warnings`: a list that receives
    the text of each warning the program logs (they go to stderr either way)."""
    logger = program_log(stack)
    recorder = _WarningRecorder(warnings) if warnings is not None else None
    if recorder is not None:
        logger.addHandler(recorder)
    try:
        return _run_program(stack, stacks_dir, decrypted, logger)
    finally:
        # Only after the outputs resolved: a warning about a resource is logged once its URN is.
        if recorder is not None:
            logger.removeHandler(recorder)


def _run_program(
    stack: str, stacks_dir: Path, decrypted: Mapping[str, str] | None, logger: logging.Logger
) -> tuple[RecordingMonitor, dict[str, Any]]:
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
    pulumi.runtime.set_mocks(mocks, project=project_name(), stack=stack, preview=False, monitor=monitor, logger=logger)
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


def write(
    out: Path, stack: str, monitor: RecordingMonitor, exported: dict[str, Any], warnings: Sequence[str] = ()
) -> int:
    """Writes to a temporary directory first, so a failure never leaves a half-written render.
    Returns how many Kubernetes objects it wrote. A file system error is a RenderError."""
    try:
        return _write(out, stack, monitor, exported, warnings)
    except OSError as error:
        raise RenderError(f"cannot write {out}: {error.strerror or error}") from None


def _write(out: Path, stack: str, monitor: RecordingMonitor, exported: dict[str, Any], warnings: Sequence[str]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=out.parent))
    try:
        (staging / RESOURCES_FILE).write_text(
            json.dumps(resources_document(stack, monitor), indent=2, sort_keys=True) + "\n"
        )
        (staging / OUTPUTS_FILE).write_text(json.dumps(clean(exported), indent=2, sort_keys=True) + "\n")
        # Sorted and once each: two runs give the same file whatever order the warnings arrived in.
        (staging / WARNINGS_FILE).write_text(json.dumps(sorted(set(warnings)), indent=2) + "\n")
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


RESOURCES_FILE = "resources.json"
OUTPUTS_FILE = "outputs.json"
WARNINGS_FILE = "warnings.json"
RENDER_FILES = (RESOURCES_FILE, OUTPUTS_FILE, WARNINGS_FILE, "manifests")
"""What a render directory holds; `--out` replaces a directory only if it holds nothing else."""


def is_render(directory: Path) -> bool:
    return (directory / RESOURCES_FILE).is_file()


def load_render(directory: Path) -> dict[str, Any]:
    """A render's resources.json, checked for everything its readers (the policy check, the cost
    estimate, the preview) rely on: the structure `resources_document` writes, URNs unique, and the
    render's other files (outputs.json, manifests) readable. A missing or malformed render is a
    RenderError, one line naming the file and what is wrong."""
    path = directory / RESOURCES_FILE
    if not path.exists():
        raise RenderError(f"{directory} is not a render: no {RESOURCES_FILE} (make one with python -m tools.render)")
    document = _read_json(path)
    if problem := _document_problem(document):
        raise RenderError(f"{path}: {problem}")
    load_outputs(directory)
    load_warnings(directory)
    _check_manifests(directory / "manifests")
    return dict(document)


def load_outputs(directory: Path) -> dict[str, Any]:
    """A render's stack outputs (empty when it has no outputs.json); RenderError when malformed."""
    path = directory / OUTPUTS_FILE
    if not path.exists():
        return {}
    outputs = _read_json(path)
    if not isinstance(outputs, dict):
        raise RenderError(f"{path}: expected an object of stack outputs, got {_shown(outputs)}")
    return outputs


def load_warnings(directory: Path) -> list[str] | None:
    """The program's warnings in a render; None when it has no warnings.json (a render made before
    the tool recorded them: unknown, not "none"). RenderError when it is not a list of texts."""
    path = directory / WARNINGS_FILE
    if not path.exists():
        return None
    warnings = _read_json(path)
    if not isinstance(warnings, list) or not all(isinstance(item, str) for item in warnings):
        raise RenderError(f"{path}: expected a list of warning texts, got {_shown(warnings)}")
    return warnings


def _read_json(path: Path) -> Any:
    """Strict JSON: NaN, Infinity and numbers beyond a double (which the policy engine's protobuf
    Struct cannot carry) are refused, as a render never holds them."""
    try:
        return json.loads(
            path.read_text(encoding="utf-8"), parse_float=_finite, parse_int=_finite_int, parse_constant=_not_json
        )
    except OSError as error:
        raise RenderError(f"{path}: cannot read it: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise RenderError(f"{path}: not JSON: {error}") from None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:20]} is beyond a double")
    return number


def _finite_int(text: str) -> int:
    number = int(text)
    _finite(text)
    return number


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _check_manifests(manifests: Path) -> None:
    """Every manifest parses as one Kubernetes object (the preview diffs them as YAML)."""
    if not manifests.is_dir():
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10 times faster, same result
    for path in sorted(manifests.glob("*.yaml")):
        try:
            body = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise RenderError(f"{path}: not a YAML manifest: {' '.join(str(error).split())}") from None
        if not isinstance(body, dict):
            raise RenderError(f"{path}: expected a Kubernetes object (a mapping), got {_shown(body)}")


# What each field of resources.json must be, as `resources_document` writes it. Required fields are
# read unconditionally by some reader; the optional ones (hand-made renders in tests may leave them
# out) must still have the type the readers use when present.
_KINDS: Mapping[str, Callable[[Any], bool]] = {
    "a non-empty string": lambda value: isinstance(value, str) and bool(value),
    "a string": lambda value: isinstance(value, str),
    "a boolean": lambda value: isinstance(value, bool),
    "an object": lambda value: isinstance(value, dict),
    "a list": lambda value: isinstance(value, list),
    "a list of strings": lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
    "an object of strings": lambda value: isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
}
_REQUIRED, _OPTIONAL = True, False
_DOCUMENT_FIELDS = {
    "resources": ("a list", _REQUIRED),
    "stack": ("a non-empty string", _REQUIRED),
    "project": ("a string", _OPTIONAL),
}
_RESOURCE_FIELDS = {
    "urn": ("a non-empty string", _REQUIRED),
    "type": ("a non-empty string", _REQUIRED),
    "name": ("a non-empty string", _REQUIRED),
    "inputs": ("an object", _REQUIRED),
    "options": ("an object", _REQUIRED),
    "custom": ("a boolean", _OPTIONAL),
    "parent": ("a string", _OPTIONAL),
    "provider": ("a string", _OPTIONAL),
    "dependencies": ("a list of strings", _OPTIONAL),
}
_OPTION_FIELDS = {
    "protect": ("a boolean", _OPTIONAL),
    "ignoreChanges": ("a list of strings", _OPTIONAL),
    "deleteBeforeReplace": ("a boolean", _OPTIONAL),
    "replaceOnChanges": ("a list of strings", _OPTIONAL),
    "additionalSecretOutputs": ("a list of strings", _OPTIONAL),
    "retainOnDelete": ("a boolean", _OPTIONAL),
    "aliases": ("a list of strings", _OPTIONAL),
    "customTimeouts": ("an object of strings", _OPTIONAL),
}


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)  # default: a YAML manifest may hold dates
    return text if len(text) <= 60 else text[:57] + "..."


def _field_problem(where: str, value: Mapping[str, Any], fields: Mapping[str, tuple[str, bool]]) -> str | None:
    """`where`: the path of `value` in the document (`resources[3].options`), empty at the top."""
    for key, (kind, required) in fields.items():
        path = f"{where}.{key}" if where else key
        if key not in value:
            if required:
                return f"{path}: missing (expected {kind})"
        elif not _KINDS[kind](value[key]):
            return f"{path}: expected {kind}, got {_shown(value[key])}"
    return None


def _document_problem(document: Any) -> str | None:
    """The first way `document` is not a resources.json as this tool writes it, or None."""
    if not isinstance(document, dict):
        return f"expected an object with 'stack' and a 'resources' list, got {_shown(document)}"
    if problem := _field_problem("", document, _DOCUMENT_FIELDS):
        return problem
    first_index: dict[str, int] = {}
    for index, resource in enumerate(document["resources"]):
        where = f"resources[{index}]"
        if not isinstance(resource, dict):
            return f"{where}: expected an object, got {_shown(resource)}"
        problem = _field_problem(where, resource, _RESOURCE_FIELDS) or _field_problem(
            f"{where}.options", resource["options"], _OPTION_FIELDS
        )
        if problem:
            return problem
        first = first_index.setdefault(resource["urn"], index)
        if first != index:
            return f"{where}.urn: {resource['urn']} is given twice (first at resources[{first}]): URNs are unique"
    return None


def render_in_child(stack: str, out: Path, stacks_dir: Path | None = None) -> None:
    """Renders STACK into `out` in a child process, for tools that render and then read (the
    Pulumi runtime a render uses is process-global). A failed render is a RenderError with its message."""
    command = [sys.executable, "-m", "tools.render", stack, "--out", str(out)]
    if stacks_dir is not None:
        command += ["--stacks-dir", str(stacks_dir.resolve())]  # the child runs from the project root
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)  # noqa: S603 - our own tool
    if result.returncode != 0:
        raise RenderError(result.stderr.strip() or f"render {stack} failed with exit code {result.returncode}")


def foreign_entries(out: Path) -> list[str]:
    """What in `out` this tool did not write: non-empty means `out` is not a render."""
    if not out.is_dir():
        return [out.name]
    foreign = sorted(path.name for path in out.iterdir() if path.name not in RENDER_FILES)
    manifests = out / "manifests"
    if manifests.is_dir():
        foreign += sorted(
            f"manifests/{path.name}" for path in manifests.iterdir() if path.suffix != ".yaml" or not path.is_file()
        )
    elif manifests.exists():
        foreign.append("manifests")
    return foreign


def check_out(out: Path) -> None:
    """Refuses an `--out` that cannot be written (under a regular file) or that exists and is not a
    render (a typo of `--out .` must not delete the tree), before anything is rendered."""
    try:
        _check_out(out)
    except OSError as error:
        raise RenderError(f"cannot write {out}: {error.strerror or error}") from None


def _check_out(out: Path) -> None:
    existing = next(path for path in (out, *out.parents) if path.exists())
    if existing != out:  # a new directory: it must be possible to create it
        if not existing.is_dir():
            raise RenderError(f"cannot write {out}: {existing} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RenderError(f"cannot write {out}: no permission to create it in {existing}")
        return
    if not out.is_dir():
        raise RenderError(f"refusing to write {out}: it is a file, not a render directory")
    if foreign := foreign_entries(out):
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise RenderError(
            f"refusing to write {out}: it exists and is not a render (it holds {shown}); "
            "give a new directory or a previous render's"
        )


def discard_stale_render(out: Path) -> str | None:
    """After a failed render, removes the previous render in `out` so that nobody mistakes it for
    this one; returns what it did, for the user. Anything in `out` this tool did not write (see
    `foreign_entries`) means it is not a render: it is left alone, whatever failed."""
    try:
        if out.is_dir() and not foreign_entries(out) and any(out.iterdir()):
            shutil.rmtree(out)
            return f"removed the previous render in {out}: it was not made from this stack file"
    except OSError as error:
        return f"could not remove {out} ({error.strerror or error}): do not take what it holds for this render"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="directory to write: new, empty or a previous render (replaced; removed if this render fails)",
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where stack files live (default: stacks/)")
    parser.add_argument(
        "--secrets", type=Path, help="YAML of full key -> value for the stack's secure keys (what the CLI decrypts)"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        # The inputs first, so that a bad one costs no render and is reported the same way.
        check_out(out)
        decrypted = read_secrets(args.secrets) if args.secrets else None
        warnings: list[str] = []
        monitor, exported = run_program(args.stack, args.stacks_dir.resolve(), decrypted, warnings)
        objects = write(out, args.stack, monitor, exported, warnings)
    except RenderError as error:
        _report_failure(args.stack, out, str(error))
        return 2
    except BaseException:
        # An unexpected failure (a bug, Ctrl-C) must not leave the old render looking current either.
        _report_failure(args.stack, out, None)
        raise
    print(f"rendered {args.stack}: {len(monitor.registrations)} resources, {objects} Kubernetes objects -> {out}")
    return 0


def _report_failure(stack: str, out: Path, message: str | None) -> None:
    """Every failed run ends here: the message, then the previous render in `out` removed (never a
    directory that is not a render: `discard_stale_render` checks)."""
    if message is not None:
        print(f"render {stack}: {message}", file=sys.stderr)
    if removed := discard_stale_render(out):
        print(f"render {stack}: {removed}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
