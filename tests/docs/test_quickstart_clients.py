"""The quick start's client blocks do what it says, against the quick start's app served with
``pondctl serve``: the JavaScript block runs as ``app.js`` in a new npm project, the Python
block with the upstream Python client, and both print the echoed message and the presence.
The client versions the quick start pins are the ones the compatibility tests install (and
so the ones these checks ran).

The npm project is made with ``npm init -y``, as the quick start says; its ``node_modules`` is
the compatibility tests' install (``tests/compat/install_clients.py``), linked, not fetched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compat.install_clients import JS_CLIENT, PY_CLIENT, Clients
from tests.servers import ServerProcess

from .snippets import APP_ADDRESS, find_block, find_blocks

PAGE = "docs/quickstart.md"
NODE_TIMEOUT = 30.0  # one client process, start to exit


def _js_block() -> str:
    return find_block(PAGE, lambda block: block.lang == "js").code


def _pinned(pattern: str) -> str:
    """The version that the quick start's install line matching ``pattern`` pins."""
    installs = "\n".join(block.code for block in find_blocks(PAGE, lambda b: b.lang == "sh"))
    match = re.search(pattern, installs)
    assert match, f"{PAGE} pins no version with {pattern!r}"
    return match.group(1)


def test_the_pinned_client_versions_are_the_tested_ones(upstream_clients: Clients) -> None:
    js = _pinned(rf"npm install {re.escape(JS_CLIENT)}@(\S+)")
    py = _pinned(rf"pip install {re.escape(PY_CLIENT)}==(\S+)")
    assert (js, py) == (upstream_clients.js_client_version,
                        upstream_clients.py_client_version), (
        f"{PAGE} pins {JS_CLIENT}@{js} and {PY_CLIENT}=={py}, but the compatibility tests "
        f"installed {upstream_clients.js_client_version} and "
        f"{upstream_clients.py_client_version}: check the quick start against those and "
        "update its pins (or pin the tests with PONDSOCKET_COMPAT_JS_CLIENT / _PY_CLIENT)")


def test_the_js_block_runs_as_app_js_in_a_new_npm_project(
        tmp_path: Path, npm: str, upstream_clients: Clients, app_server: ServerProcess) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    subprocess.run([npm, "init", "-y"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=NODE_TIMEOUT)
    (tmp_path / "node_modules").symlink_to(upstream_clients.node_modules,
                                           target_is_directory=True)
    code = _js_block().replace(APP_ADDRESS, f"127.0.0.1:{app_server.port}")
    (tmp_path / "app.js").write_text(code)

    try:
        proc = subprocess.run([node, "app.js"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"node app.js still ran after {NODE_TIMEOUT} s: the quick start says it "
                    "exits by itself", pytrace=False)

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"node app.js exited {proc.returncode}:\n{output}"
    # What the quick start says it prints: the broadcast back, and the presence list.
    assert "message { from: 'ada', text: 'hello' }" in proc.stdout, output
    assert re.search(r"present: \[\s*\{ name: 'ada', status: 'online' \}\s*\]", proc.stdout), \
        output


def test_the_python_block_echoes_with_the_upstream_python_client(
        tmp_path: Path, upstream_clients: Clients, app_server: ServerProcess) -> None:
    """The generic snippet test only sees an exit code, and the upstream client does not fail
    on a refused connection: here the output shows the message made the round trip."""
    code = find_block(PAGE, lambda block: block.uses_upstream_client).code
    (tmp_path / "client.py").write_text(
        code.replace(APP_ADDRESS, f"127.0.0.1:{app_server.port}"))

    proc = subprocess.run([upstream_clients.py_python, "client.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=NODE_TIMEOUT)

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "message {'from': 'grace', 'text': 'hello'}" in proc.stdout, output
    assert "present: [{'name': 'grace', 'status': 'online'}]" in proc.stdout, output
