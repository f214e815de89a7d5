"""NodeId text: every form of CONTRACTS §2 parses, bad text is refused with the reason."""

from __future__ import annotations

import uuid

import pytest
from asyncua import ua
from hypothesis import given
from hypothesis import strategies as st

from drivers.opcua.nodeid import NodeIdError, format_nodeid, parse_nodeid


@pytest.mark.parametrize(
    ("text", "ns", "kind", "ident"),
    [
        ("ns=2;s=Plant.Flow", 2, "s", "Plant.Flow"),
        ("ns=2;i=1001", 2, "i", 1001),
        ("i=2258", 0, "i", 2258),
        ("ns=3;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63", 3, "g", uuid.UUID("72962b91-fa75-4ae6-8d28-b404dc7daf63")),
        ("ns=1;b=AG1n", 1, "b", b"\x00mg"),
        ("s=NoNamespace", 0, "s", "NoNamespace"),
        ("ns=2;s=with;semicolon=and equals", 2, "s", "with;semicolon=and equals"),
        ("ns=65535;i=4294967295", 65535, "i", 4294967295),
        ("ns=4;s=原煤.产量", 4, "s", "原煤.产量"),
    ],
)
def test_every_contract_form_parses(text: str, ns: int, kind: str, ident: object) -> None:
    addr = parse_nodeid(text)
    assert (addr.namespace, addr.kind, addr.identifier) == (ns, kind, ident)
    nodeid = addr.to_nodeid()
    assert nodeid.NamespaceIndex == ns and nodeid.Identifier == ident


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("Plant.Flow", "expected i=, s=, g= or b="),
        ("ns=2;x=1", "expected i=, s=, g= or b="),
        ("ns=2", "missing ';'"),
        ("ns=a;s=x", "not a number"),
        ("ns=70000;i=1", "above 65535"),
        ("ns=2;i=12a", "not a number"),
        ("i=4294967296", "above 4294967295"),
        ("ns=2;s=", "empty"),
        ("ns=3;g=not-a-guid", "not a GUID"),
        ("ns=1;b=***", "not base64"),
        ("nsu=;s=x", "namespace URI"),
        ("ns=2;i=-1", "not a number"),
    ],
)
def test_bad_text_is_refused_with_the_reason(text: str, needle: str) -> None:
    with pytest.raises(NodeIdError) as err:
        parse_nodeid(text)
    assert needle in str(err.value)
    assert repr(text) in str(err.value) or text == ""


def test_namespace_uri_is_resolved_against_the_server_namespaces() -> None:
    addr = parse_nodeid("nsu=urn:plant;s=Flow")
    assert addr.to_nodeid(["http://opcfoundation.org/UA/", "urn:x", "urn:plant"]) == ua.NodeId("Flow", 2)
    with pytest.raises(NodeIdError, match="not on the server"):
        addr.to_nodeid(["http://opcfoundation.org/UA/"])


@given(
    ns=st.integers(0, 65535),
    ident=st.one_of(
        st.integers(0, 2**32 - 1),
        st.text(min_size=1).filter(lambda s: "\x00" not in s),
        st.uuids(),
        st.binary(min_size=1, max_size=40),
    ),
)
def test_format_then_parse_gives_the_same_node(ns: int, ident: object) -> None:
    if isinstance(ident, int):
        nodeid = ua.NodeId(ident, ns)
    elif isinstance(ident, str):
        nodeid = ua.NodeId(ident, ns, ua.NodeIdType.String)
    elif isinstance(ident, uuid.UUID):
        nodeid = ua.NodeId(ident, ns, ua.NodeIdType.Guid)
    else:
        nodeid = ua.NodeId(ident, ns, ua.NodeIdType.ByteString)
    text = format_nodeid(nodeid)
    again = parse_nodeid(text).to_nodeid()
    assert (again.NamespaceIndex, again.Identifier) == (nodeid.NamespaceIndex, nodeid.Identifier)
    assert str(parse_nodeid(text)) == text
