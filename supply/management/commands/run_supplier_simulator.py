"""`python manage.py run_supplier_simulator --port 8900`: the supplier simulator in the foreground until Ctrl-C or
SIGTERM, with an account (and its products and demo faults) for every upstream in the database that points at it
(supply/demo.py makes three). Configure more over its control API (/_sim/..., see supply/simulator/server.py)."""

import signal
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from supply.demo import simulator_accounts
from supply.simulator import Faults, SupplierSimulator


class Command(BaseCommand):
    help = "Run the supplier simulator (gateway, V2 and voucherhub protocols) for the demo and benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (keep it local: the control API is open).")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--seed", type=int, default=0, help="Seed of the fault dice.")
        parser.add_argument("--no-upstreams", action="store_true", help="Start empty: do not open the database's upstreams.")

    def handle(self, *args, host, port, seed, no_upstreams, **options):
        # The handlers first: a SIGTERM that arrives as soon as the port answers still stops it cleanly.
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        simulator = SupplierSimulator(host=host, port=port, seed=seed, callback_workers=8)
        simulator.start()
        opened = [] if no_upstreams else self._open_upstreams(simulator)
        self.stdout.write(f"Supplier simulator on {simulator.url} (gateway: /gateway, V2: /v2, voucherhub: /vh, control: /_sim)")
        for name, app_key, products in opened:
            self.stdout.write(f"  {name}: account {app_key}, {products} products")
        while not stopping.wait(0.5):
            pass
        simulator.stop()
        self.stdout.write("Supplier simulator stopped.")

    def _open_upstreams(self, simulator: SupplierSimulator) -> list[tuple[str, str, int]]:
        try:
            setups = simulator_accounts(base_url=simulator.url)
        except DatabaseError as trouble:  # no database or no supply tables yet: run empty
            self.stderr.write(f"No upstreams opened ({trouble.__class__.__name__}); configure the simulator over /_sim/.")
            return []
        opened = []
        for setup in setups:
            simulator.account(setup["app_key"], secret=setup["secret"], callback_secret=setup["callback_secret"], balance=setup["balance"])
            for product in setup["products"]:
                faults = Faults.from_dict(product["faults"])
                simulator.product(product["product_id"], face_value=product["face_value"], cost=product["cost"], faults=faults)
            opened.append((setup["name"], setup["app_key"], len(setup["products"])))
        return opened
