"""``python -m billing.fake_mollie --port 8765``: the fake Mollie in the foreground (the demo)."""

from __future__ import annotations

import argparse
import threading

from .server import FakeMollie


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m billing.fake_mollie", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--public-url", help="the root the links use (default: http://HOST:PORT)")
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
    with fake:
        print(f"Fake Mollie: api_endpoint={fake.base_url}", flush=True)
        print(f"  checkout pages {fake.url}/checkout/<id>, controls {fake.url}/_fake/", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
