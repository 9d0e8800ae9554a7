"""Compression settings: what the clients offer and how the server compresses.

Browsers offer permessage-deflate on every connection, so the default rows have the clients
offer it and the server decide; ``no-offer`` is the row for clients that do not (most
non-browser SDKs). Ratios are always to the ceiling under the same setting.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One compression setting of a row.

    ``server_mode`` selects the server's command line (``ServerSpec.modes``): ``off``,
    ``per-recipient``, ``compress-once``, or ``default`` (the server as configured out of
    the box). A server that has no such mode gets a "not available" row.
    """

    name: str
    offer_deflate: bool
    server_mode: str
    about: str


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("off", True, "off",
            "clients offer permessage-deflate, the server declines: frames go uncompressed"),
    Setting("per-recipient", True, "per-recipient",
            "clients offer permessage-deflate, the server accepts and compresses every frame "
            "again for each recipient (uvicorn's default)"),
    Setting("compress-once", True, "compress-once",
            "one compressed frame shared by all recipients (needs no context takeover)"),
    Setting("no-offer", False, "default",
            "clients do not offer permessage-deflate; each server as configured by default"),
)}
FANOUT_DEFAULT = ("off", "per-recipient", "compress-once", "no-offer")
OTHER_DEFAULT = ("off",)


def parse_settings(text: str) -> list[Setting]:
    """``off,per-recipient`` -> those settings (for argparse ``type=``)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETTINGS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown setting(s) {unknown}; "
                                         f"choose from {', '.join(SETTINGS)}")
    return [SETTINGS[name] for name in names]
