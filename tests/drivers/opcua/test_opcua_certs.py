"""The certificate-making function and the `cert` command (`minegate driver opcua cert`)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from drivers.opcua import make_client_certificate
from drivers.opcua.cli import app
from drivers.opcua.security import certificate_uri


def test_certificate_has_uri_host_and_a_private_key_file(tmp_path: Path) -> None:
    made = make_client_certificate("mine_7", tmp_path / "pki", hostname="gw-7.local", days=30, organization="Mine 7")
    cert = x509.load_der_x509_certificate(made.certificate.read_bytes())
    assert certificate_uri(cert) == "urn:minegate:mine_7" == made.application_uri
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw-7.local"]
    assert stat.S_IMODE(made.private_key.stat().st_mode) == 0o600
    assert made.private_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(FileExistsError):
        make_client_certificate("mine_7", tmp_path / "pki")
    again = make_client_certificate("mine_7", tmp_path / "pki", overwrite=True, application_uri="urn:x:y")
    assert certificate_uri(x509.load_der_x509_certificate(again.certificate.read_bytes())) == "urn:x:y"
    with pytest.raises(ValueError, match="site"):
        make_client_certificate("../etc", tmp_path)
    with pytest.raises(ValueError, match="key size"):
        make_client_certificate("k", tmp_path, key_size=1024)


def test_cert_command_writes_files_and_prints_the_connection(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["cert", "wuhai-02", "--dir", str(tmp_path), "--hostname", "gw2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "wuhai-02-cert.der").is_file() and (tmp_path / "wuhai-02-key.pem").is_file()
    assert "urn:minegate:wuhai-02" in result.output and "security: Basic256Sha256" in result.output
    again = runner.invoke(app, ["cert", "wuhai-02", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert runner.invoke(app, ["cert", "wuhai-02", "--dir", str(tmp_path), "--force"]).exit_code == 0
    assert runner.invoke(app, ["cert", "bad/name", "--dir", str(tmp_path)]).exit_code == 2
