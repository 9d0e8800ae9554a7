"""SSE subscribers: many users receive over Server-Sent Events, WebSocket users publish.

    locust -f loadtests/sse.py --host http://127.0.0.1:8765 --headless -u 30 -r 10 -t 30s \
        --publishers 1 --message-rate 5

Each SSE subscriber holds one streaming ``GET`` and joins with a ``POST``; ``deliver`` measures
the end-to-end latency of the publishers' broadcasts through the SSE transport.
"""

from __future__ import annotations

from typing import Any

from locust import constant, events, task
from pondsocket_user import (
    JoinsChannel,
    PondSocketSSEUser,
    PondSocketUser,
    add_one_channel_arguments,
    paced,
)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    add_one_channel_arguments(parser, "/chat/sse")


@events.init.add_listener
def _configure(environment: Any, **_: Any) -> None:
    if environment.parsed_options is not None:
        Publisher.fixed_count = max(0, environment.parsed_options.publishers)


class SSESubscriber(JoinsChannel, PondSocketSSEUser):
    """Joins the channel over SSE and only receives."""

    wait_time = constant(1)

    @task
    def idle(self) -> None:
        pass


class Publisher(JoinsChannel, PondSocketUser):
    """Joins the channel over WebSocket and publishes at --message-rate."""

    fixed_count = 1
    wait_time = paced()

    @task
    def publish_message(self) -> None:
        self.publish(self.option("channel"))
