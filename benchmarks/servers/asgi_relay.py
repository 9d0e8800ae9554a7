"""The ASGI path's floor: a bare ASGI relay served by uvicorn as ``pondctl serve`` runs it.

It speaks just enough PondSocket (CONNECT, JOIN acknowledged, BROADCAST relayed to every
joined connection of the channel, ``ping`` answered) and keeps nothing per connection but
a set entry, so its rows are what uvicorn itself costs: per idle connection, the memory
uvicorn holds (its protocol objects, the handshake's scope, the ASGI task), against which
the ``pondctl serve`` row shows this project's own share. Served with the same uvicorn
settings as ``pondctl serve`` (its HTTP and WebSocket protocol classes, no compression).
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

dumps = partial(json.dumps, separators=(",", ":"))
channels: dict[str, set[Any]] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    uid = str(uuid.uuid4())
    await send({"type": "websocket.send", "text": dumps({
        "action": "CONNECT", "event": "CONNECTION", "channelName": "GATEWAY",
        "requestId": uid, "payload": {"id": uid, "connectionId": uid}})})
    joined: list[str] = []
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                break
            msg = json.loads(message.get("text") or message.get("bytes") or b"{}")
            name = msg["channelName"]
            if msg["action"] == "JOIN_CHANNEL":
                channels.setdefault(name, set()).add(send)
                joined.append(name)
                await send({"type": "websocket.send", "text": dumps({
                    "action": "SYSTEM", "event": "ACKNOWLEDGE", "channelName": name,
                    "requestId": msg["requestId"], "payload": {}})})
            elif msg["event"] == "ping":
                await send({"type": "websocket.send", "text": dumps({
                    "action": "SYSTEM", "event": "pong", "channelName": name,
                    "requestId": msg["requestId"], "payload": msg["payload"]})})
            elif msg["action"] == "BROADCAST":
                frame = {"type": "websocket.send", "text": dumps({
                    "action": "BROADCAST", "event": msg["event"], "channelName": name,
                    "requestId": str(uuid.uuid4()), "payload": msg["payload"]})}
                for member in list(channels.get(name, ())):
                    try:
                        await member(frame)
                    except Exception:  # that member is gone
                        channels[name].discard(member)
    finally:
        for name in joined:
            channels[name].discard(send)
