"""One OPC UA session: connect, learn the server (namespaces, OperationLimits), batched services.

Everything that talks to asyncua's client goes through here, so the rest of the driver sees only
`DriverError` (the session is gone: reconnect) and per-item status codes — never a transport
exception type of the library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.ua_utils import data_type_to_variant_type

from drivers.base import DriverError
from drivers.opcua.limits import LIMIT_NODES, OperationLimits
from drivers.opcua.nodeid import NodeAddress, std
from drivers.opcua.security import apply_security, describe, endpoint_label, explain_refusal
from drivers.opcua.settings import ConnectionSettings, Options
from drivers.opcua.typemap import NodeMeta, builtin_of, datatype_name, good_value

log = logging.getLogger(__name__)

SC = ua.StatusCodes
CONNECTION_CODES = frozenset({
    SC.BadSessionIdInvalid, SC.BadSessionClosed, SC.BadSessionNotActivated, SC.BadSecureChannelIdInvalid,
    SC.BadSecureChannelClosed, SC.BadConnectionClosed, SC.BadServerNotConnected, SC.BadCommunicationError,
    SC.BadShutdown, SC.BadServerHalted, SC.BadNotConnected, SC.BadSecureChannelTokenUnknown, SC.BadTimeout,
    SC.BadRequestTimeout, SC.BadTcpInternalError, SC.BadTooManySessions,
})
_POLICY_CODES = frozenset({SC.BadSecurityPolicyRejected, SC.BadSecurityModeRejected, SC.BadSecurityChecksFailed})
_WRITE_BIT = 0x02  # AccessLevel CurrentWrite


def is_connection_error(exc: BaseException) -> bool:
    """True when the session (not just one request) is unusable."""
    if isinstance(exc, (OSError, TimeoutError, asyncio.IncompleteReadError)):
        return True
    return isinstance(exc, ua.UaStatusCodeError) and exc.code in CONNECTION_CODES


def normalize_endpoint(endpoint: str) -> str:
    """`opc.tcp://host` -> `opc.tcp://host:4840` (asyncua needs the port spelled out)."""
    parts = urlsplit(endpoint)
    if parts.port is not None:
        return endpoint
    netloc = parts.netloc + ":4840"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Session:
    """A connected, activated session and what was learnt about the server at connect."""

    def __init__(self, client: Client, settings: ConnectionSettings, limits: OperationLimits,
                 namespaces: list[str]) -> None:
        self.client = client
        self.settings = settings
        self.limits = limits
        self.namespaces = namespaces
        self.lost_reason: str | None = None
        self._meta: dict[ua.NodeId, NodeMeta] = {}
        self._builtin: dict[ua.NodeId, ua.VariantType] = {}
        self._datatype_names: dict[ua.NodeId, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    async def open(cls, settings: ConnectionSettings, options: Options, device: str) -> Session:
        """Connect and activate; raise `DriverError` with the reason a site engineer can act on."""
        url = normalize_endpoint(settings.endpoint)
        client = Client(url, timeout=settings.timeout, watchdog_intervall=max(settings.timeout, 1.0))
        client.name = f"minegate {device}"
        client.description = client.name
        client.application_uri = f"urn:minegate:{device}"
        client.product_uri = "urn:minegate"
        client.session_timeout = 120_000
        try:
            await apply_security(client, settings)
            await client.connect()
        except DriverError:
            await _disconnect_quietly(client, settings.timeout)
            raise
        except Exception as exc:
            await _disconnect_quietly(client, settings.timeout)
            code = exc.code if isinstance(exc, ua.UaStatusCodeError) else None
            offered = None
            if code in _POLICY_CODES or (code is None and isinstance(exc, ua.UaError)):
                offered = await _offered_endpoints(url, settings.timeout)
            reason = explain_refusal(exc, settings, offered)
            raise DriverError(f"cannot connect to {settings.endpoint}: {reason}") from None
        except BaseException:  # cancelled (connect bound, close()): leave no client tasks behind
            await _disconnect_quietly(client, settings.timeout)
            raise
        session = cls(client, settings, OperationLimits(), [])
        try:
            await session._learn_server(options)
        except Exception as exc:
            await session.close()
            raise DriverError(f"connected to {settings.endpoint} but cannot read its namespaces:"
                              f" {describe(exc)}") from None
        except BaseException:
            await session.close()
            raise
        return session

    async def _learn_server(self, options: Options) -> None:
        ids = [std(ua.ObjectIds.Server_NamespaceArray)] + [std(i) for i in LIMIT_NODES.values()]
        try:
            values = await self.client.uaclient.read_attributes(ids, ua.AttributeIds.Value)
        except ua.UaStatusCodeError as exc:
            if exc.code != SC.BadTooManyOperations:
                raise
            # a server with a tiny MaxNodesPerRead: we cannot know it before reading it
            values = [(await self.client.uaclient.read_attributes([i], ua.AttributeIds.Value))[0] for i in ids]
        ns = good_value(values[0])
        self.namespaces = list(ns) if isinstance(ns, list) else []
        self.limits = OperationLimits.from_values(
            dict(zip(LIMIT_NODES, values[1:], strict=True)),
            {"max_nodes_per_read": options.max_nodes_per_read,
             "max_monitored_items_per_call": options.max_monitored_items_per_call},
        )

    @property
    def alive(self) -> bool:
        return self.lost_reason is None and self.client.uaclient.state is UaClientState.CONNECTED

    def mark_lost(self, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason

    def check(self, exc: BaseException) -> DriverError | None:
        """A `DriverError` (and the session marked lost) when `exc` means the session is gone."""
        if is_connection_error(exc) or self.client.uaclient.state is not UaClientState.CONNECTED:
            reason = f"connection to {self.settings.endpoint} lost: {describe(exc)}"
            self.mark_lost(reason)
            return DriverError(reason)
        return None

    async def close(self) -> None:
        """Close session and socket; never raises, never waits longer than the request timeout."""
        self.mark_lost("closed")
        publish = getattr(self.client.uaclient.session, "_publish_task", None)
        if isinstance(publish, asyncio.Task) and not publish.done():
            publish.cancel()
        await _disconnect_quietly(self.client, self.settings.timeout)

    def resolve(self, address: NodeAddress) -> ua.NodeId:
        return address.to_nodeid(self.namespaces)

    # -- batched services ----------------------------------------------------------------------
    async def read(self, nodeids: Sequence[ua.NodeId], attribute: ua.AttributeIds = ua.AttributeIds.Value,
                   timestamps: ua.TimestampsToReturn = ua.TimestampsToReturn.Source) -> list[ua.DataValue]:
        """Read one attribute of many nodes in chunks within MaxNodesPerRead."""
        return await self.read_many([(n, attribute) for n in nodeids], timestamps)

    async def read_many(self, items: Sequence[tuple[ua.NodeId, ua.AttributeIds]],
                        timestamps: ua.TimestampsToReturn = ua.TimestampsToReturn.Neither) -> list[ua.DataValue]:
        out: list[ua.DataValue] = []
        pending = list(items)
        while pending:
            size = self.limits.max_nodes_per_read
            batch, rest = pending[:size], pending[size:]
            params = ua.ReadParameters()
            params.TimestampsToReturn = timestamps
            for nodeid, attr in batch:
                rv = ua.ReadValueId()
                rv.NodeId = nodeid
                rv.AttributeId = attr
                params.NodesToRead.append(rv)
            try:
                results = await self.client.uaclient.read(params)
            except ua.UaStatusCodeError as exc:
                if exc.code == SC.BadTooManyOperations and size > 1:
                    self.limits.halve("max_nodes_per_read")
                    continue
                raise
            out.extend(results)
            pending = rest
        return out

    async def write_value(self, nodeid: ua.NodeId, variant: ua.Variant) -> ua.StatusCode:
        wv = ua.WriteValue()
        wv.NodeId = nodeid
        wv.AttributeId = ua.AttributeIds.Value
        wv.Value = ua.DataValue(variant, StatusCode=None)  # no timestamps: many servers refuse them
        params = ua.WriteParameters()
        params.NodesToWrite = [wv]
        results = await self.client.uaclient.write(params)
        return results[0]

    async def variant_type(self, datatype: ua.NodeId) -> ua.VariantType:
        """The builtin type a DataType is encoded as (walks custom subtypes once, then cached)."""
        known = builtin_of(datatype)
        if known is not None:
            return known
        if datatype not in self._builtin:
            self._builtin[datatype] = await data_type_to_variant_type(self.client.get_node(datatype))
        return self._builtin[datatype]

    async def datatype_names(self, datatypes: set[ua.NodeId]) -> dict[ua.NodeId, str]:
        """Names of non-standard DataTypes (their BrowseName), read in one batch and cached."""
        missing = [d for d in datatypes if d not in self._datatype_names
                   and not (d.NamespaceIndex == 0 and isinstance(d.Identifier, int))]
        if missing:
            values = await self.read(missing, ua.AttributeIds.BrowseName, ua.TimestampsToReturn.Neither)
            for d, dv in zip(missing, values, strict=True):
                qn = good_value(dv)
                self._datatype_names[d] = qn.Name if isinstance(qn, ua.QualifiedName) else datatype_name(d)
        return self._datatype_names

    async def node_meta(self, nodeid: ua.NodeId) -> tuple[NodeMeta, ua.VariantType | None]:
        """DataType, ValueRank and writability of a node (cached), plus its current value's type."""
        attrs = [ua.AttributeIds.Value, ua.AttributeIds.DataType, ua.AttributeIds.ValueRank,
                 ua.AttributeIds.UserAccessLevel, ua.AttributeIds.AccessLevel]
        values = await self.read_many([(nodeid, a) for a in attrs])
        cur, dtype, rank, user_access, access = values
        current = cur.Value.VariantType if cur.Value is not None and good_value(cur) is not None else None
        if nodeid in self._meta:
            return self._meta[nodeid], current
        datatype = good_value(dtype)
        if not isinstance(datatype, ua.NodeId):
            code = dtype.StatusCode.value if dtype.StatusCode is not None else ua.StatusCodes.BadNodeIdUnknown
            raise ua.UaStatusCodeError(code)
        names = await self.datatype_names({datatype})
        level = good_value(user_access)
        if level is None:
            level = good_value(access)
        value_rank = good_value(rank)
        meta = NodeMeta(
            variant_type=await self.variant_type(datatype),
            value_rank=int(value_rank) if isinstance(value_rank, int) else -1,
            writable=level is None or bool(int(level) & _WRITE_BIT),
            datatype=datatype_name(datatype, names),
        )
        self._meta[nodeid] = meta
        return meta, current


async def _disconnect_quietly(client: Client, wait: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), wait + 1.0)
    with contextlib.suppress(Exception):
        client.disconnect_socket()


async def _offered_endpoints(url: str, wait: float) -> list[str] | None:
    """What the server offers, to say so when our choice was refused (best effort)."""
    probe = Client(url, timeout=wait)
    try:
        endpoints = await asyncio.wait_for(probe.connect_and_get_server_endpoints(), wait + 1.0)
    except Exception:
        return None
    return sorted({endpoint_label(ep) for ep in endpoints})
