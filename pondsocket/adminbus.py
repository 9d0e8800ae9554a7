"""Where the admin event bus lived before :mod:`pondsocket.admin.events`; kept so that
``pondsocket.adminbus.BUS`` and its companions still import."""

from .admin.events import (
    BUS,
    DEFAULT_QUEUE_SIZE,
    AdminEvents,
    EventBus,
    ProcessBus,
    Subscription,
    channel_filter,
    events_of,
)

__all__ = ["BUS", "DEFAULT_QUEUE_SIZE", "AdminEvents", "EventBus", "ProcessBus", "Subscription",
           "channel_filter", "events_of"]
