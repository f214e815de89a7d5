"""YAML reading that keeps what a config error report needs: line numbers and source text.

The loader works on the composed node tree rather than on constructed Python values so that an
address such as `000017` or `40001` is taken exactly as written (no octal/int conversion) and
every value carries its line for `FILE:LINE:` messages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


@dataclass
class Located:
    """A parsed value with its source line (1-based) and, for scalars, the text as written."""

    value: Any
    line: int
    text: str | None = None
    keys: dict[str, int] = field(default_factory=dict)  # mapping: key -> line of the key


class YamlSourceError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _substitute(text: str, line: int, problems: list[tuple[int, str]]) -> str:
    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        val = os.environ.get(name)
        if val is None:
            if default is not None:
                return default
            problems.append((line, f"environment variable {name} is not set (use ${{{name}:-default}} for a default)"))
            return ""
        return val

    return _ENV.sub(repl, text)


def _scalar(node: ScalarNode, problems: list[tuple[int, str]]) -> Located:
    line = node.start_mark.line + 1
    text = _substitute(str(node.value), line, problems)
    if node.style:  # quoted or block scalar: always a string
        return Located(text, line, text)
    low = text.lower()
    value: Any
    if low in ("", "~", "null"):
        value = None if text == str(node.value) else text
    elif low in ("true", "false"):
        value = low == "true"
    elif _INT.match(text):
        value = int(text.replace("_", ""))
    elif _FLOAT.match(text):
        value = float(text.replace("_", ""))
    elif low in (".inf", "+.inf", "-.inf", ".nan"):
        value = float(low.replace(".", ""))
    else:
        value = text
    return Located(value, line, text)


def _build(node: Node, problems: list[tuple[int, str]]) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode):
        return _scalar(node, problems)
    if isinstance(node, SequenceNode):
        return Located([_build(n, problems) for n in node.value], line)
    if isinstance(node, MappingNode):
        out: dict[str, Located] = {}
        keys: dict[str, int] = {}
        for knode, vnode in node.value:
            key = str(knode.value)
            kline = knode.start_mark.line + 1
            if key in out:
                problems.append((kline, f"duplicate key {key!r} (first at line {keys[key]})"))
            out[key] = _build(vnode, problems)
            keys[key] = kline
        return Located(out, line, keys=keys)
    raise YamlSourceError(line, f"unsupported YAML node {type(node).__name__}")


def load_located(text: str, problems: list[tuple[int, str]]) -> Located | None:
    """Parse YAML text into `Located` values; `${VAR}` problems are appended to `problems`."""
    yaml = YAML(typ="rt")
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSourceError((mark.line + 1) if mark else 1, f"YAML syntax: {exc.problem or exc}") from None
    if node is None:
        return None
    return _build(node, problems)


def plain(loc: Located | None) -> Any:
    """Strip locations: the plain Python value (used for pass-through sections)."""
    if loc is None:
        return None
    if isinstance(loc.value, dict):
        return {k: plain(v) for k, v in loc.value.items()}
    if isinstance(loc.value, list):
        return [plain(v) for v in loc.value]
    return loc.value
