"""The payout gateway port (money to a sharer's wallet) and its sandbox.

The sandbox pays at once, except when told to fail (the console's "simulate failure" and
the tests use ``fail_next``), so the failure path — money back to available — is real."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PayoutResult:
    ok: bool
    ref: str | None = None
    error: str | None = None


class PayoutGateway(Protocol):
    def reset(self) -> None:
        with self._lock:
            self._failures = 0

    def pay(self, withdrawal_id: int, member_id: int, amount: int) -> PayoutResult: ...


class SandboxPayout:
    def __init__(self) -> None:
        self._failures = 0
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1) -> None:
        with self._lock:
            self._failures += n

    def reset(self) -> None:
        with self._lock:
            self._failures = 0

    def pay(self, withdrawal_id: int, member_id: int, amount: int) -> PayoutResult:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return PayoutResult(False, error="sandbox: the wallet refused the transfer")
        return PayoutResult(True, ref=f"sbxp_{withdrawal_id}_{secrets.token_hex(6)}")


gateway: PayoutGateway = SandboxPayout()
