"""Security: Basic256Sha256 Sign and SignAndEncrypt with certificate files, username/password,
refusals that say what to fix, and the certificate-making command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from drivers.base import DriverError
from drivers.opcua import OpcUaDriver, make_client_certificate
from drivers.opcua.certs import ClientCertificate
from tests.drivers.opcua.opcua_testkit import (
    Collector,
    PlantServer,
    device,
    opened,
    start_plant,
    tag,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
USERS = {"operator": "s3cret"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def certs(pki: Path) -> dict[str, ClientCertificate]:
    return {"site": make_client_certificate("wuhai-01", pki / "site"),
            "stranger": make_client_certificate("stranger", pki / "stranger")}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def guarded(pki: Path, certs: dict[str, ClientCertificate]) -> AsyncIterator[PlantServer]:
    """Signed endpoints only, only the site's certificate is trusted, only `operator` may log in."""
    trusted = certs["site"].certificate.read_bytes()
    ps = await start_plant(cert_dir=pki / "server", secure_only=True, users=USERS, trusted=lambda der: der == trusted)
    try:
        yield ps
    finally:
        await ps.stop()


def secure(cert: ClientCertificate, mode: str = "SignAndEncrypt", **extra: Any) -> dict[str, Any]:
    return {"security": "Basic256Sha256", "mode": mode, "certificate": str(cert.certificate),
            "private_key": str(cert.private_key), **extra}


LOGIN = {"username": "operator", "password": "s3cret"}


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_secure_modes_read_and_subscribe(guarded: PlantServer, certs: dict[str, ClientCertificate],
                                               mode: str) -> None:
    spec = device(guarded.endpoint, [], **secure(certs["site"], mode, **LOGIN))
    assert OpcUaDriver.check_connection(spec.connection) == []
    drv = await opened(spec)
    try:
        assert drv.stats()["security"] == f"Basic256Sha256/{mode}"
        [s] = await drv.read([tag("flow", guarded.nodeid("Flow"))])
        assert s.quality == "good" and s.value == await guarded.get("Flow")
        got = Collector()
        await drv.subscribe([tag("level", guarded.nodeid("Level"))], got)
        await guarded.set("Level", 21.5)
        await wait_until(lambda: got.last("level") is not None and got.last("level").value == 21.5,  # type: ignore[union-attr]
                         what="secure subscription data")
        assert guarded.channel_modes() == [mode]  # what the server sees on the wire
    finally:
        await drv.close()


@pytest.mark.parametrize(("creds", "who"), [({"username": "operator", "password": "wrong"}, "user 'operator'"),
                                            ({}, "anonymous login")])
async def test_refused_login_says_who_was_refused(guarded: PlantServer, certs: dict[str, ClientCertificate],
                                                  creds: dict[str, str], who: str) -> None:
    drv = OpcUaDriver(device(guarded.endpoint, [], **secure(certs["site"], **creds)))
    with pytest.raises(DriverError) as err:
        await drv.connect()
    assert f"refused {who}" in str(err.value) and "check username/password" in str(err.value)
    await drv.close()


async def test_no_security_against_a_secure_only_server_lists_what_it_offers(guarded: PlantServer) -> None:
    drv = OpcUaDriver(device(guarded.endpoint, [], **LOGIN))
    with pytest.raises(DriverError) as err:
        await drv.connect()
    text = str(err.value)
    assert "refused security None" in text
    assert "Basic256Sha256/Sign" in text and "Basic256Sha256/SignAndEncrypt" in text
    await drv.close()


async def test_untrusted_certificate_is_refused_with_advice(guarded: PlantServer,
                                                           certs: dict[str, ClientCertificate]) -> None:
    drv = OpcUaDriver(device(guarded.endpoint, [], **secure(certs["stranger"], **LOGIN)))
    with pytest.raises(DriverError) as err:
        await drv.connect()
    assert "trusted" in str(err.value) and str(certs["stranger"].certificate) in str(err.value)
    await drv.close()


async def test_pinned_server_certificate_must_match(guarded: PlantServer, certs: dict[str, ClientCertificate],
                                                    pki: Path) -> None:
    wrong = device(guarded.endpoint, [], **secure(certs["site"], "Sign", **LOGIN,
                                                  server_certificate=str(certs["stranger"].certificate)))
    drv = OpcUaDriver(wrong)
    with pytest.raises(DriverError, match="server_certificate"):
        await drv.connect()
    await drv.close()
    server_cert = pki / "server" / "server-cert.der"
    right = await opened(device(guarded.endpoint, [], **secure(certs["site"], "Sign", **LOGIN,
                                                               server_certificate=str(server_cert))))
    try:
        assert (await right.read([tag("flow", guarded.nodeid("Flow"))]))[0].quality == "good"
    finally:
        await right.close()


async def test_policy_the_server_does_not_offer(guarded: PlantServer, certs: dict[str, ClientCertificate]) -> None:
    spec = device(guarded.endpoint, [], security="Aes256Sha256RsaPss", mode="Sign",
                  certificate=str(certs["site"].certificate), private_key=str(certs["site"].private_key))
    drv = OpcUaDriver(spec)
    with pytest.raises(DriverError, match="offers no Aes256Sha256RsaPss/Sign endpoint"):
        await drv.connect()
    await drv.close()
