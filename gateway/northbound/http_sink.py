"""HTTP sink: batches from the buffer to the platform's `POST /api/v1/ingest` (CONTRACTS §5/§7).

For sites that reach the platform over HTTPS but have no broker. The body of each request is
exactly the MQTT data payload (`gateway, device, epoch, seq, samples`), so the platform's de-
duplication by `(enterprise, gateway, epoch, seq)` applies unchanged.

Delivery: up to `concurrency` batches are posted at once over kept-alive connections; a batch
leaves the buffer only after a 2xx answer (an answer that it was already ingested is a 2xx too).
Network errors, 5xx and the 4xx that a fix on the other side can cure (401 wrong token, 403, 404
wrong URL, 408, 429) are retried with back-off, keeping everything buffered. A batch the platform
refuses as malformed (400, 413, 415, 422) could never succeed and would block everything behind
it: it is given up, counted (`rejected_batches`) and logged with the platform's reason.

Device status: the status document of the MQTT status topic is posted to
`POST /api/v1/ingest/status` on start, on every device up/down change and once a minute; a
platform without that route (404/405) is asked again only every few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any, Literal

import httpx

from gateway.backoff import Backoff
from gateway.northbound.buffer import Record
from gateway.northbound.encoding import Envelope
from gateway.northbound.settings import HttpSettings
from gateway.northbound.sink import Sink, SinkContext

log = logging.getLogger("gateway.northbound.http")

INGEST_PATH = "/api/v1/ingest"
STATUS_PATH = "/api/v1/ingest/status"
PERMANENT = frozenset((400, 413, 415, 422))
"""Answers that mean the batch itself is refused: retrying it could never succeed."""
NO_ROUTE = frozenset((404, 405))
STATUS_REFRESH = 60.0
"""Seconds between status posts without a change, so the platform can tell a silent gateway."""
STATUS_REPROBE = 300.0
"""Seconds before asking again a platform that had no status route."""
STATUS_DEBOUNCE = 0.1
IDLE_WAIT = 1.0

Outcome = Literal["delivered", "retry", "rejected"]


def _detail(resp: httpx.Response) -> str:
    """The platform's `{"detail": ...}` or the start of the body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


