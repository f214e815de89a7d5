"""The `connection` and `options` of an OPC UA device, parsed once and checked without I/O.

The same parser serves the config loader (every problem listed, `field: what (allowed ...)`)
and the driver (which refuses to connect with settings the loader would have refused).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devices.model import positive_duration
from drivers.base import ConfigProblem

POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
MODES = ("Sign", "SignAndEncrypt")
CONNECTION_FIELDS = (
    "endpoint", "security", "mode", "certificate", "private_key", "private_key_password",
    "server_certificate", "application_uri", "username", "password", "timeout",
)
OPTION_FIELDS = (
    "max_nodes_per_read", "max_monitored_items_per_call", "queue_size", "keepalive", "reconnect_max",
)
TAG_MODES = ("subscribe", "poll")
DEFAULT_TIMEOUT = 5.0
CERT_HINT = "make one with `minegate driver opcua cert SITE`"
parse_duration = positive_duration


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    endpoint: str
    security: str = "None"
    mode: str | None = None
    certificate: str | None = None
    private_key: str | None = None
    private_key_password: str | None = None
    server_certificate: str | None = None
    application_uri: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def secure(self) -> bool:
        return self.security != "None"

    @property
    def label(self) -> str:
        return f"{self.security}/{self.mode}" if self.secure else "None"


@dataclass(frozen=True, slots=True)
class Options:
    max_nodes_per_read: int | None = None
    max_monitored_items_per_call: int | None = None
    queue_size: int = 1
    keepalive: float | None = None
    reconnect_max: float = 30.0


def _canonical(value: str, allowed: tuple[str, ...]) -> str | None:
    for a in allowed:
        if a.lower() == value.lower():
            return a
    return None


def _text(conn: Mapping[str, Any], key: str, problems: list[ConfigProblem]) -> str | None:
    value = conn.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(ConfigProblem(key, f"must be non-empty text, got {value!r}"))
        return None
    return value


def check_endpoint(value: Any) -> str | None:
    """The problem with an endpoint URL, or None."""
    if not isinstance(value, str) or not value:
        return "required: the server's URL (e.g. opc.tcp://192.168.1.10:4840)"
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        return f"{value!r} is not a URL ({exc}; e.g. opc.tcp://192.168.1.10:4840)"
    try:
        port = parts.port
    except ValueError:
        return f"{value!r}: port must be 1-65535"
    if parts.scheme != "opc.tcp":
        return f"{value!r}: only opc.tcp:// endpoints are supported (e.g. opc.tcp://192.168.1.10:4840)"
    if not parts.hostname:
        return f"{value!r} has no host (e.g. opc.tcp://192.168.1.10:4840)"
    if port is not None and not 1 <= port <= 65535:
        return f"{value!r}: port must be 1-65535"
    return None


def parse_connection(conn: Mapping[str, Any]) -> tuple[ConnectionSettings | None, list[ConfigProblem]]:
    """Settings plus every problem found; settings are None when a problem makes them unusable."""
    problems: list[ConfigProblem] = []
    for key in conn:
        if key not in CONNECTION_FIELDS:
            problems.append(ConfigProblem(str(key), f"unknown field (allowed: {', '.join(CONNECTION_FIELDS)})"))
    endpoint = conn.get("endpoint")
    err = check_endpoint(endpoint)
    if err:
        problems.append(ConfigProblem("endpoint", err))

    raw_policy = conn.get("security", "None")
    policy = _canonical(str(raw_policy), POLICIES) if raw_policy is not None else "None"
    policy_known = policy is not None
    if policy is None:
        problems.append(ConfigProblem("security", f"unknown security policy {raw_policy!r}"
                                      f" (allowed: {', '.join(POLICIES)})"))
        policy = "None"
    raw_mode = conn.get("mode")
    mode: str | None = None
    if raw_mode is not None and str(raw_mode) not in ("None", "none"):
        mode = _canonical(str(raw_mode), MODES)
        if mode is None:
            problems.append(ConfigProblem("mode", f"unknown security mode {raw_mode!r} (allowed: {', '.join(MODES)})"))
        elif policy == "None" and policy_known:
            problems.append(ConfigProblem("mode", f"mode {mode} needs a security policy"
                                          f" (set security: Basic256Sha256, or remove mode)"))
    if policy != "None" and mode is None:
        mode = "SignAndEncrypt"

    certificate = _text(conn, "certificate", problems)
    private_key = _text(conn, "private_key", problems)
    server_certificate = _text(conn, "server_certificate", problems)
    if policy != "None":
        for key, path in (("certificate", certificate), ("private_key", private_key)):
            if path is None and key not in {p.field for p in problems}:
                problems.append(ConfigProblem(key, f"required with security {policy} ({CERT_HINT})"))
    for key, path in (("certificate", certificate), ("private_key", private_key),
                      ("server_certificate", server_certificate)):
        if path is not None and not os.path.isfile(path):
            hint = f"; {CERT_HINT}" if key != "server_certificate" else ""
            problems.append(ConfigProblem(key, f"file {path!r} not found{hint}"))

    username = _text(conn, "username", problems)
    password = conn.get("password")
    if password is not None and not isinstance(password, str):
        password = str(password)
    if password is not None and username is None:
        problems.append(ConfigProblem("password", "given without username (set username too)"))
    application_uri = _text(conn, "application_uri", problems)
    key_password = conn.get("private_key_password")

    timeout = DEFAULT_TIMEOUT
    if conn.get("timeout") is not None:
        try:
            timeout = parse_duration(conn["timeout"])
        except ValueError as exc:
            problems.append(ConfigProblem("timeout", str(exc)))
    if err:
        return None, problems
    settings = ConnectionSettings(
        endpoint=str(endpoint), security=policy, mode=mode if policy != "None" else None,
        certificate=certificate, private_key=private_key,
        private_key_password=None if key_password is None else str(key_password),
        server_certificate=server_certificate, application_uri=application_uri,
        username=username, password=password, timeout=timeout,
    )
    return settings, problems


def _positive_int(options: Mapping[str, Any], key: str, problems: list[ConfigProblem]) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(ConfigProblem(key, f"must be a whole number >= 1, got {value!r}"))
        return None
    return value


def parse_options(options: Mapping[str, Any]) -> tuple[Options, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    for key in options:
        if key not in OPTION_FIELDS:
            problems.append(ConfigProblem(str(key), f"unknown OPC UA option (allowed: {', '.join(OPTION_FIELDS)})"))
    durations: dict[str, float | None] = {}
    for key in ("keepalive", "reconnect_max"):
        durations[key] = None
        if options.get(key) is not None:
            try:
                durations[key] = parse_duration(options[key])
            except ValueError as exc:
                problems.append(ConfigProblem(key, str(exc)))
    parsed = Options(
        max_nodes_per_read=_positive_int(options, "max_nodes_per_read", problems),
        max_monitored_items_per_call=_positive_int(options, "max_monitored_items_per_call", problems),
        queue_size=_positive_int(options, "queue_size", problems) or 1,
        keepalive=durations["keepalive"],
        reconnect_max=durations["reconnect_max"] or 30.0,
    )
    return parsed, problems


def tag_mode(mode: str | None) -> str:
    """`subscribe` unless the tag says `poll` (the loader has refused anything else)."""
    return "poll" if mode == "poll" else "subscribe"
