"""python -m frappe_sim: serve the demo Frappe site and, optionally, generate POS sales."""

import argparse
import contextlib
import logging
import random
import signal
import sys
import threading

import socketio
from werkzeug.serving import make_server

from . import data, pos
from .app import SimState, create_app
from .pos import record_sale
from .realtime import Publisher
from .socket_server import create_socket_server, serve_beside_frappe

log = logging.getLogger("frappe_sim")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m frappe_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--redis-url", help="Redis for realtime events (Frappe's redis_queue); none: no events"
    )
    parser.add_argument("--site", default="demo.localhost", help="the site name (namespace)")
    parser.add_argument("--sales-per-minute", type=float, default=0.0)
    parser.add_argument("--session-expiry", type=int, default=612000, help="seconds")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--pos-mode", choices=data.POS_MODES, default="sales-invoice",
        help="sales-invoice: each sale a POS Invoice and its own Sales Invoice; consolidated: "
        "POS Invoices until a POS closing (frappe_sim.close_pos) merges them (ERPNext's default)",
    )  # fmt: skip
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument(
        "--extra-outlets", type=int, default=0, help="add N active outlets BENCH-0000... for loads"
    )
    parser.add_argument(
        "--silent-outlet", action="append", default=[],
        help="busy at every hour on past same weekdays, no generated sales today (it goes quiet)",
    )  # fmt: skip
    parser.add_argument(
        "--hostile-names", action="store_true", help="markup and script in labels, for tests"
    )
    parser.add_argument(
        "--submit-seconds", type=float, default=0.05,
        help="how long each POS submit's transaction stays open (concurrent ones overlap)",
    )  # fmt: skip
    parser.add_argument(
        "--no-socketio", action="store_true",
        help="no realtime server at /socket.io, as on a bench without nginx: run "
        "python -m frappe_sim.socket_server on its own port",
    )  # fmt: skip
    return parser.parse_args(argv)


def generate_sales(state, per_minute: float, seed: int, silent: list, stop: threading.Event):
    """Sales at random outlets; now and then a return of an earlier one, or a cancellation."""
    rng = random.Random(seed)
    active = [
        n for n, doc in state.store.outlets.items() if doc["status"] == "Active" and n not in silent
    ]
    recent = []
    while not stop.wait(rng.expovariate(per_minute / 60.0)):
        if recent and rng.random() < 0.08:
            undo(state, recent.pop(rng.randrange(len(recent))), rng)
            continue
        outlet = rng.choice(active)
        invoice = record_sale(state, outlet, data.random_basket(rng), "Administrator")
        recent = [*recent[-19:], invoice]
        log.info("%s sale %s at %s: %.2f", at(invoice), invoice.name, label(state, outlet),
                 invoice.grand_total)  # fmt: skip


def undo(state, sold, rng) -> None:
    """A customer brings an item back (a return), or the cashier cancels a mistaken sale."""
    if rng.random() < 0.5 and sold.consolidated_invoice is None:
        pos.cancel(state, "POS Invoice", sold.name, "Administrator")
        log.info("%s cancelled %s at %s", at(sold), sold.name, label(state, sold.outlet))
        return
    code, qty, _ = sold.items[0]
    doc = {"custom_franchise_outlet": sold.outlet, "is_return": 1, "return_against": sold.name,
           "items": [{"item_code": code, "qty": -qty}], "docstatus": 1}  # fmt: skip
    returned = pos.insert(state, doc, "Administrator")
    log.info("%s return %s of %s at %s: %.2f", at(returned), returned.name, sold.name,
             label(state, sold.outlet), returned.grand_total)  # fmt: skip


def at(invoice) -> str:
    """The site's clock time of a sale, as the pages show it (the terminal's own is UTC)."""
    return invoice.modified.strftime("%H:%M:%S site time") if invoice.modified else ""


def label(state, outlet: str) -> str:
    return state.store.outlets[outlet]["outlet_name"]


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    state = SimState(
        store=data.build_store(
            args.seed,
            args.time_zone,
            extra_outlets=args.extra_outlets,
            silent=tuple(args.silent_outlet),
            mode=args.pos_mode,
        ),  # fmt: skip
        site=args.site,
        publisher=Publisher(args.redis_url, args.site),
        session_expiry=args.session_expiry,
        submit_seconds=max(0.0, args.submit_seconds),
    )
    if args.hostile_names:
        data.use_hostile_names(state.store)
    wsgi = create_app(state)
    if not args.no_socketio:
        sio = create_socket_server(args.site)
        serve_beside_frappe(sio, args.redis_url)
        wsgi = socketio.WSGIApp(sio, wsgi)
    server = make_server(args.host, args.port, wsgi, threaded=True)
    stop = threading.Event()
    if args.sales_per_minute > 0:
        threading.Thread(
            target=generate_sales,
            args=(state, args.sales_per_minute, args.seed, args.silent_outlet, stop),
            daemon=True,
        ).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(
        f"demo Frappe: site {args.site} at http://{args.host}:{server.port}"
        f" ({len(state.store.pos_invoices)} POS invoices, POS mode {args.pos_mode})",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
