"""``python -m billing.fake_payfip --port 8766 --client 000123=NAME``: the fake PayFiP in the
foreground (the demo). It knows only the client numbers given with ``--client`` (or added
later with ``POST /_fake/clients``)."""

from __future__ import annotations

import argparse
import threading

from .server import FakePayfip


def client(value: str) -> tuple[str, str]:
    """``NUMCLI`` or ``NUMCLI=NAME``."""
    numcli, _, name = value.partition("=")
    return numcli.strip(), name.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m billing.fake_payfip", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    parser.add_argument("--public-url", help="the root its pages and WSDL use (default: http://HOST:PORT)")
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        type=client,
        metavar="NUMCLI[=NAME]",
        help="a régie's client number (6 digits) the fake knows, and its name; repeatable",
    )
    parser.add_argument(
        "--allow-any-notification-host", action="store_true", help="also notify non-loopback hosts"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    fake = FakePayfip(
        args.host,
        args.port,
        public_url=args.public_url,
        allow_any_notification_host=args.allow_any_notification_host,
        verbose=args.verbose,
    )
    for numcli, name in args.client:
        try:
            fake.add_client(numcli, name)
        except ValueError as exc:
            parser.error(f"--client {numcli}: {exc}")
    with fake:
        print(f"Fake PayFiP: PAYFIP_ENDPOINT={fake.base_url}", flush=True)
        print(
            f"  checkout pages {fake.base_url}/tpa/paiementws.web?idop=…, controls {fake.base_url}/_fake/",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
