"""``GET /channels/{name}/history`` of the admin API, and ``pondctl history`` over it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from pondsocket import AdminOptions
from pondsocket.asgi import PondASGIApp
from pondsocket_tools.cli import main
from pondsocket_tools.demo import ENDPOINT, build_pond
from tests.client.conftest import DemoProcess
from tests.servers import start_uvicorn
from tests.wsclient import close_all, open_client

TOKEN = "hist-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
ROUTE = "/_pond/admin/channels/%2Fchat%2Fh/history"


async def served(payloads: bool, texts: list[str]) -> tuple[Any, list[Any]]:
    """The demo with the admin API; one member sent ``texts`` to /chat/h."""
    app = PondASGIApp(build_pond(), admin=AdminOptions(
        token=TOKEN, expose_history_payloads=payloads))
    server = await start_uvicorn(app)
    client = await open_client(server, f"{ENDPOINT}?token=demo&name=ada")
    await client.send({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL", "channelName":
                       "/chat/h", "requestId": "j", "payload": {}})
    for i, text in enumerate(texts):
        await client.send({"action": "BROADCAST", "event": "message", "channelName":
                           "/chat/h", "requestId": f"m{i}", "payload": {"text": text}})
    seen = 0
    while seen < len(texts):  # each broadcast comes back to its sender
        seen += (await client.recv())["event"] == "message"
    return server, [client]


@pytest.mark.parametrize("payloads", [False, True])
async def test_the_history_document_lists_offsets_and_payloads_only_when_allowed(payloads):
    server, clients = await served(payloads, ["one", "two", "three"])
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.http_url(ROUTE))).status_code == 401
            response = await http.get(server.http_url(ROUTE + "?after=1&limit=5"),
                                      headers=AUTH)
            assert response.status_code == 200, response.text
            doc = response.json()
            assert (doc["channel"], doc["offset"], doc["payloads"]) == ("/chat/h", 3, payloads)
            assert [e["offset"] for e in doc["entries"]] == [2, 3]
            assert all(e["event"] == "message" for e in doc["entries"])
            if payloads:
                assert [e["payload"]["text"] for e in doc["entries"]] == ["two", "three"]
            else:
                assert all("payload" not in e for e in doc["entries"])
            plain = await http.get(server.http_url("/_pond/admin/channels/chat/h/history"),
                                   headers=AUTH)
            assert plain.json()["entries"] == (await http.get(
                server.http_url(ROUTE), headers=AUTH)).json()["entries"]
            for bad in ("?limit=0", "?limit=x", "?after=-1", "?limit=1001"):
                answer = await http.get(server.http_url(ROUTE + bad), headers=AUTH)
                assert answer.status_code == 400, bad
            missing = await http.get(server.http_url(
                "/_pond/admin/channels/%2Fnope%2F1/history"), headers=AUTH)
            assert missing.status_code == 404
    finally:
        await close_all(clients)
        await server.stop()


def test_pondctl_history_prints_the_latest_broadcasts(monkeypatch) -> None:
    monkeypatch.setenv("PONDSOCKET_ADMIN_TOKEN", TOKEN)
    server = DemoProcess()
    server.start()
    try:
        runner = CliRunner()
        env = {"PONDCTL_URL": server.url, "PONDCTL_TOKEN": "demo"}
        for text in ("a", "b", "c"):
            sent = runner.invoke(main, ["send", "/chat/cli", "message",
                                        json.dumps({"text": text})], env=env)
            assert sent.exit_code == 0, sent.output
        admin = f"http://127.0.0.1:{server.port}/_pond/admin"
        result = runner.invoke(main, ["history", "/chat/cli", "--url", admin, "--token", TOKEN,
                                      "-n", "2"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].startswith("/chat/cli: epoch ") and "offset 3, 2 shown" in lines[0]
        assert lines[1].startswith("#2 ") and '"text":"b"' in lines[1]
        assert lines[2].startswith("#3 ") and '"text":"c"' in lines[2]
        denied = runner.invoke(main, ["history", "/chat/cli", "--url", admin, "--token", "x"])
        assert denied.exit_code == 1 and "403" in denied.output
    finally:
        server.stop()
