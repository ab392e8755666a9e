"""``python -m billing.fake_mollie --port 8765 --account test_…=NAME``: the fake Mollie in the
foreground (the demo). It accepts only the keys given with ``--account`` (or added later with
``POST /_fake/accounts``)."""

from __future__ import annotations

import argparse
import threading

from .server import FakeMollie
from .state import ApiError


def account(value: str) -> tuple[str, str]:
    """``KEY`` or ``KEY=NAME``."""
    key, _, name = value.partition("=")
    return key.strip(), name.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m billing.fake_mollie", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--public-url", help="the root the links use (default: http://HOST:PORT)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        type=account,
        metavar="KEY[=NAME]",
        help="an account the fake accepts: its API key (test_… or live_…) and name; repeatable",
    )
    parser.add_argument(
        "--allow-any-webhook-host", action="store_true", help="also POST webhooks to non-loopback hosts"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    fake = FakeMollie(
        args.host,
        args.port,
        public_url=args.public_url,
        allow_any_webhook_host=args.allow_any_webhook_host,
        verbose=args.verbose,
    )
    for key, name in args.account:
        try:
            fake.add_account(key, name)
        except ApiError as exc:
            parser.error(f"--account {key}: {exc.detail}")
    with fake:
        print(f"Fake Mollie: api_endpoint={fake.base_url}", flush=True)
        print(f"  checkout pages {fake.url}/checkout/<id>, controls {fake.url}/_fake/", flush=True)
        names = [f"{a['name'] or '(no name)'} ({a['mode']})" for a in fake.accounts.values()]
        print(f"  accounts: {', '.join(names) or 'none (POST /_fake/accounts)'}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