class HttpSink(Sink):
    type = "http"

    def __init__(self, settings: HttpSettings, ctx: SinkContext) -> None:
        super().__init__(settings.name, ctx)
        self.settings = settings
        self.ingest_url = settings.url + INGEST_PATH
        self.status_url = settings.url + STATUS_PATH
        self._client: httpx.AsyncClient | None = None
        self._envelope: Envelope | None = None
        self._reader: Any = None
        self._feed_task: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._status_dirty = asyncio.Event()
        self._status_handle: asyncio.TimerHandle | None = None
        self._stopping = False
        self._backoff = Backoff(settings.retry_min, settings.retry_max, jitter=0.8)
        self._logged_error: str | None = None
        self.connected = False
        self.posts = 0
        self.failures = 0
        self.duplicates = 0
        self.rejected_batches = 0
        self.rejected_samples = 0
        self.status_posts = 0
        self.status_supported: bool | None = None
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _verify(self) -> ssl.SSLContext | bool:
        tls = self.settings.tls
        if tls is None:
            return True
        if tls.insecure:
            return False
        return ssl.create_default_context(cafile=tls.ca) if tls.ca else True

    async def start(self) -> None:
        s = self.settings
        # httpx logs every request at INFO: one line per batch; this sink logs what matters itself
        if logging.getLogger("httpx").getEffectiveLevel() < logging.WARNING:
            logging.getLogger("httpx").setLevel(logging.WARNING)
        headers = {"Content-Type": "application/json", "User-Agent": "minegate-gateway"}
        if s.token:
            headers["Authorization"] = f"Bearer {s.token}"
        self._client = httpx.AsyncClient(
            timeout=s.timeout, headers=headers, verify=self._verify(), trust_env=False,
            limits=httpx.Limits(max_connections=s.concurrency + 1, max_keepalive_connections=s.concurrency + 1),
        )
        self._envelope = Envelope(self.ctx.gateway, self.ctx.buffer.epoch)
        self._reader = self.ctx.buffer.reader()
        self._feed_task = asyncio.create_task(self._feed(), name=f"http-feed-{self.name}")
        if s.status:
            self._status_dirty.set()
            self._status_task = asyncio.create_task(self._status_loop(), name=f"http-status-{self.name}")

    async def stop(self, grace: float) -> None:
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._feed_task is not None:
            # a window being posted to a platform that answers may finish within the grace (one in
            # back-off would not); what is cut off stays buffered for the next start
            if self.connected:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(self._feed_task), max(0.0, grace / 2))
            self._feed_task.cancel()
            with contextlib.suppress(BaseException):
                await self._feed_task
        if self._status_handle is not None:
            self._status_handle.cancel()
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(BaseException):
                await self._status_task
        if self._client is not None:
            if self.settings.status and self.status_supported:
                remaining = deadline - loop.time()
                if remaining > 0.05:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._post_status(online=False), min(remaining, 2.0))
            with contextlib.suppress(Exception):
                await self._client.aclose()

    # -- data ----------------------------------------------------------------------------------
    def _set_error(self, message: str, level: int = logging.WARNING) -> None:
        """Record the latest problem; log it once, not on every retry of a platform that stays away."""
        self.last_error = message
        if message != self._logged_error:
            self._logged_error = message
            log.log(level, "http %s: %s", self.name, message)

    async def _feed(self) -> None:
        """Post stored batches in seq order, `concurrency` at a time; the next window starts when
        every batch of this one is delivered or given up."""
        buffer = self.ctx.buffer
        pos = buffer.cursor(self.name)
        while not self._stopping:
            pos = max(pos, buffer.cursor(self.name))  # the buffer may have dropped past us
            recs = await buffer.read(self._reader, pos, limit=self.settings.concurrency)
            if not recs:
                await buffer.wait_beyond(pos, within=IDLE_WAIT)
                continue
            await self._deliver(recs)
            pos = recs[-1].seq

    async def _deliver(self, recs: list[Record]) -> None:
        pending = recs
        while pending:
            outcomes = await asyncio.gather(*(self._post(r) for r in pending))
            pending = [r for r, o in zip(pending, outcomes, strict=True) if o == "retry"]
            if not pending:
                return
            await asyncio.sleep(self._backoff.next_delay())
            cursor = self.ctx.buffer.cursor(self.name)
            pending = [r for r in pending if r.seq > cursor]  # dropped by the buffer's limits meanwhile

    async def _post(self, rec: Record) -> Outcome:
        assert self._client is not None and self._envelope is not None
        body = self._envelope.wrap(rec.device, rec.seq, rec.samples_json())
        try:
            resp = await self._client.post(self.ingest_url, content=body)
        except httpx.HTTPError as exc:
            self.failures += 1
            self._went_down(f"cannot post to {self.ingest_url}: {type(exc).__name__}: {exc}; retrying with back-off")
            return "retry"
        self.posts += 1
        status = resp.status_code
        if 200 <= status < 300:
            with contextlib.suppress(ValueError, AttributeError):
                if resp.json().get("duplicate"):
                    self.duplicates += 1
            self.ctx.buffer.ack(self.name, rec.seq, rec.count)
            self._came_up()
            return "delivered"
        self.failures += 1
        if status in PERMANENT:
            self.rejected_batches += 1
            self.rejected_samples += rec.count
            self.ctx.buffer.ack(self.name, rec.seq, rec.count)
            self._came_up()
            self.last_error = (f"platform refused batch {rec.seq} of {rec.device} ({rec.count} samples): "
                               f"{status} {_detail(resp)}")
            log.error("http %s: %s; giving it up", self.name, self.last_error)
            return "rejected"
        self._went_down(f"platform answered {status} {_detail(resp)}; retrying with back-off",
                        logging.ERROR if status in (401, 403) else logging.WARNING)
        return "retry"

    def _came_up(self) -> None:
        if not self.connected:
            log.info("http %s: posting to %s", self.name, self.ingest_url)
            self.connected = True
            self._logged_error = None
            if self.settings.status:
                self._status_dirty.set()  # the platform may have missed changes while we were away
        self._backoff.reset()

    def _went_down(self, message: str, level: int = logging.WARNING) -> None:
        self.connected = False
        self._set_error(message, level)

    # -- status --------------------------------------------------------------------------------
    def status_changed(self) -> None:
        if not self.settings.status or self._status_handle is not None:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            self._status_handle = loop.call_later(STATUS_DEBOUNCE, self._mark_status)

    def _mark_status(self) -> None:
        self._status_handle = None
        self._status_dirty.set()

    async def _post_status(self, online: bool) -> int | None:
        """Post the status document; the HTTP status, or None when the platform is unreachable."""
        assert self._client is not None
        dropped = [d.announce() for d in self.ctx.buffer.drop_ranges(self.name)]
        body = self.ctx.board.document(online, dropped)
        try:
            resp = await self._client.post(self.status_url, content=body)
        except httpx.HTTPError:
            return None
        if 200 <= resp.status_code < 300:
            self.status_posts += 1
        elif resp.status_code not in NO_ROUTE:
            log.warning("http %s: status refused: %s %s", self.name, resp.status_code, _detail(resp))
        return resp.status_code

    async def _status_loop(self) -> None:
        backoff = Backoff(self.settings.retry_min, self.settings.retry_max, jitter=0.8)
        while not self._stopping:
            wait = STATUS_REPROBE if self.status_supported is False else STATUS_REFRESH
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_dirty.wait(), wait)
            self._status_dirty.clear()
            code = await self._post_status(online=True)
            if code is None or code >= 500:
                self._status_dirty.set()
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            supported = code not in NO_ROUTE
            if supported != self.status_supported and not supported:
                log.info("http %s: the platform has no %s route; device status is not reported", self.name,
                         STATUS_PATH)
            self.status_supported = supported

    def stats(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "connected": self.connected,
            "posts": self.posts,
            "failures": self.failures,
            "duplicates": self.duplicates,
            "rejected_batches": self.rejected_batches,
            "rejected_samples": self.rejected_samples,
            "status_posts": self.status_posts,
            "status_supported": self.status_supported,
            "last_error": self.last_error,
        }


__all__ = ["INGEST_PATH", "STATUS_PATH", "HttpSink"]
