"""The five contexts, one per lifecycle moment."""

from .connection import ConnectionContext
from .event import EventContext
from .join import JoinContext
from .leave import LeaveContext
from .outgoing import OutgoingContext

__all__ = ["ConnectionContext", "EventContext", "JoinContext", "LeaveContext", "OutgoingContext"]
