"""Install the real upstream PondSocket clients for the wire-compatibility tests.

Installs, into a git-ignored cache directory (default ``<repo>/.cache/compat``, or
``$PONDSOCKET_COMPAT_CACHE``):

* ``node/``: ``@eleven-am/pondsocket-client`` from npm (the latest published version unless
  ``$PONDSOCKET_COMPAT_JS_CLIENT`` names one), its dependencies (``websocket``, which the
  client uses under Node, and ``@eleven-am/pondsocket-common``), and the ``eventsource``
  polyfill (Node 20 has no global ``EventSource``; ``SSEClient`` needs one);
* ``pyclient-venv/``: a virtualenv with ``pondsocket-client`` from PyPI (the latest unless
  ``$PONDSOCKET_COMPAT_PY_CLIENT`` names a version).

Idempotent: a finished install is recorded in ``installed.json`` and reused; ``--refresh``
installs again (picking up newer published versions). Nothing here is committed.

Run it by hand with ``.venv/bin/python tests/compat/install_clients.py``; the compat tests call
:func:`ensure_clients` from a session fixture.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JS_CLIENT = "@eleven-am/pondsocket-client"
PY_CLIENT = "pondsocket-client"
# eventsource 5 needs Node >= 22; 4.x is the newest line that runs on Node 20.
EVENTSOURCE_SPEC = "eventsource@^4"
STAMP_VERSION = 1
COMMAND_TIMEOUT = 240
# Asking the registry which version is the latest fails fast when it cannot be reached.
NPM_QUERY = ["--fetch-retries=1", "--fetch-timeout=30000"]
QUERY_TIMEOUT = 90


class InstallError(RuntimeError):
    """The clients could not be installed (registry unreachable, tool missing, ...)."""


@dataclass(frozen=True, slots=True)
class Clients:
    cache: str
    node_modules: str
    py_python: str
    js_client_version: str
    js_common_version: str
    websocket_version: str
    eventsource_version: str
    py_client_version: str
    py_common_version: str
    node_version: str


def cache_dir() -> Path:
    return Path(os.environ.get("PONDSOCKET_COMPAT_CACHE") or REPO / ".cache" / "compat")


def _run(cmd: list[str], *, cwd: Path | None = None, what: str,
         timeout: float = COMMAND_TIMEOUT) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise InstallError(f"{what}: {cmd[0]} is not installed ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise InstallError(f"{what}: `{' '.join(cmd)}` timed out after {timeout}s "
                           "(is the package registry reachable?)") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise InstallError(f"{what}: `{' '.join(cmd)}` exited {proc.returncode} "
                           f"(is the package registry reachable?)\n{tail}")
    return proc.stdout


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not installed: the JS client cannot be fetched")
    return npm


def _package_version(node_modules: Path, name: str) -> str:
    manifest = node_modules / name / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise InstallError(f"{name} is missing from {node_modules} ({exc})") from exc


def latest_js_client() -> str:
    out = _run([_npm(), "view", *NPM_QUERY, JS_CLIENT, "versions", "--json"],
               what=f"asking npm for the versions of {JS_CLIENT}", timeout=QUERY_TIMEOUT)
    versions = json.loads(out)
    if isinstance(versions, str):
        versions = [versions]
    out = _run([_npm(), "view", *NPM_QUERY, JS_CLIENT, "dist-tags.latest"],
               what=f"asking npm for the latest {JS_CLIENT}", timeout=QUERY_TIMEOUT)
    latest = out.strip() or versions[-1]
    if latest not in versions:
        raise InstallError(f"npm says latest {JS_CLIENT} is {latest!r}, not in {versions}")
    return latest


def install_js(root: Path) -> dict[str, str]:
    node_dir = root / "node"
    node_dir.mkdir(parents=True, exist_ok=True)
    version = os.environ.get("PONDSOCKET_COMPAT_JS_CLIENT") or latest_js_client()
    manifest = {"name": "pondsocket-compat-clients", "private": True,
                "description": "upstream clients for the wire-compatibility tests (not committed)"}
    (node_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    # --ignore-scripts: nothing may be downloaded by an install step; the native helpers of
    # the `websocket` package are optional and ship prebuilt binaries.
    _run([_npm(), "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
          f"{JS_CLIENT}@{version}", EVENTSOURCE_SPEC],
         cwd=node_dir, what=f"installing {JS_CLIENT}@{version} from npm")
    node_modules = node_dir / "node_modules"
    deps = json.loads((node_modules / JS_CLIENT / "package.json").read_text())
    for dep in deps.get("dependencies", {}):
        _package_version(node_modules, dep)  # every runtime dependency is there
    node = shutil.which("node")
    if node is None:
        raise InstallError("node is not installed: the JS drivers cannot run")
    probe = ("const c=require('@eleven-am/pondsocket-client');"
             "const {EventSource}=require('eventsource');"
             "require('websocket').w3cwebsocket;"
             "if(typeof c.PondClient!=='function'||typeof c.SSEClient!=='function'"
             "||typeof EventSource!=='function')process.exit(3)")
    _run([node, "-e", probe], cwd=node_dir, what="loading the installed JS client under Node")
    return {
        "node_modules": str(node_modules),
        "js_client_version": _package_version(node_modules, JS_CLIENT),
        "js_common_version": _package_version(node_modules, "@eleven-am/pondsocket-common"),
        "websocket_version": _package_version(node_modules, "websocket"),
        "eventsource_version": _package_version(node_modules, "eventsource"),
        "node_version": _run([node, "--version"], what="node --version").strip(),
    }


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def install_py(root: Path) -> dict[str, str]:
    venv = root / "pyclient-venv"
    python = _venv_python(venv)
    if not python.exists():
        if venv.exists():
            shutil.rmtree(venv)
        _run([sys.executable, "-m", "venv", str(venv)], what="creating the Python client venv")
    spec = os.environ.get("PONDSOCKET_COMPAT_PY_CLIENT")
    requirement = f"{PY_CLIENT}=={spec}" if spec else PY_CLIENT
    _run([str(python), "-m", "pip", "install", "--upgrade", "--disable-pip-version-check",
          requirement], what=f"installing {requirement} from PyPI")
    probe = ("import importlib.metadata as m, pondsocket_client as c;"
             "print(m.version('pondsocket-client'), m.version('pondsocket-common'));"
             "assert callable(c.PondClient)")
    out = _run([str(python), "-c", probe], what="importing the installed Python client")
    client_version, common_version = out.split()
    return {"py_python": str(python), "py_client_version": client_version,
            "py_common_version": common_version}


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stamp_path(root: Path) -> Path:
    return root / "installed.json"


def _read_stamp(root: Path) -> Clients | None:
    try:
        data = json.loads(_stamp_path(root).read_text())
    except (OSError, ValueError):
        return None
    if data.pop("stamp_version", None) != STAMP_VERSION:
        return None
    try:
        clients = Clients(**data)
    except TypeError:
        return None
    node_modules = Path(clients.node_modules)
    ok = (Path(clients.py_python).exists()
          and (node_modules / JS_CLIENT / "package.json").exists()
          and (node_modules / "eventsource" / "package.json").exists())
    wanted_js = os.environ.get("PONDSOCKET_COMPAT_JS_CLIENT")
    wanted_py = os.environ.get("PONDSOCKET_COMPAT_PY_CLIENT")
    if wanted_js and wanted_js != clients.js_client_version:
        ok = False
    if wanted_py and wanted_py != clients.py_client_version:
        ok = False
    return clients if ok else None


def ensure_clients(*, refresh: bool = False) -> Clients:
    """Install both upstream clients unless a finished install is already cached."""
    root = cache_dir()
    with _locked(root):
        if not refresh:
            cached = _read_stamp(root)
            if cached is not None:
                return cached
        info = {"cache": str(root), **install_js(root), **install_py(root)}
        clients = Clients(**info)
        _stamp_path(root).write_text(
            json.dumps({"stamp_version": STAMP_VERSION, **asdict(clients)}, indent=2) + "\n")
        return clients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true",
                        help="install again even if a finished install is cached")
    args = parser.parse_args(argv)
    try:
        clients = ensure_clients(refresh=args.refresh)
    except InstallError as exc:
        print(f"install failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(clients), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
