"""Subscriptions: monitored items per tag, grouped by sampling interval, kept alive across sessions.

What was asked for (tag, callback) is kept apart from what exists on the server (subscription id,
monitored item ids), so a new session, a server restart or a silent subscription is healed by
re-creating the server side from the same registrations. Notifications are turned into samples in
the client's publish callback — one batch per NotificationMessage, no task per value — which is
what keeps 5,000 changing variables cheap.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from asyncua import ua

from devices.model import Sample, TagSpec, now_ts
from drivers.base import SampleCallback
from drivers.opcua.delivery import deliver, group_callbacks
from drivers.opcua.limits import chunks
from drivers.opcua.nodeid import NodeAddress, NodeIdError, parse_nodeid
from drivers.opcua.security import describe
from drivers.opcua.session import Session
from drivers.opcua.settings import Options
from drivers.opcua.typemap import NUMERIC, good_value, status_text, to_sample

log = logging.getLogger(__name__)

FILTER_REFUSED = frozenset({
    ua.StatusCodes.BadFilterNotAllowed, ua.StatusCodes.BadMonitoredItemFilterUnsupported,
    ua.StatusCodes.BadMonitoredItemFilterInvalid, ua.StatusCodes.BadDeadbandFilterInvalid,
})
RETRY_FAILED_AFTER = 30.0
"""Seconds before a monitored item or subscription the server refused (e.g. BadNodeIdUnknown) is tried again."""


def retry_after() -> float:
    return RETRY_FAILED_AFTER


@dataclass(eq=False, slots=True)
class Item:
    """One subscribed tag: the registration, plus its monitored item while a session exists."""

    tag: TagSpec
    callback: SampleCallback
    handle: int
    interval: float
    address: NodeAddress | None
    problem: str | None = None
    server_id: int | None = None
    error: str | None = None
    tried: float = 0.0
    numeric: bool | None = None
    filter_refused: bool = False

    @property
    def deadband_raw(self) -> float | None:
        """The tag's deadband in the server's (raw) units: the server filters before scaling."""
        db = self.tag.deadband
        if not db:
            return None
        scale = self.tag.scale
        return db / abs(scale) if scale else db


@dataclass(eq=False, slots=True)
class Group:
    """One server subscription: every tag with the same interval (publishing = sampling interval)."""

    interval: float
    items: dict[int, Item] = field(default_factory=dict)
    sub_id: int | None = None
    keepalive: float = 0.0
    last_publish: float = 0.0
    lost: str | None = None
    failed_at: float | None = None


def keepalive_period(interval: float, options: Options) -> float:
    """Keep-alive every few publishing intervals (1-30 s) unless configured."""
    if options.keepalive is not None:
        return options.keepalive
    return min(30.0, max(1.0, 3 * interval))


def parse_address(text: str) -> tuple[NodeAddress | None, str | None]:
    try:
        return parse_nodeid(text), None
    except NodeIdError as exc:
        return None, str(exc)


class SubscriptionManager:
    """Registrations of subscribed tags and their server-side subscriptions in the current session."""

    def __init__(self, device: str, options: Options, default_interval: float, timeout: float) -> None:
        self.device = device
        self.options = options
        self.default_interval = default_interval
        self.timeout = timeout
        self.items: dict[str, Item] = {}
        self.groups: dict[float, Group] = {}
        self.session: Session | None = None
        self._handles = itertools.count(1)
        self.notifications = 0
        self.keepalives = 0
        self.rebuilds = 0
        self.create_calls = 0

    # -- registrations -------------------------------------------------------------------------
    def register(self, tags: Sequence[TagSpec], callback: SampleCallback) -> tuple[list[Item], list[Item]]:
        """Add or replace (by tag name) registrations; returns (new items, replaced items)."""
        new: list[Item] = []
        replaced: list[Item] = []
        for tag in tags:
            if not tag.readable:
                continue
            old = self.items.pop(tag.name, None)
            if old is not None:
                replaced.append(old)
                self._group_of(old).items.pop(old.handle, None)
            address, problem = parse_address(tag.address)
            interval = tag.interval or self.default_interval
            item = Item(tag, callback, next(self._handles), interval, address, problem)
            self.items[tag.name] = item
            self._group(interval).items[item.handle] = item
            new.append(item)
        return new, replaced

    def unregister(self, names: Sequence[str]) -> list[Item]:
        """Drop registrations (e.g. a tag switched to `mode: poll`); returns them for `remove`."""
        removed = []
        for name in names:
            item = self.items.pop(name, None)
            if item is not None:
                self._group_of(item).items.pop(item.handle, None)
                removed.append(item)
        return removed

    def _group(self, interval: float) -> Group:
        group = self.groups.get(interval)
        if group is None:
            group = self.groups[interval] = Group(interval)
        return group

    def _group_of(self, item: Item) -> Group:
        return self._group(item.interval)

    # -- session binding -----------------------------------------------------------------------
    async def attach(self, session: Session) -> None:
        """Create every group's subscription and items in a fresh session."""
        self.session = session
        for item in self.items.values():
            item.server_id = None
            item.numeric = None
        for group in list(self.groups.values()):
            group.sub_id = None
            if group.items:
                await self._try_create_group(group)

    def detach(self) -> None:
        """The session is gone: forget server-side ids, keep registrations."""
        self.session = None
        for group in self.groups.values():
            group.sub_id = None
            group.lost = None
            group.failed_at = None
        for item in self.items.values():
            item.server_id = None

    async def add(self, items: Sequence[Item]) -> None:
        """Create monitored items for new registrations (creating their subscription if needed)."""
        by_group: dict[float, list[Item]] = {}
        for item in items:
            by_group.setdefault(item.interval, []).append(item)
        for interval, group_items in by_group.items():
            group = self.groups[interval]
            if group.sub_id is None:
                await self._try_create_group(group)
            else:
                await self._create_items(group, group_items)

    async def remove(self, items: Sequence[Item]) -> None:
        """Delete the monitored items of replaced registrations (best effort per batch)."""
        session = self.session
        if session is None:
            return
        by_sub: dict[int, list[int]] = {}
        for item in items:
            group = self.groups.get(item.interval)
            if item.server_id is not None and group is not None and group.sub_id is not None:
                by_sub.setdefault(group.sub_id, []).append(item.server_id)
            item.server_id = None
        for sub_id, ids in by_sub.items():
            for batch in chunks(ids, session.limits.max_monitored_items_per_call):
                params = ua.DeleteMonitoredItemsParameters()
                params.SubscriptionId = sub_id
                params.MonitoredItemIds = batch
                try:
                    await session.client.uaclient.delete_monitored_items(params)
                except Exception as exc:
                    if session.check(exc) is not None:
                        raise
                    log.warning("%s: deleting monitored items: %s", self.device, describe(exc))
        for interval, group in list(self.groups.items()):
            if not group.items and group.sub_id is not None:
                await self._delete_subscription(group)
                del self.groups[interval]

    # -- server side ---------------------------------------------------------------------------
    async def _try_create_group(self, group: Group) -> None:
        """Create a group's subscription; a refusal (not a lost session) makes its tags bad, retried later."""
        session = self.session
        assert session is not None
        try:
            await self._create_group(group)
        except Exception as exc:
            if session.check(exc) is not None:
                raise
            reason = f"cannot create a subscription ({group.interval:g}s): {describe(exc)}"
            log.warning("%s: %s", self.device, reason)
            group.failed_at = time.monotonic()
            for item in group.items.values():
                item.error = reason
            deliver(group_callbacks((i.callback, Sample.bad(self.device, i.tag.name, reason, now_ts()))
                                    for i in group.items.values()))
        else:
            group.failed_at = None

    async def _create_group(self, group: Group) -> None:
        session = self.session
        assert session is not None
        keepalive = keepalive_period(group.interval, self.options)
        interval_ms = group.interval * 1000.0
        keepalive_count = max(1, math.ceil(keepalive / group.interval))
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = interval_ms
        params.RequestedMaxKeepAliveCount = keepalive_count
        params.RequestedLifetimeCount = max(3 * keepalive_count, math.ceil(60.0 / group.interval))
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        params.Priority = 0
        result = await session.client.uaclient.create_subscription(params, partial(self._on_publish, group))
        group.sub_id = result.SubscriptionId
        revised_ms = result.RevisedPublishingInterval or interval_ms
        group.keepalive = revised_ms / 1000.0 * max(1, result.RevisedMaxKeepAliveCount or keepalive_count)
        group.last_publish = time.monotonic()
        group.lost = None
        await self._create_items(group, list(group.items.values()))

    async def _delete_subscription(self, group: Group) -> None:
        session, sub_id = self.session, group.sub_id
        group.sub_id = None
        if session is None or sub_id is None:
            return
        try:
            await session.client.uaclient.delete_subscriptions([sub_id])
        except Exception as exc:
            if session.check(exc) is not None:
                raise
            log.debug("%s: deleting subscription %s: %s", self.device, sub_id, exc)
        # a refused delete leaves asyncua's callback registered: drop it, the subscription is dead to us
        session.client.uaclient.session._subscription_callbacks.pop(sub_id, None)

    async def _check_deadband_types(self, items: list[Item]) -> None:
        """Absolute deadbands are defined for numeric scalars only; learn which nodes are."""
        session = self.session
        assert session is not None
        todo: list[tuple[Item, ua.NodeId]] = []
        for i in items:
            if i.numeric is None and i.deadband_raw and i.address is not None:
                try:
                    todo.append((i, session.resolve(i.address)))
                except NodeIdError:
                    continue
        if not todo:
            return
        values = await session.read_many([(nid, attr) for _, nid in todo
                                          for attr in (ua.AttributeIds.DataType, ua.AttributeIds.ValueRank)])
        for k, (item, _) in enumerate(todo):
            datatype, rank = good_value(values[2 * k]), good_value(values[2 * k + 1])
            item.numeric = False
            if isinstance(datatype, ua.NodeId):
                try:
                    vt = await session.variant_type(datatype)
                except ua.UaError:
                    continue
                item.numeric = rank in (None, -1) and vt in NUMERIC

    def _request(self, item: Item, nodeid: ua.NodeId, with_filter: bool) -> ua.MonitoredItemCreateRequest:
        rv = ua.ReadValueId()
        rv.NodeId = nodeid
        rv.AttributeId = ua.AttributeIds.Value
        mp = ua.MonitoringParameters()
        mp.ClientHandle = item.handle
        mp.SamplingInterval = item.interval * 1000.0
        mp.QueueSize = self.options.queue_size
        mp.DiscardOldest = True
        if with_filter:
            flt = ua.DataChangeFilter()
            flt.Trigger = ua.DataChangeTrigger.StatusValue
            flt.DeadbandType = ua.DeadbandType.Absolute
            flt.DeadbandValue = float(item.deadband_raw or 0.0)
            mp.Filter = flt
        req = ua.MonitoredItemCreateRequest()
        req.ItemToMonitor = rv
        req.MonitoringMode = ua.MonitoringMode.Reporting
        req.RequestedParameters = mp
        return req

    async def _create_items(self, group: Group, items: list[Item]) -> None:
        """CreateMonitoredItems in batches within MaxMonitoredItemsPerCall; refusals become bad samples."""
        session = self.session
        assert session is not None and group.sub_id is not None
        now = now_ts()
        failed: list[Item] = []
        pending: list[tuple[Item, ua.MonitoredItemCreateRequest]] = []
        await self._check_deadband_types(items)
        for item in items:
            item.tried = time.monotonic()
            if item.address is None:
                item.error = item.problem
                failed.append(item)
                continue
            try:
                nodeid = session.resolve(item.address)
            except NodeIdError as exc:
                item.error = str(exc)
                failed.append(item)
                continue
            with_filter = bool(item.deadband_raw) and bool(item.numeric) and not item.filter_refused
            pending.append((item, self._request(item, nodeid, with_filter)))
        while pending:
            size = session.limits.max_monitored_items_per_call
            batch = pending[:size]
            params = ua.CreateMonitoredItemsParameters()
            params.SubscriptionId = group.sub_id
            params.TimestampsToReturn = ua.TimestampsToReturn.Source
            params.ItemsToCreate = [req for _, req in batch]
            try:
                results = await session.client.uaclient.create_monitored_items(params)
            except ua.UaStatusCodeError as exc:
                if exc.code == ua.StatusCodes.BadTooManyOperations and size > 1:
                    session.limits.halve("max_monitored_items_per_call")
                    continue
                raise
            self.create_calls += 1
            retry: list[tuple[Item, ua.MonitoredItemCreateRequest]] = []
            for (item, req), res in zip(batch, results, strict=True):
                code = res.StatusCode.value
                if res.StatusCode.is_good():
                    item.server_id = res.MonitoredItemId
                    item.error = None
                elif code in FILTER_REFUSED and req.RequestedParameters.Filter is not None:
                    item.filter_refused = True  # the runtime's deadband still applies
                    retry.append((item, self._request(item, req.ItemToMonitor.NodeId, False)))
                else:
                    item.server_id = None
                    item.error = status_text(code)
                    failed.append(item)
            pending = pending[len(batch):] + retry
        if failed:
            deliver(group_callbacks(
                (i.callback, Sample.bad(self.device, i.tag.name, i.error or "not subscribed", now)) for i in failed))

    async def rebuild(self, group: Group) -> None:
        """Replace a subscription that went silent or was lost on the server."""
        log.warning("%s: subscription %s (%.3gs) silent or lost (%s); re-creating it", self.device,
                    group.sub_id, group.interval, group.lost or "no publish or keep-alive")
        await self._delete_subscription(group)
        for item in group.items.values():
            item.server_id = None
        self.rebuilds += 1
        await self._try_create_group(group)

    async def retry_failed(self) -> None:
        """Try again items the server refused (a node may appear after a server reconfiguration)."""
        now = time.monotonic()
        for group in list(self.groups.values()):
            if group.sub_id is None:
                if group.items and group.failed_at is not None and now - group.failed_at >= retry_after():
                    await self._try_create_group(group)
                continue
            due = [i for i in group.items.values() if i.server_id is None and i.address is not None
                   and now - i.tried >= retry_after()]
            if due:
                await self._create_items(group, due)

    def stale_groups(self) -> list[Group]:
        """Groups whose subscription sent nothing (not even a keep-alive) for three keep-alive periods."""
        now = time.monotonic()
        out = []
        for group in self.groups.values():
            if group.sub_id is None:
                continue
            limit = max(3 * group.keepalive, group.keepalive + self.timeout)
            if group.lost is not None or now - group.last_publish > limit:
                out.append(group)
        return out

    # -- notifications -------------------------------------------------------------------------
    def _on_publish(self, group: Group, result: ua.PublishResult) -> None:
        """Called by the client's publish loop for every response of this subscription."""
        if result.SubscriptionId != group.sub_id:
            return  # a late answer for a subscription we already replaced
        group.last_publish = time.monotonic()
        data = result.NotificationMessage.NotificationData
        if not data:
            self.keepalives += 1
            return
        now = now_ts()
        device = self.device
        items = group.items
        out: dict[int, tuple[SampleCallback, list[Sample]]] = {}
        for notif in data:
            if isinstance(notif, ua.DataChangeNotification):
                for mi in notif.MonitoredItems:
                    item = items.get(mi.ClientHandle)
                    if item is None:
                        continue
                    sample = to_sample(device, item.tag, mi.Value, now)
                    entry = out.get(id(item.callback))
                    if entry is None:
                        out[id(item.callback)] = (item.callback, [sample])
                    else:
                        entry[1].append(sample)
                    self.notifications += 1
            elif isinstance(notif, ua.StatusChangeNotification):
                if not notif.Status.is_good():
                    group.lost = status_text(notif.Status.value)
        deliver(out.values())

    def emit_bad(self, reason: str) -> None:
        """Every subscribed tag is now unknown: say so once, with the reason."""
        now = now_ts()
        deliver(group_callbacks((i.callback, Sample.bad(self.device, i.tag.name, reason, now))
                                for i in self.items.values()))

    def stats(self) -> dict[str, int]:
        return {
            "subscriptions": sum(1 for g in self.groups.values() if g.sub_id is not None),
            "monitored_items": sum(1 for i in self.items.values() if i.server_id is not None),
            "failed_items": sum(1 for i in self.items.values() if i.server_id is None and i.error is not None),
            "notifications": self.notifications,
            "keepalives": self.keepalives,
            "subscription_rebuilds": self.rebuilds,
            "create_monitored_items_calls": self.create_calls,
        }
