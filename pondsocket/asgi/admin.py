"""The admin HTTP API over ASGI (see ``docs/admin.md``).

Enabled by ``PondASGIApp(pond, admin=AdminOptions(token=...))``; every request needs
``Authorization: Bearer <token>``. The documents come from :class:`~pondsocket.admin.
AdminInspector`, gathered from every node of a cluster by :mod:`pondsocket.admin.cluster`
unless ``?scope=local``; the event stream from :func:`pondsocket.admin.events.events_of`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..admin.cluster import ClusterAdmin, answer_query
from ..admin.documents import CONNECTION_SORTS, inspector_of
from ..admin.events import Subscription, events_of
from ..admin.history import MAX_HISTORY_LIMIT, history_document
from ..admin.merge import (
    NodeAnswer,
    merge_channel,
    merge_channels,
    merge_connections,
    merge_endpoints,
    merge_overview,
    node_status,
    page_members,
)
from ..admin.metrics import metrics_text
from ..admin.options import AdminOptions
from ..admin.paging import page_channel
from ..wire import WireError, decode_json
from .scope import Scope, query_dict

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from ..server import PondSocket

MAX_LIMIT = 1_000_000
_LIMIT = re.compile(r"[1-9][0-9]{0,5}|1000000", re.ASCII)
_OFFSET = re.compile(r"0|[1-9][0-9]{0,15}", re.ASCII)
_NUMBER = re.compile(r"0|[1-9][0-9]{0,15}", re.ASCII)
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_MAX_BODY = 64 * 1024
KEEPALIVE_SECONDS = 15.0


async def send_json(send: Any, status: int, document: Any,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A JSON HTTP response."""
    body = json.dumps(document, default=str).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, _NO_STORE, (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, status: int, message: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_json(send, status, {"error": message, "status": status}, headers)


def _raw_path(scope: Scope) -> str:
    """The request path still percent-encoded (so ``%2F`` in a channel name survives),
    relative to the mount point."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path") or "/"
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


_MERGE = {"overview": merge_overview, "endpoints": merge_endpoints,
          "channels": merge_channels, "channel": merge_channel}
_SCOPES = ("cluster", "local")


class AdminRoutes:
    """Routes admin requests under ``options.prefix`` for one server."""

    def __init__(self, pond: PondSocket, options: AdminOptions) -> None:
        self.pond = pond
        self.options = options
        self.inspector = inspector_of(pond)
        self._token = options.token.encode()

    def handles(self, scope: Scope) -> bool:
        """True when the request's path is under the admin prefix."""
        path = _raw_path(scope)
        prefix = self.options.prefix
        return path == prefix or path.startswith(prefix + "/")

    def _authorize(self, scope: Scope) -> int:
        """200 when the bearer token matches, 401 when there is none, 403 when wrong."""
        header = b""
        for key, value in scope.get("headers") or []:
            if key.lower() == b"authorization":
                header = value
                break
        scheme, _, token = header.strip().partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return 401
        return 200 if hmac.compare_digest(token, self._token) else 403

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        status = self._authorize(scope)
        if status == 401:
            await _error(send, 401, "bearer token required",
                         [(b"www-authenticate", b'Bearer realm="pondsocket-admin"')])
            return
        if status == 403:
            await _error(send, 403, "invalid token")
            return
        rest = _raw_path(scope)[len(self.options.prefix):].strip("/")
        parts = [unquote(p) for p in rest.split("/")] if rest else []
        method = scope["method"]
        query = query_dict(scope)
        if query.get("scope", "cluster") not in _SCOPES:
            await _error(send, 400, "scope must be cluster or local")
            return
        if method == "POST":
            await self._post(parts, query, receive, send)
        elif method in ("GET", "HEAD"):
            await self._get(parts, query, scope, receive, send)
        else:
            await _error(send, 405, f"method {method} not allowed",
                         [(b"allow", b"GET, POST")])

    def _cluster(self, query: dict[str, str]) -> ClusterAdmin | None:
        """The cluster to ask: None for a lone node or with ``?scope=local``."""
        return None if query.get("scope") == "local" else self.pond.cluster_admin

    async def _ask(self, name: str, args: dict[str, Any],
                   cluster: ClusterAdmin | None) -> list[NodeAnswer]:
        if cluster is None:
            return [await answer_query(self.pond, name, args)]
        return await cluster.ask(name, args, timeout=self.options.cluster_timeout)

    async def _answers(self, name: str, args: dict[str, Any], cluster: ClusterAdmin | None,
                       merge: Callable[[list[NodeAnswer]], Any] | None = None
                       ) -> list[NodeAnswer]:
        """Every node's answer to ``name``; one that does not merge is an error answer."""
        merge = merge or _MERGE[name]
        return [answer if _merges(merge, answer)
                else NodeAnswer(answer.node_id, error="a malformed answer")
                for answer in await self._ask(name, args, cluster)]

    async def _document(self, send: Any, name: str, query: dict[str, str],
                        args: dict[str, Any] | None = None,
                        merge: Callable[[list[NodeAnswer]], Any] | None = None) -> None:
        """Answer with document ``name``: this node's, or every node's merged."""
        cluster = self._cluster(query)
        merge = merge or _MERGE[name]
        document = merge(await self._answers(name, args or {}, cluster, merge))
        if document is None:
            await _error(send, 404, f"no channel {(args or {}).get('name')}")
            return
        document["scope"] = "cluster" if cluster is not None else "local"
        await send_json(send, 200, document)

    async def _get(self, parts: list[str], query: dict[str, str], scope: Scope,
                   receive: Any, send: Any) -> None:
        head = parts[0] if parts else "overview"
        if parts == ["connections"]:
            await self._connections(send, query)
        elif len(parts) <= 1 and head in ("overview", "endpoints", "channels"):
            await self._document(send, head, query)
        elif head == "channels" and len(parts) >= 3 and parts[-1] == "history":
            await self._history(send, parts[1:-1], query)
        elif head == "channels":
            await self._channel(send, parts[1:], query)
        elif parts == ["metrics"]:
            body = (await self._metrics(query)).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"), _NO_STORE,
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif parts == ["events"]:
            await self._events(query, scope, receive, send)
        else:
            await _error(send, 404, "unknown admin route")

    async def _channel(self, send: Any, parts: list[str], query: dict[str, str]) -> None:
        """``/channels/{name}?offset=K&limit=N``: the channel, its members paged (every
        member without ``limit``; ``members_total`` counts them all)."""
        raw_offset, raw_limit = query.get("offset"), query.get("limit")
        offset = int(raw_offset) if raw_offset is not None and _OFFSET.fullmatch(raw_offset) \
            else None
        limit = int(raw_limit) if raw_limit is not None and _LIMIT.fullmatch(raw_limit) else None
        if raw_offset is not None and offset is None:
            await _error(send, 400, "offset must be a whole number (0 or more)")
            return
        if raw_limit is not None and limit is None:
            await _error(send, 400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
            return
        endpoint = query.get("endpoint")
        args = {"name": self._name(parts, endpoint), "endpoint": endpoint,
                "expose_assigns": self.options.expose_assigns}
        cluster = self._cluster(query)
        if cluster is None:  # every member is at hand: page the document
            await self._document(send, "channel", query, args, lambda answers: page_members(
                merge_channel(answers), offset or 0, limit))
            return
        # each node sends only its part of the page (pondsocket.admin.paging)
        document = await page_channel(lambda paged: self._answers("channel", paged, cluster),
                                      self.inspector, args, offset or 0, limit)
        if document is None:
            await _error(send, 404, f"no channel {args['name']}")
            return
        document["scope"] = "cluster"
        await send_json(send, 200, document)

    async def _history(self, send: Any, parts: list[str], query: dict[str, str]) -> None:
        """``/channels/{name}/history?after=K&limit=N``: this node's view of the stream
        (shared by every node when the history store is shared)."""
        numbers = {}
        for key, default, top in (("after", 0, 2 ** 53 - 1), ("limit", 100, MAX_HISTORY_LIMIT)):
            raw = query.get(key)
            value = int(raw) if raw is not None and _NUMBER.fullmatch(raw) else None
            if raw is not None and (value is None or value > top
                                    or (key == "limit" and value == 0)):
                await _error(send, 400, f"{key} must be a whole number up to {top}")
                return
            numbers[key] = default if value is None else value
        endpoint = query.get("endpoint")
        name = self._name(parts, endpoint)
        if not name.startswith("/") and len(parts) > 1:
            name = "/" + name
        document = await history_document(
            self.pond, name, endpoint, after=numbers["after"], limit=numbers["limit"],
            payloads=self.options.expose_history_payloads)
        if document is None:
            await _error(send, 404, f"no channel with history matches {name}")
            return
        document["scope"] = "local"
        await send_json(send, 200, document)

    async def _connections(self, send: Any, query: dict[str, str]) -> None:
        """``/connections?sort=age|queue_depth|dropped_frames|frames_sent&limit=N``."""
        sort = query.get("sort") or "age"
        if sort not in CONNECTION_SORTS:
            await _error(send, 400, f"sort must be one of {', '.join(CONNECTION_SORTS)}")
            return
        raw = query.get("limit")
        # ASCII digits only: str.isdigit() also takes "²", and int() of 5,000 digits raises.
        limit = int(raw) if raw is not None and _LIMIT.fullmatch(raw) else None
        if raw is not None and limit is None:
            await _error(send, 400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
            return
        await self._document(send, "connections", query, {"sort": sort, "limit": limit},
                             lambda answers: merge_connections(answers, sort, limit))

    async def _metrics(self, query: dict[str, str]) -> str:
        """This node's series, or with ``?scope=cluster`` every node's, labelled ``node``
        (Prometheus scrapes each node; the cluster view is for a quick look)."""
        if query.get("scope") != "cluster" or self.pond.cluster_admin is None:
            return self.inspector.metrics_text()
        answers = await self._ask("overview", {}, self.pond.cluster_admin)
        text = metrics_text([a.document for a in answers if a.ok], by_node=True)
        missing = "".join(f"# node {a.node_id}: {a.error}\n" for a in answers if not a.ok)
        return missing + text

    def _name(self, parts: list[str], endpoint: str | None) -> str:
        """The channel name in the path: one encoded segment (``%2Froom%2F1``) or several
        plain ones (``/channels/room/1`` means ``/room/1`` when no ``room/1`` exists)."""
        name = "/".join(parts)
        if (not name.startswith("/") and len(parts) > 1
                and self.pond.find_channel(name, endpoint) is None):
            return "/" + name
        return name

    async def _post(self, parts: list[str], query: dict[str, str], receive: Any,
                    send: Any) -> None:
        if len(parts) < 3 or parts[0] != "channels" or parts[-1] not in ("evict", "close"):
            await _error(send, 404, "unknown admin route")
            return
        if not self.options.allow_writes:
            await _error(send, 403, "admin write actions are disabled")
            return
        endpoint = query.get("endpoint")
        name, action = self._name(parts[1:-1], endpoint), parts[-1]
        try:
            body = await _read_json(receive)
        except BodyTooLarge as err:
            await _error(send, 413, str(err))
            return
        except ValueError as err:
            await _error(send, 400, str(err))
            return
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            await _error(send, 400, "reason must be a string")
            return
        user_id = body.get("user_id")
        if action == "evict" and (not isinstance(user_id, str) or not user_id):
            await _error(send, 400, "user_id (string) required")
            return
        args = {"name": name, "endpoint": endpoint, "user_id": user_id,
                "reason": reason or ("Evicted by admin" if action == "evict"
                                     else "Channel closed by admin")}
        # Actions reach every node: a user is evicted where it is connected, a channel is
        # closed on every node that has it.
        answers = await self._ask(action, args, self.pond.cluster_admin)
        key = "evicted" if action == "evict" else "closed"
        results = {a.node_id: a.document.get(key) for a in answers
                   if a.ok and isinstance(a.document, dict)}
        done = [node for node, result in results.items() if result]
        exists = any(result is not None for result in results.values())
        nodes = node_status(answers)
        if action == "close":
            if not done:
                await _error(send, 404, f"no channel {name}")
            else:
                await send_json(send, 200, {"channel": name, "closed": True,
                                            "node_ids": done, "nodes": nodes})
        elif not exists:
            await _error(send, 404, f"no channel {name}")
        elif not done:
            await _error(send, 404, f"{user_id} is not a member of {name}")
        else:
            await send_json(send, 200, {"channel": name, "user_id": user_id,
                                        "evicted": True, "node_ids": done, "nodes": nodes})

    async def _events(self, query: dict[str, str], scope: Scope, receive: Any,
                      send: Any) -> None:
        accept = b""
        for key, value in scope.get("headers") or []:
            if key.lower() == b"accept":
                accept = value
        if b"text/event-stream" not in accept:
            await _error(send, 406, "GET events with Accept: text/event-stream")
            return
        channel = query.get("channel") or None
        sub = events_of(self.pond).subscribe(self.pond, channel=channel,
                                             maxsize=self.options.event_queue_size)
        cluster = self._cluster(query)
        with sub, (cluster.watch(sub, channel) if cluster is not None
                   else contextlib.nullcontext()):
            await self._stream(sub, receive, send)

    @staticmethod
    async def _stream(sub: Subscription, receive: Any, send: Any) -> None:
        """Write ``sub``'s events as Server-Sent Events until the client goes away or the
        server closes (then the response ends)."""
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no")]})
        # The first bytes tell the client it is subscribed.
        await send({"type": "http.response.body", "body": b": subscribed\n\n",
                    "more_body": True})
        disconnect = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            while True:
                getter = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait({getter, disconnect}, timeout=KEEPALIVE_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if disconnect in done:
                    getter.cancel()
                    return
                if getter in done:
                    event = getter.result()
                    if event is None:  # the server is closing
                        await send({"type": "http.response.body", "body": b""})
                        return
                    chunk = (f"event: {event['type']}\n"
                             f"data: {json.dumps(event, default=str)}\n\n")
                else:
                    getter.cancel()
                    chunk = ": keepalive\n\n"
                await send({"type": "http.response.body", "body": chunk.encode(),
                            "more_body": True})
        except OSError:
            return  # the client went away mid-write
        finally:
            disconnect.cancel()


def _merges(merge: Callable[[list[NodeAnswer]], Any], answer: NodeAnswer) -> bool:
    """Whether ``answer`` is well formed: it merges on its own. One node of another version
    must not make the whole cluster's document fail."""
    if not answer.ok or answer.document is None:
        return True
    try:
        merge([answer])
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    return True


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class BodyTooLarge(ValueError):
    """A write action's body over the admin API's limit."""


async def _read_json(receive: Any) -> dict[str, Any]:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValueError("client disconnected")
        body += message.get("body", b"")
        if len(body) > _MAX_BODY:
            raise BodyTooLarge(f"request body over {_MAX_BODY} bytes")
        if not message.get("more_body"):
            break
    if not body.strip():
        return {}
    try:
        doc = decode_json(bytes(body))
    except WireError as err:  # also nesting too deep for the codec
        raise ValueError(err.reason) from None
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    return doc


__all__ = ["AdminOptions", "AdminRoutes", "send_json"]
