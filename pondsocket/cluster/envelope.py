"""The distributed protocol v1 envelope: its constants, encoding, and HMAC signatures.

Every node-to-node message is one JSON object (``protocol``, ``version``, ``type``,
``messageId``, ``sourceNodeId``, ``endpointName``, ``channelName``, ``timestamp`` and the
type's fields); with ``Options.cluster_secret`` it is sent as
``HMAC-SHA256 <hex digest> <json>``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec

from ..enums import DistributedMessageType as T
from ..types import AllExceptSender, AllUsers, RecipientSpec, ToUsers

PROTOCOL = "pondsocket.distributed"
VERSION = 1
HEARTBEAT_CHANNEL = "__heartbeat__"
#: The target of an extension message meant for every node (else it names one node).
ALL_NODES = "__all__"
#: The pseudo-endpoints of node-wide extension messages (admin queries, SSE relays): each
#: node subscribes to ``<endpoint>:__all__`` and ``<endpoint>:<its node id>`` of each.
NODE_WIDE_ENDPOINTS = ("__admin__", "__sse__")
# Messages whose loss a state snapshot cannot repair: kept a while to be published again
# (same bytes, so receivers that had them drop the copy) when a node resubscribes.
REPLAYED = frozenset({T.USER_MESSAGE, T.EVICT_USER, T.USER_REMOVE})
#: What decoding a malformed envelope can raise (counted as rejected, never propagated).
MALFORMED = (msgspec.DecodeError, RecursionError, KeyError, AttributeError, TypeError)
SIGNED_PREFIX = b"HMAC-SHA256 "

encode_body = msgspec.json.Encoder().encode
decode_body = msgspec.json.Decoder().decode


def sign(secret: bytes | None, body: bytes) -> bytes:
    """``body`` as sent: signed with ``secret``, or as it is without one."""
    if secret is None:
        return body
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return SIGNED_PREFIX + digest + b" " + body


def verify(secret: bytes | None, data: bytes) -> bytes | None:
    """The body of ``data`` if its signature is ``secret``'s (any body without a secret),
    else None."""
    if secret is None:
        return data
    if not data.startswith(SIGNED_PREFIX):
        return None
    digest, _, body = data[len(SIGNED_PREFIX):].partition(b" ")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return body if hmac.compare_digest(digest, expected) else None


def recipient_descriptor(spec: RecipientSpec) -> Any:
    """``recipientDescriptor`` of a ``USER_MESSAGE``: ``ALL_USERS``, ``ALL_EXCEPT_SENDER`` or
    the list of user ids."""
    if isinstance(spec, AllUsers):
        return "ALL_USERS"
    if isinstance(spec, AllExceptSender):
        return "ALL_EXCEPT_SENDER"
    assert isinstance(spec, ToUsers)
    return list(spec.user_ids)


__all__ = ["ALL_NODES", "HEARTBEAT_CHANNEL", "MALFORMED", "NODE_WIDE_ENDPOINTS", "PROTOCOL",
           "REPLAYED",
           "SIGNED_PREFIX", "VERSION", "decode_body", "encode_body", "recipient_descriptor",
           "sign", "verify"]
