"""NodeId text (OPC UA Part 6 §5.3.1.10) <-> a checked address, without touching the network.

The config loader must reject a bad address before anything starts, and the driver must turn an
address into a `ua.NodeId` on every connect: `nsu=` addresses are resolved against the server's
namespace array each time, because namespace indexes may change when a server is reconfigured.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

from asyncua import ua

Kind = Literal["i", "s", "g", "b"]
KINDS: tuple[Kind, ...] = ("i", "s", "g", "b")
EXAMPLES = "e.g. ns=2;s=Plant.Flow, ns=2;i=1001, i=2258, ns=3;g=<guid>, ns=1;b=<base64>"
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_UINT32_MAX = 0xFFFFFFFF
_NODEID_TYPES = {"s": ua.NodeIdType.String, "g": ua.NodeIdType.Guid, "b": ua.NodeIdType.ByteString}


class NodeIdError(ValueError):
    """An address that is not a NodeId; the message names what is wrong and what is allowed."""


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """A parsed NodeId: namespace by index (`ns=`) or by URI (`nsu=`), then the identifier."""

    kind: Kind
    identifier: int | str | uuid.UUID | bytes
    namespace: int = 0
    namespace_uri: str | None = None

    def to_nodeid(self, namespaces: list[str] | None = None) -> ua.NodeId:
        """The `ua.NodeId` for this address; `nsu=` needs the server's namespace array."""
        ns = self.namespace
        if self.namespace_uri is not None:
            if namespaces is None or self.namespace_uri not in namespaces:
                raise NodeIdError(f"namespace URI {self.namespace_uri!r} is not on the server"
                                  f" (server has: {', '.join(namespaces or []) or 'none read'})")
            ns = namespaces.index(self.namespace_uri)
        if self.kind == "i":
            # asyncua picks the compact numeric encoding, the form servers echo back
            return ua.NodeId(cast(Any, self.identifier), cast(Any, ns))
        return ua.NodeId(cast(Any, self.identifier), cast(Any, ns), _NODEID_TYPES[self.kind])

    def __str__(self) -> str:
        if self.namespace_uri is not None:
            prefix = f"nsu={self.namespace_uri};"
        else:
            prefix = f"ns={self.namespace};" if self.namespace else ""
        if self.kind == "b":
            assert isinstance(self.identifier, bytes)
            ident = base64.b64encode(self.identifier).decode("ascii")
        else:
            ident = str(self.identifier)
        return f"{prefix}{self.kind}={ident}"


def parse_nodeid(text: str) -> NodeAddress:
    """Parse `[ns=<index>;|nsu=<uri>;]<i|s|g|b>=<identifier>`; raise `NodeIdError` with the reason."""
    if not isinstance(text, str):
        raise NodeIdError(f"a NodeId is text, got {type(text).__name__} ({EXAMPLES})")
    if not text:
        raise NodeIdError(f"empty NodeId ({EXAMPLES})")
    rest = text
    namespace = 0
    namespace_uri: str | None = None
    if rest.startswith("ns="):
        head, sep, rest = rest.partition(";")
        if not sep:
            raise NodeIdError(f"invalid NodeId {text!r}: missing ';' after {head!r} ({EXAMPLES})")
        digits = head[3:]
        if not digits.isdigit() or not digits.isascii():
            raise NodeIdError(f"invalid NodeId {text!r}: namespace index {digits!r} is not a number 0-65535")
        namespace = int(digits)
        if namespace > 0xFFFF:
            raise NodeIdError(f"invalid NodeId {text!r}: namespace index {namespace} is above 65535")
    elif rest.startswith("nsu="):
        # the URI itself may contain ';' only percent-encoded (Part 6), so the first ';' ends it
        head, sep, rest = rest.partition(";")
        if not sep or len(head) == 4:
            raise NodeIdError(f"invalid NodeId {text!r}: 'nsu=' needs a namespace URI followed by ';'")
        namespace_uri = head[4:]
    kind, sep, ident = rest.partition("=")
    if not sep or kind not in KINDS:
        raise NodeIdError(f"invalid NodeId {text!r}: expected i=, s=, g= or b= after the namespace ({EXAMPLES})")
    if not ident:
        raise NodeIdError(f"invalid NodeId {text!r}: the identifier after '{kind}=' is empty")
    value: int | str | uuid.UUID | bytes
    if kind == "i":
        if not ident.isdigit() or not ident.isascii():
            raise NodeIdError(f"invalid NodeId {text!r}: numeric identifier {ident!r} is not a number 0-4294967295")
        value = int(ident)
        if value > _UINT32_MAX:
            raise NodeIdError(f"invalid NodeId {text!r}: numeric identifier {value} is above 4294967295")
    elif kind == "s":
        value = ident
    elif kind == "g":
        if not _GUID.match(ident):
            raise NodeIdError(f"invalid NodeId {text!r}: {ident!r} is not a GUID"
                              " (allowed: 8-4-4-4-12 hex digits, e.g. 72962B91-FA75-4AE6-8D28-B404DC7DAF63)")
        value = uuid.UUID(ident)
    else:
        try:
            value = base64.b64decode(ident, validate=True)
        except (binascii.Error, ValueError):
            raise NodeIdError(f"invalid NodeId {text!r}: {ident!r} is not base64 text") from None
        if not value:
            raise NodeIdError(f"invalid NodeId {text!r}: the opaque identifier is empty")
    return NodeAddress(kind, value, namespace, namespace_uri)


def format_nodeid(nodeid: ua.NodeId) -> str:
    """The canonical address text for a server NodeId (what `browse` prints and `parse_nodeid` reads)."""
    ns = f"ns={nodeid.NamespaceIndex};" if nodeid.NamespaceIndex else ""
    ident: Any = nodeid.Identifier
    if nodeid.NodeIdType in (ua.NodeIdType.TwoByte, ua.NodeIdType.FourByte, ua.NodeIdType.Numeric):
        return f"{ns}i={ident}"
    if nodeid.NodeIdType == ua.NodeIdType.String:
        return f"{ns}s={ident}"
    if nodeid.NodeIdType == ua.NodeIdType.Guid:
        return f"{ns}g={ident}"
    raw = ident if isinstance(ident, bytes) else str(ident).encode()
    return f"{ns}b={base64.b64encode(raw).decode('ascii')}"


def std(identifier: int) -> ua.NodeId:
    """A namespace-0 NodeId from `ua.ObjectIds` (asyncua's stubs want its own int aliases)."""
    return ua.NodeId(cast(Any, identifier))
