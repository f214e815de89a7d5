"""Secure-channel setup: policy + mode + client certificate, and errors a site engineer can act on.

asyncua reports a refused connection as a bare status code; here it becomes "the server does not
trust our certificate: add X to its trusted list" or "the server offers no Basic256Sha256/Sign
endpoint (it offers: ...)", because that is what decides whether a commissioning takes minutes or
a day.
"""

from __future__ import annotations

from asyncua import Client, ua
from asyncua.crypto import security_policies, uacrypto
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from drivers.base import DriverError
from drivers.opcua.settings import ConnectionSettings
from drivers.opcua.typemap import status_text

_MODES = {"Sign": ua.MessageSecurityMode.Sign, "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}
_POLICY_CLASSES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128Sha256RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256Sha256RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}
_CERT_REFUSED = {
    ua.StatusCodes.BadCertificateUntrusted, ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateRevoked, ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateHostNameInvalid, ua.StatusCodes.BadCertificateTimeInvalid,
    ua.StatusCodes.BadCertificateUseNotAllowed, ua.StatusCodes.BadSecurityChecksFailed,
}
_IDENTITY_REFUSED = {
    ua.StatusCodes.BadUserAccessDenied, ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadIdentityTokenRejected,
}
_POLICY_REFUSED = {ua.StatusCodes.BadSecurityPolicyRejected, ua.StatusCodes.BadSecurityModeRejected}


def endpoint_label(ep: ua.EndpointDescription) -> str:
    policy = ep.SecurityPolicyUri.rsplit("#", 1)[-1] if ep.SecurityPolicyUri else "?"
    mode = ep.SecurityMode.name.rstrip("_") if isinstance(ep.SecurityMode, ua.MessageSecurityMode) else "?"
    return "None" if mode == "None" else f"{policy}/{mode}"


def certificate_uri(cert: x509.Certificate) -> str | None:
    """The application URI a certificate was made for (its SubjectAltName URI)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


async def _server_certificate(client: Client, settings: ConnectionSettings) -> bytes:
    """The server's certificate: pinned from a file when configured, else from its endpoint list."""
    if settings.server_certificate:
        try:
            cert = await uacrypto.load_certificate(settings.server_certificate)
        except (OSError, ValueError) as exc:
            raise DriverError(f"server_certificate {settings.server_certificate!r} cannot be read: {exc}") from None
        return cert.public_bytes(Encoding.DER)
    try:
        endpoints = await client.connect_and_get_server_endpoints()
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise DriverError(f"cannot list the endpoints of {settings.endpoint}: {describe(exc)}") from None
    policy_uri = _POLICY_CLASSES[settings.security].URI
    mode = _MODES[settings.mode or "SignAndEncrypt"]
    for ep in endpoints:
        if ep.SecurityPolicyUri == policy_uri and ep.SecurityMode == mode and ep.ServerCertificate:
            first = uacrypto.x509_from_der(ep.ServerCertificate)
            return first.public_bytes(Encoding.DER)
    offered = sorted({endpoint_label(ep) for ep in endpoints})
    raise DriverError(f"the server offers no {settings.label} endpoint (it offers: {', '.join(offered) or 'none'})")


async def apply_security(client: Client, settings: ConnectionSettings) -> None:
    """Configure policy, mode, certificate and identity on an unconnected client."""
    if settings.username is not None:
        client.set_user(settings.username)
        client.set_password(settings.password or "")
    if not settings.secure:
        if settings.application_uri:
            client.application_uri = settings.application_uri
        return
    assert settings.certificate is not None and settings.private_key is not None
    try:
        cert = await uacrypto.load_certificate(settings.certificate)
        await uacrypto.load_private_key(settings.private_key, settings.private_key_password)
    except (OSError, ValueError, TypeError) as exc:
        raise DriverError(f"client certificate or key cannot be read ({settings.certificate},"
                          f" {settings.private_key}): {exc}") from None
    # servers check that the session's application URI is the one in the certificate
    client.application_uri = settings.application_uri or certificate_uri(cert) or client.application_uri
    server_cert = await _server_certificate(client, settings)
    try:
        await client.set_security(
            _POLICY_CLASSES[settings.security], settings.certificate, settings.private_key,
            settings.private_key_password, server_cert, _MODES[settings.mode or "SignAndEncrypt"],
        )
    except (OSError, ValueError, TypeError, ua.UaError) as exc:
        raise DriverError(f"cannot set up {settings.label}: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    """A short reason for logs and `bad` samples."""
    if isinstance(exc, ua.UaStatusCodeError):
        return status_text(exc.code)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, is the port right?)"
    return str(exc) or type(exc).__name__


def explain_refusal(exc: BaseException, settings: ConnectionSettings, offered: list[str] | None) -> str:
    """Turn a failed session setup into what the engineer has to change."""
    reason = describe(exc)
    code = exc.code if isinstance(exc, ua.UaStatusCodeError) else None
    if code in _CERT_REFUSED:
        return (f"the server refused the client certificate {settings.certificate} ({reason}); add it to the"
                " server's trusted client certificates")
    if code in _IDENTITY_REFUSED:
        who = f"user {settings.username!r}" if settings.username else "anonymous login"
        return f"the server refused {who} ({reason}); check username/password"
    if code in _POLICY_REFUSED or offered is not None:
        listed = f" (it offers: {', '.join(offered)})" if offered else ""
        detail = f": {reason}" if code is not None else ""
        return f"the server refused security {settings.label}{listed}{detail}"
    if isinstance(exc, TimeoutError) and settings.server_certificate:
        return (f"no answer to the secure channel request; is {settings.server_certificate} the certificate of"
                " this server (server_certificate)?")
    return reason
