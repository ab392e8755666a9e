"""The families of bench/family_load.py, for locust: each signs in once with the real form,
then loops over the pages a parent opens on a Sunday evening, with think time between them.

A page that answers anything but 200, or sends the family back to the sign-in page, is a
failure. Read by locust in its own process (gevent): it imports nothing of Foyer."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import HttpUser, between, events, task

EMAILS = Path(os.environ["FOYER_LOAD_ACCOUNTS"]).read_text().split()
PASSWORD = os.environ["FOYER_LOAD_PASSWORD"]
THINK = [float(value) for value in os.environ.get("FOYER_LOAD_THINK", "1,3").split(",")]
PAGES = ("dashboard", "week", "cart", "invoices")
_next_account = itertools.count()
# Every page's response time (ms) once spawning is complete (all families signed in),
# written where FOYER_LOAD_TIMES says when locust stops: the overall percentiles of the pages
# alone, which locust's aggregated row (sign-ins included) does not give.
_times: list[float] = []
_measuring = False


@events.spawning_complete.add_listener
def _start_measuring(**_kwargs) -> None:
    global _measuring
    _measuring = True
    _times.clear()


@events.request.add_listener
def _record(name, response_time, **_kwargs) -> None:
    if _measuring and name in PAGES:
        _times.append(response_time)


@events.quitting.add_listener
def _write_times(**_kwargs) -> None:
    Path(os.environ["FOYER_LOAD_TIMES"]).write_text(json.dumps(_times))


class Family(HttpUser):
    wait_time = between(*THINK)

    def on_start(self) -> None:
        email = EMAILS[next(_next_account) % len(EMAILS)]
        self.client.get("/connexion/", name="sign-in page")
        self.client.post(
            "/connexion/",
            data={
                "username": email,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.client.cookies["csrftoken"],
            },
            name="sign-in",
        )

    def _page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} {response.headers.get('Location', '')}")

    @task(3)
    def dashboard(self) -> None:
        self._page("/", "dashboard")

    @task(3)
    def week(self) -> None:
        self._page("/reservations/", "week")

    @task(1)
    def cart(self) -> None:
        self._page("/panier/", "cart")

    @task(2)
    def invoices(self) -> None:
        self._page("/factures/", "invoices")
