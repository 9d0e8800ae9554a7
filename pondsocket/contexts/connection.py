"""The context of a connection request (the HTTP upgrade or SSE GET)."""

from __future__ import annotations

from typing import Any

from ..enums import ConnectionDecision
from ..types import Headers, IncomingConnection, PondMessage, Route


class ConnectionContext:
    """Decides one connection: ``accept(**assigns)`` or ``decline(code, message)``.

    ``reply(event, payload)`` accepts and queues a ``SYSTEM`` frame sent right after the
    ``CONNECT`` frame. The first decision is final.
    """

    def __init__(self, *, user_id: str, request: IncomingConnection,
                 route: Route | None = None) -> None:
        self.request = request
        self.route = route or Route()
        self._user_id = user_id
        self._assigns: dict[str, Any] = {}
        self._decision = ConnectionDecision.PENDING
        self._decline: tuple[int, str] | None = None
        self._reply: tuple[str, PondMessage] | None = None

    # -- request data --------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def cookies(self) -> dict[str, str]:
        return self.request.cookies

    @property
    def query(self) -> dict[str, str]:
        """Query parameters of the request (first value of each)."""
        return self.request.query

    @property
    def params(self) -> dict[str, str]:
        """Parameters of the endpoint pattern (e.g. ``/socket/:tenant``)."""
        return self.route.params or self.request.params

    @property
    def address(self) -> str:
        return self.request.address

    # -- decision ------------------------------------------------------------------------

    @property
    def assigns(self) -> dict[str, Any]:
        return dict(self._assigns)

    @property
    def decision(self) -> ConnectionDecision:
        return self._decision

    @property
    def is_accepted(self) -> bool:
        return self._decision is ConnectionDecision.ACCEPTED

    @property
    def is_declined(self) -> bool:
        return self._decision is ConnectionDecision.DECLINED

    @property
    def decline_info(self) -> tuple[int, str] | None:
        """``(code, message)`` once declined."""
        return self._decline

    @property
    def pending_reply(self) -> tuple[str, PondMessage] | None:
        return self._reply

    def accept(self, **assigns: Any) -> ConnectionContext:
        """Accept the connection; ``assigns`` become the user's initial assigns."""
        if self.is_declined:
            raise RuntimeError("the connection was already declined")
        self._assigns.update(assigns)
        self._decision = ConnectionDecision.ACCEPTED
        return self

    def decline(self, code: int = 401, message: str = "Unauthorized") -> None:
        """Refuse the connection with an HTTP status (400-599) and a message."""
        if self.is_accepted:
            raise RuntimeError("the connection was already accepted")
        if not isinstance(code, int) or not 400 <= code <= 599:
            raise ValueError(f"decline code must be an HTTP error status 400-599, got {code!r}")
        if self._decline is None:
            self._decline = (code, str(message))
        self._decision = ConnectionDecision.DECLINED


    def reply(self, event_name: str, payload: PondMessage | None = None) -> ConnectionContext:
        """Accept, and send ``event_name`` with ``payload`` right after the CONNECT frame."""
        if not isinstance(payload, dict | None):
            raise TypeError("payload must be a dict")
        self.accept()
        self._reply = (event_name, dict(payload or {}))
        return self

    def set_assign(self, key: str, value: Any) -> ConnectionContext:
        self._assigns[key] = value
        return self

    def set_assigns(self, **assigns: Any) -> ConnectionContext:
        self._assigns.update(assigns)
        return self

    def get_assign(self, key: str) -> Any:
        return self._assigns.get(key)


def fail_closed(ctx: ConnectionContext, code: int, message: str) -> None:
    """Decline ``ctx`` because its handler failed, even after an ``accept()``: the endpoint
    calls this, never an application (whose decisions are final)."""
    if ctx.is_declined:
        return
    ctx._decline = (code if 400 <= code <= 599 else 500, str(message))
    ctx._decision = ConnectionDecision.DECLINED
    ctx._reply = None


__all__ = ["ConnectionContext", "fail_closed"]
