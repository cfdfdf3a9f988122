"""Threads for the concurrency tests: many attempts released together, each thread on its own database
connection (closed when it is done), counting outcomes instead of stopping at the first error."""

import threading

from django.db import connection


def burst(attempts, work, *, threads=40):
    """Run work(i) for every attempt on `threads` threads started together (a barrier), each on its own
    database connection, closed when it is done. Returns the outcomes: ("ok", value) or ("error", exception)."""
    todo = iter(list(attempts))
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    results = []

    def run():
        try:
            barrier.wait()
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    outcome = ("ok", work(i))
                except Exception as exc:  # noqa: BLE001 - the outcome is what we count
                    outcome = ("error", exc)
                with lock:
                    results.append(outcome)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
