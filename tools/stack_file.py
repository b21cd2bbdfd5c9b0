"""Reads a stack file (`stacks/Pulumi.<stack>.yaml`) the way the Pulumi CLI does, and refuses what
the CLI would read differently from what its author meant.

Every problem names the file, the line and the column (`FILE:LINE:COLUMN: what is wrong`; a file
that cannot be read at all, `FILE: cannot read it: ...`), one line each, and all of them are
reported together:

- a file that cannot be read (missing, a directory, no permission);
- YAML that does not parse, or a document that is not a mapping, or `config:` that is not one;
- a key given twice in one mapping (PyYAML keeps the last silently; the CLI refuses the file);
- a top-level key the stack-file format does not have (`confg:`), with the closest one it has;
- an unquoted number where a string is declared (`kubernetesVersion: 1.30` is the number 1.3,
  which the CLI passes on as "1.3");
- a YAML 1.1 boolean spelled `yes`, `no`, `on` or `off`, or a YAML 1.1 number (`30:00` is 1800 in
  base 60, `017` is octal 15): PyYAML reads a boolean or a number, the CLI's YAML 1.2 parser reads
  text, so the offline render and `pulumi up` would see different values;
- a date, a `!!binary` value or another YAML 1.1 type no config value (JSON) can hold.

`read_document` applies the checks that are not about stack files (reading, YAML, duplicate keys,
YAML 1.1 values) to any YAML file the tools read, such as the render's `--secrets`.

Pure: no Pulumi import, so the render tool reads a stack before starting any runtime.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The keys of a Pulumi stack file (`workspace.ProjectStack` in the Pulumi CLI).
TOP_LEVEL_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_YAML_12_BOOLEANS = ("true", "false")
# Numbers as YAML 1.2's core schema reads them to the same value PyYAML does. PyYAML also reads
# 1:30 (base 60), 0b101 and 1_000 as numbers, and 017 as octal 15 (YAML 1.2: 17).
_YAML_12_NUMBERS = {
    _INT: re.compile(r"[-+]?(0|[1-9][0-9]*)|0x[0-9a-fA-F]+"),
    _FLOAT: re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"),
}
# YAML 1.1 types PyYAML constructs that have no config value (JSON) to become.
_NOT_CONFIG_VALUES = {
    "tag:yaml.org,2002:timestamp": "date or time",
    "tag:yaml.org,2002:binary": "binary value",
    "tag:yaml.org,2002:set": "set",
    "tag:yaml.org,2002:omap": "ordered map",
    "tag:yaml.org,2002:pairs": "list of pairs",
}


@dataclass(frozen=True)
class Located:
    """One problem at a place in the file; line and column are 1-based, as editors show them, and
    0 for a problem with the whole file (it cannot be read)."""

    line: int
    column: int
    message: str

    def text(self, path: Path) -> str:
        return f"{path}:{self.line}:{self.column}: {self.message}" if self.line else f"{path}: {self.message}"


class StackFileError(ValueError):
    """Everything wrong with a stack file, one `FILE:LINE:COLUMN: message` line per problem."""

    def __init__(self, path: Path, problems: list[Located]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problem.text(path) for problem in problems))


def _at(mark: yaml.Mark | None, message: str) -> Located:
    if mark is None:
        return Located(1, 1, message)
    return Located(mark.line + 1, mark.column + 1, message)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the scalar {node.value!r}" if node.value else "an empty value"


def _compose(path: Path) -> yaml.Node | None:
    """The document's node tree (with positions); a syntax error is one located problem."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StackFileError(path, [Located(0, 0, f"cannot read it: {error.strerror or error}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise StackFileError(path, [Located(line, column, "not UTF-8 text")]) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        problem = error.problem or str(error)
        context = f" ({error.context})" if error.context else ""
        raise StackFileError(path, [_at(error.problem_mark, f"YAML syntax error: {problem}{context}")]) from None
    except yaml.YAMLError as error:
        # ReaderError (a control character): it knows its offset, not its line.
        position = getattr(error, "position", 0)
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        raise StackFileError(path, [Located(line, column, f"YAML error: {error}")]) from None


