"""A bare ``picows`` relay that speaks just enough PondSocket: the ceiling's twin on picows.

picows (a Cython WebSocket library) is measured here as a candidate direct server. Like the
``websockets`` ceiling it answers the CONNECT/JOIN handshake and relays each BROADCAST,
encoded once, to every joined connection; it has no permessage-deflate (picows offers none),
so it runs uncompressed whatever the clients offer. Needs ``pip install 'picows>=2.3'``.

    python -m benchmarks.servers.picows_relay PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from functools import partial

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

dumps = partial(json.dumps, separators=(",", ":"))
channels: dict[str, set[WSTransport]] = {}


class Relay(WSListener):
    def __init__(self) -> None:
        self.joined: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        uid = str(uuid.uuid4())
        transport.send(WSMsgType.TEXT, dumps({
            "action": "CONNECT", "event": "CONNECTION", "channelName": "GATEWAY",
            "requestId": uid, "payload": {"id": uid, "connectionId": uid}}).encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        msg = json.loads(frame.get_payload_as_bytes())
        name = msg["channelName"]
        if msg["action"] == "JOIN_CHANNEL":
            channels.setdefault(name, set()).add(transport)
            self.joined.append(name)
            transport.send(WSMsgType.TEXT, dumps({
                "action": "SYSTEM", "event": "ACKNOWLEDGE", "channelName": name,
                "requestId": msg["requestId"], "payload": {}}).encode())
        elif msg["event"] == "ping":
            transport.send(WSMsgType.TEXT, dumps({
                "action": "SYSTEM", "event": "pong", "channelName": name,
                "requestId": msg["requestId"], "payload": msg["payload"]}).encode())
        elif msg["action"] == "BROADCAST":
            data = dumps({"action": "BROADCAST", "event": msg["event"], "channelName": name,
                          "requestId": str(uuid.uuid4()), "payload": msg["payload"]}).encode()
            for member in channels.get(name, ()):
                member.send(WSMsgType.TEXT, data)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for name in self.joined:
            channels[name].discard(transport)


def listener(request: WSUpgradeRequest) -> Relay:
    return Relay()


async def main(port: int) -> None:
    server = await ws_create_server(listener, "127.0.0.1", port, max_frame_size=1 << 20)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
