"""Where ``pondctl``'s client commands get the server URL and credentials from.

Precedence, highest first: command-line options, environment variables (``PONDCTL_URL``,
``PONDCTL_TOKEN``, ``PONDCTL_TRANSPORT``, ``PONDCTL_TIMEOUT``), the config file, the
defaults (the demo server: ``ws://127.0.0.1:8765/api/socket`` with ``token=demo``).

The config file is TOML, ``~/.config/pondctl/config.toml`` (``$XDG_CONFIG_HOME`` is
honoured), or the path in ``PONDCTL_CONFIG`` / ``--config``::

    url = "wss://chat.example.com/api/socket"
    token = "s3cret"
    transport = "websocket"     # or "sse"
    timeout = 10                # seconds, for connect, join and requests

    [params]                    # extra query parameters of the connection
    name = "ada"

    [join_params]               # default join payload
    status = "online"
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_URL = "ws://127.0.0.1:8765/api/socket"
DEFAULT_TOKEN = "demo"
DEFAULT_TIMEOUT = 10.0
TRANSPORTS = ("websocket", "sse")
_KEYS = {"url", "token", "transport", "timeout", "params", "join_params"}


class ConfigError(Exception):
    """A config file or argument that cannot be used (exit code 2)."""


@dataclass(slots=True)
class Settings:
    """Everything a client command needs to connect."""

    url: str = DEFAULT_URL
    params: dict[str, str] = field(default_factory=dict)
    transport: str = "websocket"
    timeout: float = DEFAULT_TIMEOUT
    join_params: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    uses_default_url: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    cacert: str | None = None
    insecure: bool = False


def config_path(explicit: str | None = None) -> Path:
    """The config file to read (it may not exist)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("PONDCTL_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pondctl" / "config.toml"


def load_config(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The config file's settings ({} when it does not exist and is not ``required``)."""
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(_KEYS))})")
    for table in ("params", "join_params"):
        if table in data and not isinstance(data[table], dict):
            raise ConfigError(f"config file {path}: [{table}] must be a table")
    return data


def parse_pairs(pairs: tuple[str, ...] | list[str], what: str, *, json_values: bool
                ) -> dict[str, Any]:
    """``key=value`` arguments as a dict; with ``json_values`` also ``key:=<json>``."""
    result: dict[str, Any] = {}
    for pair in pairs:
        eq = pair.find("=")
        if json_values and eq > 0 and pair[eq - 1] == ":":
            key, raw = pair[:eq - 1], pair[eq + 1:]
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{what} {pair!r}: the value after := is not JSON "
                                  f"({exc.msg})") from None
        elif "=" in pair:
            key, _, value = pair.partition("=")
        else:
            hint = "KEY=VALUE or KEY:=JSON" if json_values else "KEY=VALUE"
            raise ConfigError(f"{what} {pair!r}: expected {hint}")
        if not key:
            raise ConfigError(f"{what} {pair!r}: the key is empty")
        result[key] = value
    return result


_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_headers(headers: tuple[str, ...] | list[str], cookies: tuple[str, ...] | list[str]
                  ) -> dict[str, str]:
    """``--header 'Name: value'`` and ``--cookie 'name=value'`` arguments as HTTP headers.

    A header given twice keeps its last value; the cookies (each argument one or more
    ``name=value`` pairs separated by ``;``) are joined into one ``Cookie`` header, after a
    ``Cookie`` given with ``--header``.
    """
    result: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise ConfigError(f"--header {header!r}: expected 'Name: value', e.g. "
                              "-H 'Authorization: Bearer TOKEN'")
        if "\r" in value or "\n" in value:
            raise ConfigError(f"--header {name}: the value must be one line")
        for existing in [key for key in result if key.lower() == name.lower()]:
            del result[existing]
        result[name] = value
    pairs: list[str] = []
    for cookie in cookies:
        for pair in (part.strip() for part in cookie.split(";")):
            if not pair:
                continue
            key, eq, _ = pair.partition("=")
            if not eq or not key.strip() or any(c in pair for c in "\r\n"):
                raise ConfigError(f"--cookie {cookie!r}: expected NAME=VALUE (several: "
                                  "'a=1; b=2')")
            pairs.append(pair)
    if pairs:
        given = next((key for key in result if key.lower() == "cookie"), None)
        before = [result.pop(given)] if given else []
        result["Cookie"] = "; ".join(before + pairs)
    return result


def parse_json_object(text: str) -> dict[str, Any]:
    """A JSON object argument (``-`` is not handled here)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON ({exc.msg}): {text[:60]!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"expected a JSON object ({{...}}), got {type(value).__name__}: "
                          f"{text[:60]!r}")
    return value


def resolve(*, url: str | None = None, token: str | None = None,
            params: tuple[str, ...] = (), transport: str | None = None,
            timeout: float | None = None, join_params: tuple[str, ...] = (),
            config: str | None = None, headers: tuple[str, ...] = (),
            cookies: tuple[str, ...] = (), cacert: str | None = None,
            insecure: bool = False) -> Settings:
    """Combine options (and the environment, already applied by click) with the config
    file and the defaults."""
    path = config_path(config)
    data = load_config(path, required=bool(config))
    settings = Settings(config_path=path if path.exists() else None)
    chosen_url = url or data.get("url")
    if chosen_url is not None:
        if not isinstance(chosen_url, str) or not chosen_url:
            raise ConfigError(f"config file {path}: url must be a string")
        settings.url = chosen_url
        settings.uses_default_url = chosen_url == DEFAULT_URL
    chosen_token = token if token is not None else data.get("token")
    if chosen_token is None and settings.uses_default_url:
        chosen_token = DEFAULT_TOKEN
    conf_params = {str(k): str(v) for k, v in (data.get("params") or {}).items()}
    settings.params = {**conf_params}
    if chosen_token is not None:
        settings.params["token"] = str(chosen_token)
    settings.params.update(parse_pairs(params, "--param", json_values=False))
    chosen_transport = transport or data.get("transport") or "websocket"
    if chosen_transport not in TRANSPORTS:
        raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)}, got "
                          f"{chosen_transport!r}")
    settings.transport = chosen_transport
    chosen_timeout = timeout if timeout is not None else data.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(chosen_timeout, bool) or not isinstance(chosen_timeout, int | float) or (
            chosen_timeout <= 0):
        raise ConfigError(f"timeout must be a positive number of seconds, got "
                          f"{chosen_timeout!r}")
    settings.timeout = float(chosen_timeout)
    settings.join_params = {**(data.get("join_params") or {}),
                            **parse_pairs(join_params, "--join-param", json_values=True)}
    settings.headers = parse_headers(headers, cookies)
    settings.cacert = cacert
    settings.insecure = insecure
    return settings
