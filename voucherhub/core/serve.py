"""`make serve`: the web server and the django-q2 job cluster side by side, stopped together and cleanly.

    python -m voucherhub.core.serve [HOST:PORT] [--simulator HOST:PORT]

With --simulator (`make run` passes it) the supplier simulator runs beside them on that address
(`manage.py run_supplier_simulator`, the demo suppliers point at 127.0.0.1:8900) and stops with them; the
site keeps serving if the simulator cannot start (its port taken, for example).

Each child runs in its own session, so a Ctrl-C in the terminal reaches this process only; it then sends
one SIGTERM to each child, waits for them (SIGKILL after STOP_GRACE_SECONDS) and exits 0. (The former
shell line `trap 'kill 0' INT TERM EXIT` signalled its own process group from inside its trap: the trap ran
again for its own signal until the shell overflowed its stack, "Segmentation fault", while the cluster got
SIGINT and SIGTERM several times over and died in a RecursionError.)
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STOP_GRACE_SECONDS = 20


def children_start(host: str, simulator: str = "") -> list[subprocess.Popen]:
    """The job cluster and the web server (the essential two, first), and the supplier simulator when asked."""
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    commands = [[*manage, "qcluster"], [*manage, "runserver", "--noreload", host]]
    if simulator:
        sim_host, _colon, sim_port = simulator.rpartition(":")
        commands.append([*manage, "run_supplier_simulator", "--host", sim_host or "127.0.0.1", "--port", sim_port])
    return [subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True) for command in commands]


def children_stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # its own session: the cluster's workers go with it
            child.wait()


def main(argv: list[str]) -> int:
    simulator = ""
    if "--simulator" in argv:
        at = argv.index("--simulator")
        simulator, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    host = argv[0] if argv else "127.0.0.1:8000"
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = children_start(host, simulator)
    try:
        while not stopping and all(child.poll() is None for child in children[:2]):
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not interrupt the stopping
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children_stop(children)
    if stopping:
        print("VoucherHub stopped.", flush=True)
        return 0
    failed = [child for child in children[:2] if child.returncode]
    return failed[0].returncode if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
