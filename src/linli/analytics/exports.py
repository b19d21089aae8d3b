"""Exports of the dashboard's tables, with the numbers the screen shows: CSV streamed row by
row (UTF-8 with a byte-order mark, so Excel opens the Chinese names), XLSX written by
XlsxWriter in constant-memory mode (rows go to disk as they are written) and streamed from
its file. Money is yuan with two decimals (text in CSV, a number formatted 0.00 in XLSX),
rates are percentages as the screen shows them. A name (members choose their nicknames) is
always text: XLSX cells are written as strings and a CSV cell that a spreadsheet would read
as a formula is quoted with a leading apostrophe."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import xlsxwriter
from sqlalchemy.orm import Session

from linli.analytics import reads
from linli.identity.service import Principal
from linli.money import format_yuan

REPORTS = ("daily", "communities", "leaders", "sharers", "cohorts", "funnel")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BY = {"communities": "community", "leaders": "leader", "sharers": "sharer"}
ALL_ROWS = 1_000_000


@dataclass(frozen=True)
class Yuan:
    fen: int


@dataclass(frozen=True)
class Percent:
    bp: int


Cell = str | int | Yuan | Percent | None


@dataclass(frozen=True)
class Table:
    name: str
    headers: list[str]
    rows: list[list[Cell]]


def table(s: Session, who: Principal, merchant_id: int, report: str, start: date, end: date, today: date) -> Table:
    if report == "daily":
        o = reads.overview(s, who, merchant_id, start, end)
        return Table(report, ["day", "gmv_yuan", "orders"], [[p.day.isoformat(), Yuan(p.gmv), p.orders] for p in o.series])
    if report == "funnel":
        totals, rows = reads.funnel(s, who, merchant_id, start, end, "sharer", ALL_ROWS)
        return Table(report, ["sharer_id", "name", "shares", "visits", "orders", "paid", "received"],
                     [[r.id, r.name, r.shares, r.visits, r.orders, r.paid, r.received] for r in rows])
    if report == "cohorts":
        rows = [[c.month.strftime("%Y-%m"), c.members, *[None if c.ltv[n] is None else Yuan(c.ltv[n]) for n in reads.LTV_MONTHS]] for c in reads.cohorts(s, who, merchant_id, today)]
        return Table(report, ["first_order_month", "members", *[f"ltv_{n}m_yuan" for n in reads.LTV_MONTHS]], rows)
    rows = [[c.id, c.name, Yuan(c.gmv), c.orders, c.new_members, Percent(c.refund_rate_bp)] for c in reads.contributions(s, who, merchant_id, _BY[report], start, end, limit=ALL_ROWS)]
    return Table(report, ["id", "name", "gmv_yuan", "orders", "new_members", "refund_rate"], rows)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Yuan):
        return format_yuan(cell.fen)
    if isinstance(cell, Percent):
        return f"{cell.bp / 100:g}%"
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell  # a name a member chose, never a formula in the reader's spreadsheet
    return str(cell)


def csv_chunks(t: Table) -> Iterator[bytes]:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(t.headers)
    yield ("\ufeff" + buf.getvalue()).encode()
    for row in t.rows:
        buf.seek(0)
        buf.truncate()
        out.writerow([_text(c) for c in row])
        yield buf.getvalue().encode()


def xlsx_path(t: Table) -> str:
    """The table as an XLSX file on disk (the caller streams it, then removes it)."""
    fd, path = tempfile.mkstemp(prefix="linli-export-", suffix=".xlsx")
    os.close(fd)
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": tempfile.gettempdir()})
    sheet = book.add_worksheet(t.name)
    money = book.add_format({"num_format": "0.00"})
    rate = book.add_format({"num_format": "0.00%"})
    sheet.write_row(0, 0, t.headers)
    for r, row in enumerate(t.rows, start=1):
        for c, cell in enumerate(row):
            if isinstance(cell, Yuan):
                sheet.write_number(r, c, cell.fen / 100, money)  # shown as yuan; the fen are exact in the CSV
            elif isinstance(cell, Percent):
                sheet.write_number(r, c, cell.bp / 10000, rate)
            elif cell is None:
                sheet.write_blank(r, c, None)
            elif isinstance(cell, str):
                sheet.write_string(r, c, cell)  # never a formula, whatever a member named themself
            else:
                sheet.write_number(r, c, cell)
    book.close()
    return path


def file_chunks(path: str, size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes; it is removed as soon as it is open, so a download broken off
    (or never started) leaves nothing behind."""
    f = open(path, "rb")
    os.unlink(path)

    def chunks() -> Iterator[bytes]:
        with f:
            while chunk := f.read(size):
                yield chunk

    return chunks()
