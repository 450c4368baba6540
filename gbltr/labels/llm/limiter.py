"""Async rate limiting: requests per minute and tokens per minute (token buckets).

Concurrency (requests in flight) is a separate :class:`asyncio.Semaphore` in the client; this
limiter only spaces requests so that neither budget is exceeded over any minute.
"""

from __future__ import annotations

import asyncio
import time


class _Bucket:
    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        self._refill(time.monotonic())
        amount = min(amount, self.capacity)  # one oversized request may still pass, alone
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    """Waits until one request of ``tokens`` estimated tokens fits both budgets.

    ``rpm`` / ``tpm`` of ``None`` or 0 mean unlimited.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self._buckets: list[tuple[_Bucket, str]] = []
        if rpm:
            self._buckets.append((_Bucket(rpm), "r"))
        if tpm:
            self._buckets.append((_Bucket(tpm), "t"))
        self._lock = asyncio.Lock() if self._buckets else None

    @property
    def limited(self) -> bool:
        """Whether any budget is set (callers can skip estimating tokens when not)."""
        return bool(self._buckets)

    async def acquire(self, tokens: int = 0) -> None:
        if not self._buckets:
            return
        async with self._lock:
            while True:
                waits = [b.wait_time(1 if kind == "r" else tokens) for b, kind in self._buckets]
                delay = max(waits)
                if delay <= 0:
                    for b, kind in self._buckets:
                        b.take(1 if kind == "r" else tokens)
                    return
                await asyncio.sleep(delay)
