"""Mosquitto password and ACL files for the registered gateways (CONTRACTS §5).

Each gateway logs in as `{enterprise}.{gateway}` with its gateway token as password, publishes only
its own data, status and write replies, and reads only its own write requests; only the platform
user may publish write requests. The password file uses Mosquitto's own `$7$` format
(PBKDF2-SHA512), so no plain password is ever written.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from platform_api import db

TOPIC_ROOT = "minegate/v1"
SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
"""Ids that are safe inside topics and ACL lines (no `/`, `+`, `#`, spaces or `:`)."""


def mosquitto_hash(password: str, *, iterations: int = 101, salt: bytes | None = None) -> str:
    """The `$7$` hash `mosquitto_passwd` writes: PBKDF2-HMAC-SHA512 over a 12-byte salt."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def gateway_username(enterprise: str, gateway: str) -> str:
    """Gateway ids are unique only within an enterprise, so the broker user carries both."""
    return f"{enterprise}.{gateway}"


def gateway_acl(enterprise: str, gateway: str) -> list[str]:
    base = f"{TOPIC_ROOT}/{enterprise}/{gateway}"
    return [
        f"user {gateway_username(enterprise, gateway)}",
        f"topic write {base}/+/data",
        f"topic write {base}/status",
        f"topic write {base}/+/write/reply",
        f"topic read {base}/+/write",
    ]


@dataclass(frozen=True, slots=True)
class AclResult:
    users: list[str]
    skipped: list[str]
    """Gateways left out, with the reason (no gateway token yet, or an id unsafe in a topic)."""


def render(
    gateways: list[tuple[str, str, str | None]], platform_user: str, platform_hash: str
) -> tuple[str, str, AclResult]:
    """`(password file, ACL file, result)` for `(enterprise, gateway, mosquitto hash)` triples."""
    pw_lines = [f"{platform_user}:{platform_hash}"]
    acl_lines = [
        "# written by `minegate platform broker-acl`; regenerate instead of editing",
        f"user {platform_user}",
        f"topic readwrite {TOPIC_ROOT}/#",
        "",
    ]
    users, skipped = [platform_user], []
    for enterprise, gateway, pw in sorted(gateways, key=lambda g: (g[0], g[1])):
        name = f"{enterprise}/{gateway}"
        if not (SAFE_ID.match(enterprise) and SAFE_ID.match(gateway)):
            skipped.append(f"{name}: id not allowed in a topic (allowed: letters, digits, _ . -)")
            continue
        if not pw:
            skipped.append(f"{name}: no gateway token yet (create-token --role gateway)")
            continue
        user = gateway_username(enterprise, gateway)
        if user == platform_user:
            skipped.append(f"{name}: user name clashes with the platform user")
            continue
        pw_lines.append(f"{user}:{pw}")
        acl_lines.extend([*gateway_acl(enterprise, gateway), ""])
        users.append(user)
    return "\n".join(pw_lines) + "\n", "\n".join(acl_lines), AclResult(users, skipped)


def write_files(
    engine: Engine,
    password_file: Path,
    acl_file: Path,
    *,
    platform_user: str,
    platform_password: str,
    conf_file: Path | None = None,
    port: int | None = None,
) -> AclResult:
    """Write the files atomically (a broker reload never sees half a file); optionally a config."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.gateways.c.enterprise, db.gateways.c.gateway, db.gateways.c.mqtt_password_hash)
        ).all()
    pw_text, acl_text, result = render(
        [(r[0], r[1], r[2]) for r in rows], platform_user, mosquitto_hash(platform_password)
    )
    _atomic_write(password_file, pw_text, 0o640)
    _atomic_write(acl_file, acl_text, 0o644)
    if conf_file is not None:
        lines = []
        if port is not None:
            lines.append(f"listener {port} 127.0.0.1")
        lines += [
            "allow_anonymous false",
            # the platform acknowledges after its database commit: let the broker keep more
            # messages in flight, and queue (not drop) a backlog while a worker catches up
            "max_inflight_messages 1000",
            "max_queued_messages 200000",
            f"password_file {password_file.resolve()}",
            f"acl_file {acl_file.resolve()}",
        ]
        _atomic_write(conf_file, "\n".join(lines) + "\n", 0o644)
    return result


def _atomic_write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    _give_to_broker_group(tmp)
    os.replace(tmp, path)


def _give_to_broker_group(path: Path) -> None:
    """Mosquitto drops to its own user before reading these files: when run as root, hand them to
    the `mosquitto` group (readable by the broker, not by everyone)."""
    if os.name != "posix" or os.geteuid() != 0:
        return
    import grp

    try:
        os.chown(path, 0, grp.getgrnam("mosquitto").gr_gid)
    except (KeyError, OSError):
        pass
