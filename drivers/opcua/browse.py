"""List the variables under Objects so a site engineer can write tags without a separate client.

Breadth-first, one Browse request per level (chunked within MaxNodesPerBrowse, continued with
BrowseNext), then one batched Read for the DataType, ValueRank and access level of every variable
found. Namespace-0 nodes (the standard `Server` object with its hundreds of diagnostics variables,
`Aliases`...) are skipped — a plant's variables never live there — and so are the properties of
variables (EURange, EngineeringUnits...).
"""

from __future__ import annotations

from typing import Any

from asyncua import ua

from drivers.opcua.limits import chunks
from drivers.opcua.nodeid import format_nodeid, std
from drivers.opcua.session import Session
from drivers.opcua.typemap import datatype_name, good_value

_HAS_PROPERTY = std(ua.ObjectIds.HasProperty)
_MAX_CONTINUATIONS = 1000


async def _browse_level(session: Session, nodes: list[ua.NodeId]) -> list[list[ua.ReferenceDescription]]:
    out: list[list[ua.ReferenceDescription]] = []
    for batch in chunks(nodes, session.limits.max_nodes_per_browse):
        params = ua.BrowseParameters()
        params.RequestedMaxReferencesPerNode = 0
        for nodeid in batch:
            desc = ua.BrowseDescription()
            desc.NodeId = nodeid
            desc.BrowseDirection = ua.BrowseDirection.Forward
            desc.ReferenceTypeId = std(ua.ObjectIds.HierarchicalReferences)
            desc.IncludeSubtypes = True
            desc.NodeClassMask = ua.NodeClass.Object | ua.NodeClass.Variable
            desc.ResultMask = ua.BrowseResultMask.All
            params.NodesToBrowse.append(desc)
        results = await session.client.uaclient.browse(params)
        for result in results:
            refs = list(result.References or [])
            cp = result.ContinuationPoint
            rounds = 0
            while cp and rounds < _MAX_CONTINUATIONS:
                nxt = ua.BrowseNextParameters()
                nxt.ReleaseContinuationPoints = False
                nxt.ContinuationPoints = [cp]
                more = (await session.client.uaclient.browse_next(nxt))[0]
                refs.extend(more.References or [])
                cp = more.ContinuationPoint
                rounds += 1
            out.append(refs)
    return out


async def browse(session: Session, depth: int) -> list[dict[str, Any]]:
    """Variables down to `depth` levels below Objects: `{"address", "name", "type", "access", "path"}`."""
    objects = std(ua.ObjectIds.ObjectsFolder)
    frontier: list[tuple[ua.NodeId, str, ua.NodeClass]] = [(objects, "", ua.NodeClass.Object)]
    seen = {objects}
    found: list[tuple[ua.NodeId, str, str]] = []
    for _ in range(max(0, depth)):
        if not frontier:
            break
        levels = await _browse_level(session, [n for n, _, _ in frontier])
        nxt: list[tuple[ua.NodeId, str, ua.NodeClass]] = []
        for (_, parent_path, parent_class), refs in zip(frontier, levels, strict=True):
            for ref in refs:
                target = ref.NodeId
                if getattr(target, "ServerIndex", 0):
                    continue  # lives on another server
                nodeid = ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)
                if nodeid in seen or nodeid.NamespaceIndex == 0:
                    continue
                if parent_class == ua.NodeClass.Variable and ref.ReferenceTypeId == _HAS_PROPERTY:
                    continue
                seen.add(nodeid)
                name = ref.BrowseName.Name or (ref.DisplayName.Text if ref.DisplayName else "") or format_nodeid(nodeid)
                path = f"{parent_path}/{name}" if parent_path else name
                if ref.NodeClass == ua.NodeClass.Variable:
                    found.append((nodeid, name, path))
                nxt.append((nodeid, path, ref.NodeClass))
        frontier = nxt
    if not found:
        return []
    attrs = (ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.UserAccessLevel)
    values = await session.read_many([(nid, a) for nid, _, _ in found for a in attrs])
    datatypes: list[ua.NodeId | None] = []
    for k in range(len(found)):
        dtype = good_value(values[3 * k])
        datatypes.append(dtype if isinstance(dtype, ua.NodeId) else None)
    names = await session.datatype_names({d for d in datatypes if d is not None})
    out: list[dict[str, Any]] = []
    for k, (nodeid, name, path) in enumerate(found):
        dtype = datatypes[k]
        rank, level = good_value(values[3 * k + 1]), good_value(values[3 * k + 2])
        type_name = datatype_name(dtype, names) if dtype is not None else "unknown"
        if isinstance(rank, int) and rank >= 1:
            type_name += "[]"
        out.append({
            "address": format_nodeid(nodeid),
            "name": name,
            "type": type_name,
            "access": "rw" if isinstance(level, int) and level & 0x02 else "r",
            "path": path,
        })
    return out
