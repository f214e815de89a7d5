"""Hash chain and signed chain heads.

Each entry's hash is SHA-256 over the previous hash (hex) followed by the canonical JSON of the
entry, so changing any stored entry breaks every later link. A rewrite that recomputes the whole
chain inside the database is caught by comparing with daily heads signed by the platform's Ed25519
key and exported earlier.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mine_ledger.errors import ValidationError
from mine_ledger.values import canon_time, canonical_json

GENESIS = "0" * 64


def entry_document(
    *, enterprise: str, seq: int, kind: str, at: datetime, recorded_at: datetime, author: str, source: str,
    data: Mapping[str, Any],
) -> str:
    """The canonical JSON that is hashed for one entry."""
    return canonical_json({
        "enterprise": enterprise,
        "seq": seq,
        "kind": kind,
        "at": canon_time(at),
        "recorded_at": canon_time(recorded_at),
        "author": author,
        "source": source,
        "data": data,
    })


def link_hash(prev_hash: str, document: str) -> str:
    return hashlib.sha256((prev_hash + document).encode("utf-8")).hexdigest()


def load_private_key(value: Any, *, create: bool = False) -> Ed25519PrivateKey:
    """An Ed25519 key from a key object, PEM bytes/text, 32 raw bytes, or a path to a PEM file.

    With ``create``, a path that does not exist yet gets a new key (readable by the owner only).
    """
    if isinstance(value, Ed25519PrivateKey):
        return value
    if isinstance(value, Path) or (isinstance(value, str) and not value.lstrip().startswith("-----")):
        path = Path(value)
        if create and not path.exists():
            key = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(private_pem(key))
            return key
        try:
            value = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"signing_key: cannot read {path}: {exc.strerror}", field="signing_key") from None
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray):
        if len(value) == 32:
            return Ed25519PrivateKey.from_private_bytes(bytes(value))
        try:
            loaded = serialization.load_pem_private_key(bytes(value), password=None)
        except (ValueError, TypeError):
            loaded = None
        if isinstance(loaded, Ed25519PrivateKey):
            return loaded
    raise ValidationError("signing_key: expected an Ed25519 private key (PEM)", field="signing_key")


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValidationError("public_key: not a PEM public key", field="public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError("public_key: not an Ed25519 key", field="public_key")
    return key


def head_document(head: Mapping[str, Any]) -> bytes:
    return canonical_json({k: head[k] for k in ("enterprise", "day", "count", "hash")}).encode()


def sign_head(key: Ed25519PrivateKey, head: Mapping[str, Any]) -> str:
    return base64.b64encode(key.sign(head_document(head))).decode()


def head_signature_ok(pub: Ed25519PublicKey, head: Mapping[str, Any]) -> bool:
    try:
        pub.verify(base64.b64decode(str(head.get("signature", ""))), head_document(head))
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True
