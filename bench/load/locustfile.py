"""The families of bench/family_load.py, for locust: each signs in once with the real form,
then loops over the pages a parent opens on a Sunday evening, with think time between them.

A page that answers anything but 200 (a redirect to the sign-in page included) is an error, and
so is a sign-in that does not send the family on. The pages are measured from the moment every
family has signed in, for FOYER_LOAD_DURATION seconds; then locust stops and this file writes
every page's time and every error where FOYER_LOAD_RESULTS says (JSON), for bench/family_load.py
to summarise. Read by locust in its own process (gevent): it imports nothing of Foyer."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, between, events, task

EMAILS = Path(os.environ["FOYER_LOAD_ACCOUNTS"]).read_text().split()
PASSWORD = os.environ["FOYER_LOAD_PASSWORD"]
THINK = [float(value) for value in os.environ.get("FOYER_LOAD_THINK", "1,3").split(",")]
USERS = int(os.environ["FOYER_LOAD_USERS"])
DURATION = float(os.environ["FOYER_LOAD_DURATION"])
PAGES = ("dashboard", "week", "cart", "invoices")
SIGN_IN = "/connexion/"
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

_next_account = itertools.count()
_signed_in = 0
_window: list[float] = []  # [start, end] of the measured window (time.time())
_pages: list[tuple[str, float]] = []  # (page, ms) for every page opened in the window
_errors: list[tuple[str, str]] = []  # (request, error) for every error, in the window or not
_environment = None


@events.init.add_listener
def _keep_runner(environment, **_kwargs) -> None:
    global _environment
    _environment = environment


def _mark(edge: str) -> None:
    """Tell bench/family_load.py that the window starts or ends (it samples CPU times then)."""
    _window.append(time.time())
    Path(f"{os.environ['FOYER_LOAD_RESULTS']}.{edge}").touch()


def _stop_after_window() -> None:
    gevent.sleep(DURATION)
    _mark("end")
    gevent.sleep(1)  # the families keep browsing (unmeasured) while their CPU times are read
    _environment.runner.quit()


def _one_more_signed_in() -> None:
    global _signed_in
    _signed_in += 1
    if _signed_in == USERS:
        _mark("start")
        gevent.spawn(_stop_after_window)


@events.request.add_listener
def _record(name, response_time, exception, start_time, **_kwargs) -> None:
    measuring = len(_window) == 1 and start_time >= _window[0]
    if exception is not None:
        _errors.append((name, str(exception)[:200]))
    elif measuring and name in PAGES:
        _pages.append((name, response_time))


@events.quitting.add_listener
def _write_results(**_kwargs) -> None:
    Path(os.environ["FOYER_LOAD_RESULTS"]).write_text(
        json.dumps({"window": _window, "signed_in": _signed_in, "pages": _pages, "errors": _errors})
    )


class Family(FastHttpUser):
    wait_time = between(*THINK)
    # Each simulated family keeps its connection between pages, as a browser does; the server
    # keeps it open longer than the longest think time (bench/family_load.py).
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        email = EMAILS[next(_next_account) % len(EMAILS)]
        try:
            form = self.client.get(SIGN_IN, name="sign-in page")
            token = CSRF.search(form.content or b"")
            with self.client.post(
                SIGN_IN,
                data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token and token[1]},
                name="sign-in",
                allow_redirects=False,
                catch_response=True,
            ) as answer:
                if answer.status_code != 302 or answer.headers.get("Location", "").startswith(SIGN_IN):
                    answer.failure(f"sign-in of {email}: HTTP {answer.status_code}")
        finally:
            _one_more_signed_in()

    def _page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                location = response.headers.get("Location", "") if response.headers else ""
                response.failure(f"HTTP {response.status_code} {location}".strip())

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
