"""Fan-out: many subscribers, a few publishers, one channel.

    locust -f loadtests/fanout.py --host ws://127.0.0.1:8765 --headless -u 50 -r 10 -t 30s \
        --publishers 2 --message-rate 5 --payload-size 200

Every published message is delivered to every member (the demo broadcasts to all), so the
``deliver`` rate is about publishers x message-rate x users.
"""

from __future__ import annotations

from typing import Any

from locust import constant, events, task
from pondsocket_user import JoinsChannel, PondSocketUser, add_one_channel_arguments, paced


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    add_one_channel_arguments(parser, "/chat/fanout")


@events.init.add_listener
def _configure(environment: Any, **_: Any) -> None:
    if environment.parsed_options is not None:
        Publisher.fixed_count = max(0, environment.parsed_options.publishers)


class Subscriber(JoinsChannel, PondSocketUser):
    """Joins the channel and only receives."""

    wait_time = constant(1)

    @task
    def idle(self) -> None:
        pass


class Publisher(Subscriber):
    """Joins the channel and publishes at --message-rate."""

    fixed_count = 1
    wait_time = paced()

    @task
    def idle(self) -> None:
        self.publish(self.option("channel"))
