"""``pondctl`` over TLS and with extra handshake headers: a self-signed certificate made by
``openssl``, uvicorn serving ``wss://`` and ``https://`` on 127.0.0.1, a connection handler
that records what it was sent."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner, Result

from pondsocket import ConnectionContext, JoinContext, PondSocket
from pondsocket.asgi import PondASGIApp
from pondsocket_tools.cli import main
from pondsocket_tools.cli_client.commands import ALL

from .conftest import TIMEOUT

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="needs the openssl command to make a certificate")


def pondctl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class Recorder:
    """A PondSocket app whose connection handler keeps each request's headers and cookies."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        pond = PondSocket()

        async def authenticate(ctx: ConnectionContext) -> None:
            headers = {name: ctx.headers.get(name) or "" for name in
                       ("x-team", "authorization", "cookie")}
            self.requests.append((headers, dict(ctx.cookies)))
            ctx.accept()

        async def join(ctx: JoinContext) -> None:
            await ctx.accept()

        endpoint = pond.create_endpoint("/api/socket", authenticate)
        endpoint.create_channel("/room/:id", join)
        self.app = PondASGIApp(pond)


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[Recorder, int]]:
    """The recorder under uvicorn with TLS on an ephemeral port of 127.0.0.1."""
    cert, key = certificate
    recorder = Recorder()
    server = uvicorn.Server(uvicorn.Config(
        recorder.app, host="127.0.0.1", port=0, lifespan="on", log_level="critical",
        log_config=None, ssl_certfile=str(cert), ssl_keyfile=str(key),
        timeout_graceful_shutdown=2))
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(TIMEOUT):
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.005)  # start-up has no event to await
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield recorder, port
    finally:
        server.should_exit = True
        async with asyncio.timeout(TIMEOUT * 2):
            await task


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("PONDCTL_URL", "PONDCTL_TOKEN", "PONDCTL_CONFIG", "PONDCTL_TRANSPORT",
                 "PONDCTL_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


async def run(*args: str) -> Result:
    """``pondctl ARGS`` in a thread (its own event loop), the server in this one."""
    return await asyncio.to_thread(pondctl, *args, "--timeout", "5")


@needs_openssl
@pytest.mark.parametrize("scheme", ["wss", "https"])
async def test_untrusted_certificate_fails_with_a_hint(tls_server: Any, scheme: str) -> None:
    _, port = tls_server
    transport = "websocket" if scheme == "wss" else "sse"
    result = await run("connect", f"{scheme}://127.0.0.1:{port}/api/socket",
                       "--transport", transport)
    assert result.exit_code == 3, result.output
    assert "the server's TLS certificate is not trusted (self-signed certificate)" in \
        result.stderr
    assert "Hint: pass the CA certificate that signed it with --cacert FILE, or skip the " \
           "check with --insecure" in result.stderr


@needs_openssl
@pytest.mark.parametrize("scheme", ["wss", "https"])
async def test_cacert_and_insecure_connect(tls_server: Any, certificate: Any,
                                           scheme: str) -> None:
    _, port = tls_server
    url = f"{scheme}://127.0.0.1:{port}/api/socket"
    transport = "websocket" if scheme == "wss" else "sse"
    result = await run("connect", url, "--transport", transport, "--cacert",
                       str(certificate[0]))
    assert result.exit_code == 0, result.output
    assert f"✓ connected to {url}" in result.stdout
    result = await run("connect", url, "--transport", transport, "--insecure")
    assert result.exit_code == 0, result.output


@needs_openssl
@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_headers_and_cookies_reach_the_connection_handler(
        tls_server: Any, certificate: Any, transport: str) -> None:
    recorder, port = tls_server
    result = await run("send", "/room/1", "hello", "-u", f"wss://127.0.0.1:{port}/api/socket",
                       "--transport", transport, "--cacert", str(certificate[0]),
                       "-H", "X-Team: blue", "--header", "Authorization:Bearer abc",
                       "--cookie", "session=s1", "--cookie", "theme=dark; lang=en")
    # The server has no "hello" handler: the answer is an error, after the handshake.
    assert result.exit_code == 6, result.output
    headers, cookies = recorder.requests[0]
    assert headers["x-team"] == "blue" and headers["authorization"] == "Bearer abc"
    assert cookies == {"session": "s1", "theme": "dark", "lang": "en"}


@pytest.mark.parametrize(("args", "message"), [
    (["-H", "X-Team blue"], "--header 'X-Team blue': expected 'Name: value'"),
    (["-H", ": blue"], "expected 'Name: value', e.g. -H 'Authorization: Bearer TOKEN'"),
    (["--cookie", "novalue"], "--cookie 'novalue': expected NAME=VALUE"),
    (["--cacert", "/nonexistent/ca.pem"], "'/nonexistent/ca.pem' does not exist"),
])
def test_bad_header_cookie_or_cacert_is_a_usage_error(args: list[str], message: str) -> None:
    result = pondctl("connect", "wss://127.0.0.1:9/api/socket", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_cacert_that_is_not_a_certificate(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    result = pondctl("connect", "wss://127.0.0.1:9/api/socket", "--cacert", str(bogus))
    assert result.exit_code == 2
    assert "Invalid value for --cacert" in result.stderr and "not a PEM certificate" in \
        result.stderr


@pytest.mark.parametrize("command", [command.name for command in ALL])
def test_every_client_command_takes_headers_and_tls_options(command: str) -> None:
    result = pondctl(command, "--help")
    for option in ("-H, --header", "--cookie", "--cacert", "-k, --insecure"):
        assert option in result.stdout, (command, option)
