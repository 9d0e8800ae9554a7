"""SSE across a cluster: a ``POST`` or ``DELETE`` that reaches a node other than the one
holding its event stream is relayed to that node over the pub/sub.

An SSE client sends its frames as HTTP requests; behind a load balancer without session
affinity they may land on any node. The node that does not know the ``X-Connection-ID``
publishes ``SSE_COMMAND {relayId, endpoint, token, method, body}`` to every node (in the
cluster's envelope, signed when ``cluster_secret`` is set); the node that holds the stream
performs it and answers ``SSE_DONE {relayId, status, message}`` to the asking node, which
answers the HTTP request with that status. When no node answers within the timeout the
request gets ``404 connection not found``, as on a single node.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from ..cluster.envelope import ALL_NODES

if TYPE_CHECKING:
    from ..server import PondSocket
    from ..transport.sse import SSEServerTransport
    from .sse import SSERegistry

RELAY_ENDPOINT = "__sse__"
COMMAND, DONE = "SSE_COMMAND", "SSE_DONE"
RELAY_TIMEOUT = 1.0


async def run_command(transport: SSEServerTransport, method: str,
                      body: bytes) -> tuple[int, str]:
    """Perform one SSE command on its transport: ``(status, message)`` for the HTTP answer."""
    if method == "DELETE":
        await transport.close()
        return 204, ""
    limit = transport.max_message_size
    if len(body) > limit:
        return 413, f"Message exceeds the limit of {limit} bytes"
    await transport.push_message(body)
    return 204, ""


class SSERelay:
    """Relays SSE commands for streams held by other nodes, and performs theirs for ours."""

    def __init__(self, pond: PondSocket, registry: SSERegistry,
                 timeout: float = RELAY_TIMEOUT) -> None:
        if pond.cluster is None:
            raise ValueError("an SSE relay needs a PondSocket with a pub/sub")
        self.pond = pond
        self.cluster = pond.cluster
        self.registry = registry
        self.timeout = timeout
        self._pending: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.cluster.extensions.update({COMMAND: self._on_command, DONE: self._on_done})

    async def relay(self, endpoint: str, token: str, method: str,
                    body: bytes) -> tuple[int, str] | None:
        """Have the node holding ``token`` on ``endpoint`` perform the command; its
        ``(status, message)``, or None when no node answered within the timeout."""
        if not self.cluster.nodes:
            return None
        relay_id = uuid.uuid4().hex
        answer = self._pending[relay_id] = asyncio.get_running_loop().create_future()
        try:
            # latin-1 carries any bytes through JSON unchanged (bad input included).
            self.cluster.send_extension(COMMAND, RELAY_ENDPOINT, ALL_NODES, {
                "relayId": relay_id, "endpoint": endpoint, "token": token,
                "method": method, "body": body.decode("latin-1")})
            async with asyncio.timeout(self.timeout):
                return await answer
        except TimeoutError:
            return None
        finally:
            del self._pending[relay_id]

    async def _on_command(self, source: str, message: dict[str, Any]) -> None:
        endpoint, token = message.get("endpoint"), message.get("token")
        method, body = message.get("method"), message.get("body")
        if not (isinstance(endpoint, str) and isinstance(token, str)
                and method in ("POST", "DELETE") and isinstance(body, str)):
            return
        match = self.pond.match_endpoint(endpoint)
        transport = self.registry.get(match.endpoint, token) if match is not None else None
        if transport is None:
            return  # not ours: the node that holds it answers
        # In a task: the frame's handlers must not hold up the cluster's other messages.
        task = asyncio.get_running_loop().create_task(
            self._perform(source, message.get("relayId"), transport, method,
                          body.encode("latin-1")))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _perform(self, source: str, relay_id: Any, transport: SSEServerTransport,
                       method: str, body: bytes) -> None:
        status, text = await run_command(transport, method, body)
        self.cluster.send_extension(DONE, RELAY_ENDPOINT, source, {
            "relayId": relay_id, "status": status, "message": text})

    async def _on_done(self, source: str, message: dict[str, Any]) -> None:
        answer = self._pending.get(message.get("relayId", ""))
        status, text = message.get("status"), message.get("message")
        if (answer is not None and not answer.done() and isinstance(status, int)
                and isinstance(text, str)):
            answer.set_result((status, text))


__all__ = ["RELAY_TIMEOUT", "SSERelay", "run_command"]
