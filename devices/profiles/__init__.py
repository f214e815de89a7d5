"""Device profiles: the tag lists of typical mine and plant equipment, as YAML package data.

A gateway config names a profile (`profile: belt_scale`) and the loader merges the profile's tags
under the device's own. Profiles are plain files so that site engineers can read, copy and adapt
them; this module only finds and parses them. Validation lives with the config rules
(`gateway.config`) and, for what a profile alone can show, in `devices.profiles.check`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["ProfileError", "load_profile", "profile_names", "profile_path", "profile_tags"]

_SUFFIX = ".yaml"
_TEXT_KEYS = frozenset({"address"})
"""Keys whose value is taken as written: `40001` and `000017` are addresses, not numbers."""


class ProfileError(Exception):
    """A profile that does not exist or cannot be parsed; the message names the file or the choices."""


def _directory() -> Path:
    return Path(str(resources.files(__name__)))


def profile_names() -> list[str]:
    """Names of the profiles shipped with the package, sorted."""
    return sorted(p.name[: -len(_SUFFIX)] for p in _directory().glob(f"*{_SUFFIX}") if not p.name.startswith("_"))


def profile_path(name: str) -> Path:
    """The YAML file of profile `name`; `ProfileError` lists the choices when there is none."""
    path = _directory() / f"{name}{_SUFFIX}"
    if "/" in name or "\\" in name or not path.is_file():
        raise ProfileError(f"unknown profile {name!r} (allowed: {', '.join(profile_names())})")
    return path


class _Builder:
    """Build plain Python data from the composed node tree, keeping address scalars as text."""

    def __init__(self, yaml: YAML) -> None:
        self._constructor = yaml.constructor

    def build(self, node: Node, key: str | None = None) -> Any:
        if isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                k = str(knode.value)
                out[k] = self.build(vnode, k)
            return out
        if isinstance(node, SequenceNode):
            return [self.build(n) for n in node.value]
        if isinstance(node, ScalarNode):
            if key in _TEXT_KEYS:
                return str(node.value)
            return self._constructor.construct_object(node, deep=True)
        raise ProfileError(f"unsupported YAML node {type(node).__name__}")


def load_profile(name: str) -> dict[str, Any]:
    """The profile as a plain mapping, exactly as written, plus `source` (its file path).

    Addresses stay strings as written (`40001`, `000017`). Nothing is validated here: the config
    loader applies the same rules as to a config file and reports `FILE:LINE` against `source`.
    """
    path = profile_path(name)
    text = path.read_text(encoding="utf-8")
    try:
        yaml = YAML(typ="safe", pure=True)
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ProfileError(f"{path}:{line}: YAML syntax: {exc.problem or exc}") from None
    data = _Builder(yaml).build(node) if node is not None else None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}:1: a profile must be a mapping with name, driver and tags")
    data["source"] = str(path)
    return data


def profile_tags(name: str) -> list[dict[str, Any]]:
    """The tag mappings of profile `name` (a copy each call)."""
    tags = load_profile(name).get("tags") or []
    return [dict(t) for t in tags if isinstance(t, dict)]
