"""The ceiling: a bare ``websockets`` relay that speaks just enough PondSocket.

It answers the CONNECT/JOIN handshake like a PondSocket server, then relays each BROADCAST
to every joined connection of the channel with ``websockets.broadcast`` (encode once, write to
all, no handlers, no per-recipient work): the practical upper bound for Python.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from functools import partial

from websockets.asyncio.server import broadcast, serve

dumps = partial(json.dumps, separators=(",", ":"))


async def main(port: int, compression: str | None = None) -> None:
    channels: dict[str, set] = {}

    async def handler(ws) -> None:
        uid = str(uuid.uuid4())
        await ws.send(dumps({"action": "CONNECT", "event": "CONNECTION",
                                  "channelName": "GATEWAY", "requestId": uid,
                                  "payload": {"id": uid, "connectionId": uid}}))
        joined: list[str] = []
        try:
            async for raw in ws:
                msg = json.loads(raw)
                name = msg["channelName"]
                if msg["action"] == "JOIN_CHANNEL":
                    channels.setdefault(name, set()).add(ws)
                    joined.append(name)
                    await ws.send(dumps({"action": "SYSTEM", "event": "ACKNOWLEDGE",
                                              "channelName": name,
                                              "requestId": msg["requestId"], "payload": {}}))
                elif msg["event"] == "ping":
                    await ws.send(dumps({"action": "SYSTEM", "event": "pong",
                                              "channelName": name,
                                              "requestId": msg["requestId"],
                                              "payload": msg["payload"]}))
                elif msg["action"] == "BROADCAST":
                    frame = dumps({"action": "BROADCAST", "event": msg["event"],
                                        "channelName": name, "requestId": str(uuid.uuid4()),
                                        "payload": msg["payload"]})
                    broadcast(channels.get(name, ()), frame)
        finally:
            for name in joined:
                channels[name].discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=1 << 20, compression=compression):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    mode = sys.argv[2] if len(sys.argv) > 2 else "none"
    if mode not in ("none", "deflate"):
        sys.exit(f"compression must be none or deflate, not {mode!r}")
    asyncio.run(main(int(sys.argv[1]), None if mode == "none" else mode))
