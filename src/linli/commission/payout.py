"""The payout gateway port (money to a sharer's wallet) and its sandbox.

A payout is sent with a transfer number of ours, one per withdrawal (as WeChat Pay's
merchant transfer takes ``out_bill_no``): ``pay`` with a number the provider has seen
returns that first transfer's result and moves no money again, and ``query`` tells what
became of a number — ``paid``, ``failed``, ``processing`` or ``not_found`` (it never
reached the provider). That is what lets ``withdrawals`` call the gateway outside its own
transaction and, after a crash, finish the payout without paying twice.

``gateway.get()`` is the sandbox provider (None in production, where there is none); its
``connect(bind)`` gives the port for the database being served. A merchant with a WeChat
Pay or Alipay account pays through it instead (``payout_rails``: the provider clients of
``linli.payments``, ``pay`` / ``query`` of the same shape). The sandbox keeps
its book in that database's ``sandbox_payouts`` table, written in transactions of its own
as a remote wallet would, so a transfer it accepted survives our crash. It pays at once,
unless told to fail (``fail_next``: the failure path, money back to available, is real)
or to leave transfers processing (``hold_next``; ``SandboxWallet.finish`` settles them).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from linli.commission.models import SandboxTransfer
from linli.composition import Port
from linli.db import insert_ignore, utcnow

PAID, FAILED, PROCESSING, NOT_FOUND = "paid", "failed", "processing", "not_found"


@dataclass(frozen=True)
class PayoutResult:
    state: str  # paid | failed | processing | not_found
    ref: str | None = None
    error: str | None = None
    confirm: dict[str, str] | None = None  # processing until the payee accepts it in WeChat (wx.requestMerchantTransfer)


def transfer_no(withdrawal_id: int) -> str:
    """Our transfer number for a withdrawal (letters and digits, 5 to 32 characters, as
    WeChat Pay's ``out_bill_no`` requires); the same withdrawal always gets the same one."""
    return f"LLW{withdrawal_id:010d}"


class PayoutGateway(Protocol):
    def pay(self, transfer_no: str, member_id: int, amount: int) -> PayoutResult:
        """Send ``amount`` fen once per ``transfer_no``; a repeat returns the first result."""
        ...

    def query(self, transfer_no: str) -> PayoutResult: ...


class PayoutProvider(Protocol):
    def connect(self, bind: Engine | Connection) -> PayoutGateway: ...


class SandboxPayout:
    """The sandbox provider: the failure knobs, shared by every database it serves."""

    def __init__(self) -> None:
        self._failures = 0
        self._holds = 0
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1) -> None:
        with self._lock:
            self._failures += n

    def hold_next(self, n: int = 1) -> None:
        with self._lock:
            self._holds += n

    def reset(self) -> None:
        with self._lock:
            self._failures = self._holds = 0

    def _outcome(self) -> tuple[str, str | None]:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return FAILED, "sandbox: the wallet refused the transfer"
            if self._holds > 0:
                self._holds -= 1
                return PROCESSING, None
        return PAID, None

    def connect(self, bind: Engine | Connection) -> SandboxWallet:
        return SandboxWallet(self, bind.engine if isinstance(bind, Connection) else bind)


def _result(row: SandboxTransfer | None) -> PayoutResult:
    if row is None:
        return PayoutResult(NOT_FOUND)
    return PayoutResult(row.state, ref=row.ref, error=row.error)


class SandboxWallet:
    """The sandbox's book in one database. Every call is a transaction of its own (never
    the caller's), like a request to a remote provider."""

    def __init__(self, provider: SandboxPayout, engine: Engine) -> None:
        self.provider = provider
        self.engine = engine

    def pay(self, transfer_no: str, member_id: int, amount: int) -> PayoutResult:
        with Session(self.engine) as s, s.begin():
            if s.get(SandboxTransfer, transfer_no) is None:
                state, error = self.provider._outcome()
                values = {"transfer_no": transfer_no, "member_id": member_id, "amount": amount, "state": state,
                          "ref": f"sbxp_{secrets.token_hex(8)}", "error": error, "created_at": utcnow()}
                s.execute(insert_ignore(s, SandboxTransfer, values, ["transfer_no"]))  # a rival with the same number wins once
            return _result(s.get(SandboxTransfer, transfer_no))

    def query(self, transfer_no: str) -> PayoutResult:
        with Session(self.engine) as s, s.begin():
            return _result(s.get(SandboxTransfer, transfer_no))

    def finish(self, transfer_no: str, state: str = PAID) -> None:
        """The provider settles a transfer it left processing (paid or failed)."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(SandboxTransfer).where(SandboxTransfer.transfer_no == transfer_no, SandboxTransfer.state == PROCESSING)
                      .values(state=state, error=None if state == PAID else "sandbox: the transfer failed"))

    def transfers(self, transfer_no: str | None = None) -> list[SandboxTransfer]:
        with Session(self.engine) as s:
            q = select(SandboxTransfer).order_by(SandboxTransfer.created_at)
            if transfer_no is not None:
                q = q.where(SandboxTransfer.transfer_no == transfer_no)
            return list(s.scalars(q))


# The sandbox provider, or None (production): filled by the composition root (``commission/domain.py``).
SANDBOX = SandboxPayout()
gateway: Port[PayoutProvider | None] = Port("commission.payout", None)
