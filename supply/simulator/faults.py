"""What can go wrong with one simulated product, and the seeded dice that decide each order's fate.

Rates are shares 0..1 (1 = every order, 0 = never); the dice are seeded, so a run with the same seed and the same
order of requests meets the same faults.
"""

import random
import threading
from dataclasses import asdict, dataclass, fields
from decimal import Decimal


@dataclass(frozen=True)
class Faults:
    latency: float = 0.0  # seconds before each answer about this product
    timeout_rate: float = 0.0  # share of submits answered only after `timeout_sleep` (the order IS created)
    timeout_sleep: float = 10.0  # longer than the client's timeout
    processing_seconds: float = 0.0  # an order stays processing this long before its final state
    failure_rate: float = 0.0  # share of orders that end failed (their cost goes back to the balance)
    partial_rate: float = 0.0  # share of orders that end partly topped up
    partial_ratio: Decimal = Decimal("0.5")  # the share of the face value a partial order tops up
    callback_lost_rate: float = 0.0  # share of orders whose callback never leaves
    callback_duplicate_rate: float = 0.0  # share whose final callback is sent twice
    callback_out_of_order_rate: float = 0.0  # share that get a "processing" callback after the final one
    callback_forged_rate: float = 0.0  # share that first get a callback with a bad signature, saying the opposite
    exists_rate: float = 0.0  # share of fresh submits answered "order number exists" (the order IS created)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Faults":
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in (data or {}).items() if key in known}
        if "partial_ratio" in values:
            values["partial_ratio"] = Decimal(str(values["partial_ratio"]))
        return cls(**{key: value if key == "partial_ratio" else float(value) for key, value in values.items()})

    def as_dict(self) -> dict:
        return {key: str(value) if isinstance(value, Decimal) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Fate:
    """What will happen to one order, rolled when it is created."""

    final: str  # "success" | "failed" | "partial"
    timeout: bool = False
    exists_answer: bool = False
    callback: str = "normal"  # "normal" | "lost" | "duplicate" | "out_of_order" | "forged"


class Dice:
    """A seeded random source shared by the server's threads."""

    def __init__(self, seed: int = 0):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._random.random() < rate

    def pick(self, choices: list[tuple[str, float]], *, default: str) -> str:
        """One of exclusive outcomes with their shares (one roll: 5% + 5% are 10% of orders, none twice)."""
        with self._lock:
            point = self._random.random()
        for name, rate in choices:
            if point < rate:
                return name
            point -= rate
        return default

    def fate(self, faults: Faults) -> Fate:
        final = "failed" if self.roll(faults.failure_rate) else "partial" if self.roll(faults.partial_rate) else "success"
        callback = self.pick(
            [
                ("lost", faults.callback_lost_rate),
                ("duplicate", faults.callback_duplicate_rate),
                ("out_of_order", faults.callback_out_of_order_rate),
                ("forged", faults.callback_forged_rate),
            ],
            default="normal",
        )
        return Fate(final=final, timeout=self.roll(faults.timeout_rate), exists_answer=self.roll(faults.exists_rate), callback=callback)

    def token(self, length: int = 16) -> str:
        with self._lock:
            return "".join(self._random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(length))
