"""Make the client certificate a site's gateway presents to its OPC UA servers.

Basic256Sha256 needs an application instance certificate whose SubjectAltName carries the
client's application URI (servers compare it with the session's) and the host name. The key is
written PKCS#8 PEM readable by the owner only; the certificate DER, the form OPC UA servers'
trust lists take.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_self_signed_app_certificate
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
KEY_SIZES = (2048, 3072, 4096)


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    certificate: Path
    private_key: Path
    application_uri: str
    not_after: datetime


def default_application_uri(site: str) -> str:
    return f"urn:minegate:{site}"


def make_client_certificate(
    site: str,
    directory: str | os.PathLike[str],
    *,
    application_uri: str | None = None,
    hostname: str | None = None,
    days: int = 1825,
    key_size: int = 2048,
    organization: str | None = None,
    overwrite: bool = False,
) -> ClientCertificate:
    """Write `<site>-cert.der` and `<site>-key.pem` into `directory` and return where they are.

    Refuses (FileExistsError) to replace an existing pair unless `overwrite`: a server trusts one
    exact certificate, and silently replacing it locks the gateway out.
    """
    if not _SITE.match(site):
        raise ValueError(f"site {site!r}: use letters, digits, '_', '.', '-' (up to 63 characters)")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if key_size not in KEY_SIZES:
        raise ValueError(f"key size {key_size} is not allowed (allowed: {', '.join(map(str, KEY_SIZES))})")
    uri = application_uri or default_application_uri(site)
    host = hostname or socket.gethostname()
    out = Path(directory)
    cert_path = out / f"{site}-cert.der"
    key_path = out / f"{site}-key.pem"
    if not overwrite:
        for path in (cert_path, key_path):
            if path.exists():
                raise FileExistsError(f"{path} already exists (a server may trust it; pass overwrite to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    names = {"organizationName": organization} if organization else {}
    cert = generate_self_signed_app_certificate(
        key,
        f"minegate {site}",
        names,
        [x509.UniformResourceIdentifier(uri), x509.DNSName(host)],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        days=days,
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(dump_private_key_as_pem(key))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    return ClientCertificate(cert_path, key_path, uri, cert.not_valid_after_utc)