def _mappings(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    if isinstance(node, yaml.MappingNode):
        yield node
        for key, value in node.value:
            yield from _mappings(key)
            yield from _mappings(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _mappings(item)


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(key)
            yield from _scalars(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item)


def _duplicates(root: yaml.Node) -> list[Located]:
    problems = []
    for mapping in _mappings(root):
        seen: dict[str, yaml.Node] = {}
        for key, _ in mapping.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            if key.value in seen:
                first = seen[key.value].start_mark.line + 1
                problems.append(_at(key.start_mark, f"key {key.value!r} is given twice (first on line {first})"))
            seen.setdefault(key.value, key)
    return problems


def _closest(word: str, candidates: Collection[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _yaml_11_only(node: yaml.Node) -> list[Located]:
    """Scalars PyYAML (YAML 1.1) reads as something the Pulumi CLI's YAML 1.2 parser does not: the
    render and `pulumi up` would see different values, or the render could not carry the value."""
    problems = []
    for scalar in _scalars(node):
        problem = _yaml_11_reading(scalar)
        if problem:
            problems.append(_at(scalar.start_mark, problem))
    return problems


def _yaml_11_reading(scalar: yaml.ScalarNode) -> str | None:
    """Why this scalar reads differently, or None. The messages do not repeat numbers or dates: the
    file may be the render's --secrets."""
    if scalar.tag in _NOT_CONFIG_VALUES:
        kind = _NOT_CONFIG_VALUES[scalar.tag]
        return f"a YAML {kind} to PyYAML, which no config value can hold: quote it as text"
    if scalar.style is not None:
        return None  # quoted or block text: the same to both readers
    if scalar.tag == _BOOL and scalar.value.lower() not in _YAML_12_BOOLEANS:
        return (
            f"{scalar.value!r} is a boolean to PyYAML but text to the Pulumi CLI (YAML 1.2): "
            "write true or false, or quote it if you mean the text"
        )
    number = _YAML_12_NUMBERS.get(scalar.tag)
    if number is not None and not number.fullmatch(scalar.value):
        return (
            "PyYAML (YAML 1.1) and the Pulumi CLI (YAML 1.2) read this number differently (base 60 like 30:00, "
            "octal like 017, 0b binary, _ separators): write it in plain decimal, or quote it if you mean the text"
        )
    return None


def _construct(node: yaml.Node) -> Any:
    """The Python value of one node, as `yaml.safe_load` would give it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_document(path: Path) -> Any:
    """Any YAML file's value as `yaml.safe_load` gives it, refused where the Pulumi CLI's reader
    would differ or PyYAML would drop something: not UTF-8, a syntax error, a key given twice, a
    YAML 1.1 boolean. Raises StackFileError naming every problem."""
    root = _compose(path)
    if root is None:
        return None
    problems = _duplicates(root) + _yaml_11_only(root)
    if problems:
        raise StackFileError(path, sorted(problems, key=lambda p: (p.line, p.column)))
    return _construct(root)


def read_config(path: Path, project: str, string_keys: Collection[str] = ()) -> dict[str, Any]:
    """The stack file's `config:` as `namespace:key` -> value (an unqualified key gets `project`'s
    namespace, as the CLI gives it). `string_keys`: full keys declared `type: string`, where an
    unquoted number is refused. Raises StackFileError naming every problem."""
    root = _compose(path)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise StackFileError(
            path, [_at(root.start_mark, f"a stack file is a mapping (config: ...), not {_kind(root)}")]
        )
    problems = _duplicates(root)
    config_node: yaml.Node | None = None
    for key, value in root.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name == "config":
            config_node = value
        elif name not in TOP_LEVEL_KEYS:
            allowed = ", ".join(TOP_LEVEL_KEYS)
            hint = _closest(str(name), TOP_LEVEL_KEYS)
            problems.append(_at(key.start_mark, f"unknown stack-file key {name!r}{hint} (allowed: {allowed})"))
    if config_node is None or (isinstance(config_node, yaml.ScalarNode) and config_node.tag == _NULL):
        if problems:
            raise StackFileError(path, problems)
        return {}
    if not isinstance(config_node, yaml.MappingNode):
        problems.append(
            _at(
                config_node.start_mark, f"config: must be a mapping of `namespace:key: value`, not {_kind(config_node)}"
            )
        )
        raise StackFileError(path, problems)

    entries: dict[str, Any] = {}
    for key, value in config_node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
            problems.append(_at(key.start_mark, f"config keys are text (`namespace:key`), not {_kind(key)}"))
            continue
        full_key = key.value if ":" in key.value else f"{project}:{key.value}"
        if (
            full_key in string_keys
            and isinstance(value, yaml.ScalarNode)
            and value.tag == _FLOAT
            and value.style is None
        ):
            number = yaml.safe_load(value.value)
            problems.append(
                _at(
                    value.start_mark,
                    f"{key.value}: {value.value} is read as the number {number}, and this key is text; "
                    f'quote it: "{value.value}"',
                )
            )
        problems.extend(_yaml_11_only(value))
        try:
            entries[full_key] = _construct(value)
        except yaml.MarkedYAMLError as error:
            problems.append(_at(error.problem_mark, f"{key.value}: {error.problem}"))
    if problems:
        raise StackFileError(path, sorted(problems, key=lambda p: (p.line, p.column)))
    return entries
