"""The upstream JS client, as a browser runs it, decodes compress-once frames.

Its browser build (``@eleven-am/pondsocket-client``, installed by tests/compat) runs under
Node 20 over Node's own standard WebSocket, which offers permessage-deflate as browsers do
(the client's Node build uses the ``websocket`` package, which offers nothing: it gets
plain frames, as the compat suite checks). Two clients join a channel of the direct server,
one broadcasts 2 KB messages, and both must get every one intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.compat.install_clients import Clients, InstallError, ensure_clients
from tests.servers import start_direct
from tests.support import needs
from tests.wsserver.test_compress_once import build_pond

DRIVER = Path(__file__).parent / "js" / "browser_client.js"
NODE = shutil.which("node")

pytestmark = needs("node", NODE is not None, "Node.js 20 (apt-get install nodejs)")


@pytest.fixture(scope="module")
def clients() -> Clients:
    try:
        return ensure_clients()
    except InstallError as exc:
        pytest.fail(f"could not install the upstream JS client (npm needed): {exc}",
                    pytrace=False)




@pytest.mark.parametrize("compression", ["compress-once", None])
async def test_the_browser_client_gets_every_broadcast_intact(clients: Clients,
                                                              compression: str | None) -> None:
    server = await start_direct(build_pond(), compression=compression)
    try:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE, "--experimental-websocket", "--no-warnings", str(DRIVER),
            server.ws_url("/ws"), "/room/1", "2048", "20",
            env={**os.environ, "NODE_PATH": clients.node_modules},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        await server.stop()
    lines = out.decode().strip().splitlines()
    assert lines, f"no output; stderr: {err.decode()[-2000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], result
    assert result["received"] == [20, 20]
    for extensions in result["extensions"]:
        if compression is None:
            assert extensions == ""
        else:
            assert extensions.startswith("permessage-deflate"), extensions
            assert "server_no_context_takeover" in extensions
