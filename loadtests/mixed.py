"""A realistic mix: chatters, lurkers, requesters and presence churn over --rooms rooms.

    locust -f loadtests/mixed.py --host ws://127.0.0.1:8765 --headless -u 200 -r 20 -t 60s \
        --rooms 20 --message-rate 0.5 --request-rate 1

Weights (change them in the web UI or with --*-weight): chatters 4, lurkers 4, requesters 1,
presence churners 1.
"""

from __future__ import annotations

import random
from typing import Any

from locust import between, constant, events, task
from pondsocket_user import PondSocketUser, paced


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--rooms", type=int, default=10, help="Number of rooms (default 10)")
    parser.add_argument("--request-rate", type=float, default=1.0,
                        help="Requests per second per requester (default 1)")
    parser.add_argument("--chatter-weight", type=int, default=4)
    parser.add_argument("--lurker-weight", type=int, default=4)
    parser.add_argument("--requester-weight", type=int, default=1)
    parser.add_argument("--churner-weight", type=int, default=1)


@events.init.add_listener
def _configure(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None:
        Chatter.weight = options.chatter_weight
        Lurker.weight = options.lurker_weight
        Requester.weight = options.requester_weight
        Churner.weight = options.churner_weight


class _InRoom(PondSocketUser):
    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self.channel = self.room(random.randrange(max(1, self.option("rooms", 10))))
        self.join(self.channel)


class Chatter(_InRoom):
    weight = 4
    wait_time = paced()

    @task
    def chat(self) -> None:
        self.publish(self.channel)


class Lurker(_InRoom):
    weight = 4
    wait_time = constant(1)

    @task
    def idle(self) -> None:
        pass


class Requester(_InRoom):
    weight = 1
    wait_time = paced("request_rate")

    @task
    def ping(self) -> None:
        self.request(self.channel, "ping", {"t": 1})


class Churner(PondSocketUser):
    weight = 1
    wait_time = between(0.5, 2)

    @task
    def visit(self) -> None:
        channel = self.room(random.randrange(max(1, self.option("rooms", 10))))
        if self.join(channel):
            self.update_status(channel, f"busy-{random.randrange(1000)}")
            self.wait()
            self.leave(channel)
