"""The ``linli`` command line (Typer + Rich)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import typer
from rich.console import Console
from rich.table import Table

from linli import domains
from linli.config import ConfigError, Settings, get_settings
from linli.db import get_database, utcnow

app = typer.Typer(help="Linli 邻里: community group-buying with social distribution.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
jobs_app = typer.Typer(help="Due jobs (auto-confirm, settlement, deadlines…).", no_args_is_help=True)
ledger_app = typer.Typer(help="The ledger (every domain's accounts).", no_args_is_help=True)
leaderboard_app = typer.Typer(help="Leaderboards (rollups and their Redis sorted sets).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ledger_app, name="ledger")
analytics_app = typer.Typer(help="Dashboard rollups.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")
app.add_typer(analytics_app, name="analytics")
console = Console()


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ConfigError as exc:
        console.print(f"[red]Configuration refused:[/red] {exc}")
        raise typer.Exit(2) from None
    domains.bootstrap(settings)
    return settings


def _db(settings: Settings):
    return get_database(settings.database_url, settings.database_replica_url)


def _require_schema(settings: Settings) -> None:
    """Refuse to serve or work on a database whose schema is not this code's, or (in
    production) with a stored payment credential that cannot be opened or does not parse."""
    from linli import migrate
    from linli.payments.accounts import require_usable

    try:
        migrate.require_current(_db(settings))
    except migrate.SchemaMismatch as exc:
        console.print(f"[red]Schema check failed:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        require_usable(_db(settings), settings)
    except ConfigError as exc:
        console.print(f"[red]Configuration refused:[/red] {exc}")
        raise typer.Exit(2) from None


def _parse_instant(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        console.print(f"[red]--as-of must be an ISO 8601 instant, got {value!r}[/red]")
        raise typer.Exit(2) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to LINLI_DATABASE_URL."""
    from linli import migrate

    settings = _settings()
    db = _db(settings)
    migrate.upgrade(db, revision)
    console.print(f"[green]Database at revision {migrate.current(db)}[/green] ({db.engine.url.render_as_string(hide_password=True)})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of LINLI_DATABASE_URL."""
    from linli import migrate

    console.print(migrate.current(_db(_settings())) or "(empty database)")


@jobs_app.command("run-due")
def jobs_run_due(as_of: str = typer.Option(None, "--as-of", help="ISO 8601 instant (default: now)")) -> None:
    """Run every job due at that instant, idempotently."""
    from linli import jobs

    settings = _settings()
    results = jobs.run_due(_db(settings), _parse_instant(as_of), dispatch=settings.dispatch_inline)
    table = Table("job", "handled")
    for name, n in results.items():
        table.add_row(name, str(n))
    console.print(table)


@jobs_app.command("list")
def jobs_list() -> None:
    """List the registered due jobs in the order they run."""
    from linli import jobs

    _settings()
    for j in jobs.registered():
        console.print(f"{j.order:>4}  {j.name}")


@ledger_app.command("check")
def ledger_check(merchant: int = typer.Option(None, "--merchant", help="Only this merchant.")) -> None:
    """Verify the ledger invariants; exit 1 naming the first broken account."""
    from linli import ledger

    db = _db(_settings())
    with db.transaction() as s:
        problems = ledger.check(s, merchant)
    if problems:
        first = problems[0]
        who = f" member {first.member_id}" if first.member_id is not None else ""
        console.print(f"[red]ledger broken:[/red] merchant {first.merchant_id} {first.account}{who}: {first.detail}")
        for p in problems[1:10]:
            console.print(f"  also: merchant {p.merchant_id} {p.account} member {p.member_id}: {p.detail}")
        raise typer.Exit(1)
    console.print("[green]ledger ok[/green]: every transfer balances; balances equal their commission records")


@leaderboard_app.command("rebuild")
def leaderboard_rebuild(merchant: int = typer.Option(None, "--merchant", help="Only this merchant.")) -> int:
    """Recompute the leaderboard rollups from the facts and rewrite the Redis sorted sets
    from them; prints (and returns) how many scores differed (0: the boards were right)."""
    from linli.incentives import board_rebuild

    db = _db(_settings())
    found = board_rebuild.rebuild(db, utcnow(), merchant)
    colour = "green" if found == 0 else "yellow"
    console.print(f"[{colour}]{found} differences[/{colour}] found and repaired")
    return found


@analytics_app.command("rebuild")
def analytics_rebuild(
    since: str = typer.Option(None, "--from", help="Only the days from this one (YYYY-MM-DD, Asia/Shanghai) on."),
    merchant: int = typer.Option(None, "--merchant", help="Only this merchant."),
    check: bool = typer.Option(False, "--check", help="Compare only: exit 1 on any difference, write nothing."),
) -> None:
    """Recompute the dashboard rollups from the paid orders, print every difference from
    what the event handlers kept, and write the recomputed figures (run it once after
    upgrading to count the orders paid before analytics existed)."""
    from datetime import date

    from rich.progress import Progress

    from linli.analytics import rebuild

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        console.print(f"[red]--from {since!r} is not a date like 2026-11-22[/red]")
        raise typer.Exit(2) from None
    db = _db(_settings())
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("Orders", total=rebuild.count_paid_orders(db, merchant))
        report = rebuild.rebuild(db, utcnow(), merchant, day, lambda n: bar.advance(task, n), write=not check)
    for line in report.differences[:50]:
        console.print(f"  [yellow]difference[/yellow] {line}")
    if len(report.differences) > 50:
        console.print(f"  … and {len(report.differences) - 50} more")
    colour = "green" if report.clean else "yellow"
    verb = "found" if check else "found and repaired"
    console.print(f"[{colour}]{len(report.differences)} differences[/{colour}] {verb}: {report.merchants} merchants, {report.orders} paid orders, "
                  f"{report.day_rows} day rows, {report.member_day_rows} member-day rows")
    if check and not report.clean:
        raise typer.Exit(1)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, min=1, max=64, help="API processes."),
) -> None:
    """Serve the API and pages."""
    import uvicorn

    _require_schema(_settings())
    uvicorn.run("linli.web.app:main_app", factory=True, host=host, port=port, workers=workers, proxy_headers=True, log_config=None)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port."),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Start the server after seeding."),
) -> None:
    """Migrate, seed demo data (idempotent) and serve it."""
    from linli import demo as demo_data
    from linli import migrate

    if not os.environ.get("LINLI_PLATFORM_ADMINS") and os.environ.get("LINLI_ENV", "dev") != "production":
        os.environ["LINLI_PLATFORM_ADMINS"] = demo_data.ADMIN_PHONE
        get_settings.cache_clear()
    settings = _settings()
    db = _db(settings)
    with console.status("Migrating database…"):
        migrate.upgrade(db)
    with console.status("Seeding demo data…"):
        info = demo_data.seed(db, utcnow())
    console.print(f"[bold green]优邻优选 demo ready[/bold green] ({'seeded' if info.created else 'already seeded'}) in {db.engine.url.render_as_string(hide_password=True)}")
    table = Table("who", "phone", "where", title="Log in with these phones (one-time code shown on the page)")
    table.add_row("platform admin", info.admin_phone, f"http://{host}:{port}/console/")
    table.add_row("merchant owner 店长", info.owner_phone, f"http://{host}:{port}/console/")
    for phone, role in info.staff:
        table.add_row(f"staff ({role})", phone, f"http://{host}:{port}/console/")
    for phone, nick, cname in info.leaders:
        table.add_row(f"leader 团长 {nick} · {cname}", phone, f"http://{host}:{port}/m/")
    for phone in info.member_phones:
        table.add_row("member 邻居", phone, f"http://{host}:{port}/m/")
    from linli.demo_distribution import CHAIN

    for phone, nick in CHAIN:
        table.add_row(f"sharer 分享官 {nick} (under 小李)", phone, f"http://{host}:{port}/m/share")
    from linli.demo_risk import STORIES

    for phone, nick, story in STORIES:
        table.add_row(f"风控 risk: {nick} · {story}", phone, f"http://{host}:{port}/m/share")
    finance = " / ".join(phone for phone, role in info.staff if role == "finance")
    table.add_row("风控工作台 risk desk (owner, finance)", f"{info.owner_phone} / {finance}", f"http://{host}:{port}/console/merchants/{info.merchant_id}/risk/cases")
    console.print(table)
    if serve_after:
        serve(host=host, port=port, workers=1)


@app.command()
def worker(
    threads: int = typer.Option(4, min=1, max=64, help="Handler threads (broker mode)."),
    interval: float = typer.Option(30.0, help="Seconds between due-job runs."),
    once: bool = typer.Option(False, help="Drain once and exit (embedded mode)."),
) -> None:
    """Run event handlers and due jobs (Dramatiq on RabbitMQ when LINLI_BROKER_URL is set)."""
    from linli import worker as worker_mod

    settings = _settings()
    _require_schema(settings)
    worker_mod.run(settings, _db(settings), threads=threads, interval=interval, once=once)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
