"""The `zhitong` command: serve, worker, db, demo, catalog, nlu.

Every command reads the same settings; a bad setting ends it with the variable's name and exit
status 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from cases import migrate
from cases.db import session_scope
from cases.demo import DEMO_PASSWORD, demo_usernames, load_demo_county
from cases.exceptions import CasesError
from cases.logs import configure_logging
from cases.settings import Settings, load_settings
from intents.catalog import check_catalog, load_catalog
from intents.exceptions import IntentsError
from intents.taxonomy import load_taxonomy
from webhooks.cli_nlu import nlu
from webhooks.extensions import Services, build_services
from worker.exceptions import WorkerError
from worker.queue import QUEUE_NAMES, run_worker, start_embedded_worker
from worker.schedule import run_cron, start_embedded_cron
from worker.understanding import ensure_model, model_is_current

log = logging.getLogger("zhitong")
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Turn the project's own errors into one clear line on stderr and a non-zero exit."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (CasesError, IntentsError, WorkerError) as exc:
            click.echo(f"zhitong: {exc}", err=True)
            sys.exit(2)
        except OperationalError as exc:
            click.echo(f"zhitong: database unreachable: {exc.orig}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context, **overrides: object) -> Settings:
    """Settings from the environment with command-line overrides; logging configured."""
    settings = load_settings(**overrides)
    configure_logging(settings)
    ctx.obj = settings
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
@friendly_errors
def main(ctx: click.Context) -> None:
    """直通 Zhitong — resident-service intake for Chinese counties."""
    ctx.obj = load_settings()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--demo/--no-demo", default=None, help="Load the demo county (overrides ZHITONG_DEMO)."
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str, port: int, demo: bool | None, threads: int) -> None:
    """Serve the web app (and, without Redis, run the jobs in this process)."""
    import waitress

    from webhooks.app import create_app

    settings = settings_from(ctx, demo=demo)
    services = build_services(settings)
    prepare_database(services)
    if settings.demo:
        print_demo_banner(services)
    embedded = None if settings.uses_redis else start_embedded_worker(services.redis)
    cron = None if settings.uses_redis else start_embedded_cron(services.redis)
    app = create_app(settings, services)
    mode = "redis" if settings.uses_redis else "embedded"
    log.info("serving", extra={"host": host, "port": port, "queue": mode, "demo": settings.demo})
    click.echo(f"Zhitong is running at http://{host}:{port}/  (queue: {mode}; Ctrl+C to stop)")
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="zhitong")
    finally:
        if cron is not None:
            cron.stop()
        if embedded is not None:
            embedded.stop()


def prepare_database(services: Services) -> None:
    """Bring an embedded SQLite database to the newest schema; insist on it for PostgreSQL.

    Production schemas change only through `zhitong db upgrade`, run deliberately by the
    operator; the embedded file is the laptop's own and is upgraded on start.
    """
    settings = services.settings
    if services.engine.dialect.name == "sqlite":
        migrate.upgrade(services.engine)
    elif migrate.current_revision(services.engine) not in migrate.heads():
        raise CasesError("the database schema is not current: run `zhitong db upgrade` first")
    if settings.demo:
        with session_scope(services.sessions) as session:
            load_demo_county(session)
    model_path = settings.effective_nlu_model_path
    if settings.rasa_url:
        return
    if not model_path.exists():
        click.echo("First start: training the intent model from intents/nlu (about a minute)…")
        ensure_model(model_path)
        click.echo(f"trained the intent model into {model_path}")
    elif not model_is_current(model_path):
        # Like the schema: the embedded model is the laptop's own and follows the data on start;
        # a production model changes only through `zhitong nlu train`, run deliberately.
        if services.engine.dialect.name == "sqlite":
            click.echo("The NLU data or glossary changed: retraining the intent model…")
            ensure_model(model_path, refresh=True)
            click.echo(f"trained the intent model into {model_path}")
        else:
            click.echo(
                f"Warning: {model_path} was trained on other NLU data or another glossary "
                "(or cannot be read); run `zhitong nlu train` to use the current ones.",
                err=True,
            )


def print_demo_banner(services: Services) -> None:
    """Print the demo accounts; their password works only in demo mode."""
    with session_scope(services.sessions) as session:
        usernames = demo_usernames(session)
    shown = ", ".join(name for name in usernames if not name.startswith("proxy_"))
    click.echo("Demo mode: 清溪县 (Qingxi County) is loaded.")
    click.echo(f"  Console accounts (password for all: {DEMO_PASSWORD}): {shown}")
    click.echo(
        f"  Village proxy agents: {sum(n.startswith('proxy_') for n in usernames)} accounts "
        "named proxy_<village>"
    )


@main.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="Queues to work (default: all).",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--fork/--no-fork",
    default=None,
    help="Fork a process per job (isolation) or run jobs in the worker (throughput); "
    "default: ZHITONG_WORKER_FORK (off).",
)
@click.pass_context
@friendly_errors
def worker(ctx: click.Context, queues: tuple[str, ...], burst: bool, fork: bool | None) -> None:
    """Run an RQ worker with the scheduler on ZHITONG_REDIS_URL."""
    settings = settings_from(ctx)
    if settings.uses_redis and not settings.rasa_url:  # without Redis run_worker explains
        ensure_model(settings.effective_nlu_model_path)
    run_worker(settings, list(queues), burst=burst, fork=fork)


@main.command()
@click.pass_context
@friendly_errors
def cron(ctx: click.Context) -> None:
    """Run the periodic jobs' scheduler on ZHITONG_REDIS_URL (run exactly one)."""
    from worker.exceptions import QueueUnavailableError

    settings = settings_from(ctx)
    if not settings.uses_redis:
        raise QueueUnavailableError(
            "ZHITONG_REDIS_URL is not set: without Redis, `zhitong serve` runs the schedule itself"
        )
    run_cron(build_services(settings).redis)


@main.group()
def jobs() -> None:
    """Failed jobs and parked messages (what the console's failed-jobs page shows)."""


@jobs.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
@friendly_errors
def jobs_failed(ctx: click.Context, limit: int) -> None:
    """List failed jobs per queue, then parked messages, newest first."""
    from worker.failures import failed_jobs, parked_messages

    services = build_services(settings_from(ctx))
    try:
        for job in failed_jobs(services.redis, limit):
            when = job.failed_at.isoformat(timespec="seconds") if job.failed_at else "-"
            click.echo(
                f"job\t{job.queue}\t{job.id}\t{when}\t{job.function}({job.args})\t{job.error}"
            )
        with session_scope(services.sessions) as session:
            for message in parked_messages(session, limit):
                click.echo(
                    f"message\t{message.id}\t{message.direction.value}\t{message.channel.value}"
                    f"\t{message.attempts}\t{message.error_code}\t{message.error_message}"
                )
    finally:
        services.close()


@jobs.command("retry")
@click.argument("what", type=click.Choice(["job", "message"]))
@click.argument("ident")
@click.option("--queue", type=click.Choice(QUEUE_NAMES), help="The job's queue (for a job).")
@click.pass_context
@friendly_errors
def jobs_retry(ctx: click.Context, what: str, ident: str, queue: str | None) -> None:
    """Retry a failed job (`job ID --queue Q`) or a parked message (`message ID`)."""
    from worker.failures import requeue_job, retry_message

    services = build_services(settings_from(ctx))
    try:
        if what == "job":
            if queue is None:
                raise click.UsageError("a job is retried on its queue: --queue high|default|low")
            done = requeue_job(services.redis, queue, ident)
        else:
            if not ident.isdigit():
                raise click.UsageError("a message is named by its number")
            with services.sessions() as session:
                done = retry_message(session, services.redis, int(ident))
    finally:
        services.close()
    if not done:
        click.echo(f"{what} {ident} is not failed (any more); nothing to retry", err=True)
        sys.exit(1)
    click.echo(f"{what} {ident} will be tried again")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
@friendly_errors
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database to the newest schema (or --revision)."""
    services = build_services(settings_from(ctx))
    try:
        migrate.upgrade(services.engine, revision)
        click.echo(f"database at revision {migrate.current_revision(services.engine)}")
    finally:
        services.close()


@db.command("current")
@click.pass_context
@friendly_errors
def db_current(ctx: click.Context) -> None:
    """Print the database's schema revision."""
    services = build_services(settings_from(ctx))
    try:
        current = migrate.current_revision(services.engine)
        state = (
            "up to date"
            if current in migrate.heads()
            else f"behind (head: {', '.join(migrate.heads())})"
        )
        click.echo(f"{current or 'empty'} — {state}")
    finally:
        services.close()


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
@friendly_errors
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Take the database back to REVISION ("base" drops every table)."""
    services = build_services(settings_from(ctx))
    try:
        migrate.downgrade(services.engine, revision)
        click.echo(f"database at revision {migrate.current_revision(services.engine) or 'base'}")
    finally:
        services.close()


@main.command()
@click.pass_context
@friendly_errors
def demo(ctx: click.Context) -> None:
    """Create the schema and load the demo county (清溪县); safe to run twice."""
    services = build_services(settings_from(ctx, demo=True))
    ctx.call_on_close(services.close)
    migrate.upgrade(services.engine)
    with session_scope(services.sessions) as session:
        summary = load_demo_county(session)
    if summary.agents:
        click.echo(
            f"loaded {summary.areas} areas, {summary.departments} units, {summary.agents} accounts"
        )
    else:
        click.echo("the demo county is already loaded")
    print_demo_banner(services)


@main.command()
@click.option("--phone", default="+8613900000000", show_default=True, help="The resident's number.")
@click.pass_context
@friendly_errors
def chat(ctx: click.Context, phone: str) -> None:
    """Talk to the bot as a resident, in the terminal (the same path as an SMS).

    Messages are stored and cases opened in the configured database, exactly as if the text had
    come by SMS; an empty line or Ctrl+D ends the conversation.
    """
    import datetime as dt
    import uuid

    from cases.models.messaging import Channel
    from worker.inbound import Inbound, record_inbound
    from worker.shell import handle_message

    settings = settings_from(ctx, log_level="WARNING")
    services = build_services(settings)
    ctx.call_on_close(services.close)
    prepare_database(services)
    click.echo(
        f"直通 — 以 {phone} 的身份发消息；空行结束。 (Chatting as {phone}; empty line ends.)"
    )
    while True:
        try:
            text = click.prompt("您", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            break
        if not text.strip():
            break
        inbound = Inbound(
            Channel.SMS,
            phone,
            text,
            dt.datetime.now(dt.UTC),
            provider_id=f"CLI{uuid.uuid4().hex}",
            phone=phone,
        )
        with session_scope(services.sessions) as session:
            recorded = record_inbound(session, inbound)
        for reply in handle_message(services, recorded.message_id, synchronous=True).replies:
            click.echo(f"直通> {reply}")


@main.group()
def catalog() -> None:
    """Service catalog commands."""


@catalog.command("check")
@click.option(
    "--file", "path", type=click.Path(exists=True, dir_okay=False), help="Catalog file to check."
)
@friendly_errors
def catalog_check(path: str | None) -> None:
    """Check the catalog against the taxonomy; exit 1 on any problem."""
    from pathlib import Path

    from intents.catalog import CATALOG_PATH

    loaded = load_catalog(Path(path) if path else CATALOG_PATH)
    problems = check_catalog(loaded, load_taxonomy())
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"catalog check failed: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    kinds = {
        kind: sum(item.kind == kind for item in loaded.items) for kind in ("service", "concern")
    }
    click.echo(
        f"catalog OK: {len(loaded.items)} items "
        f"({kinds['service']} services, {kinds['concern']} concerns), "
        f"{len(loaded.departments)} departments"
    )


@main.group("api")
def api_group() -> None:
    """REST API and Open311 integrations."""


@api_group.group("token")
def api_token() -> None:
    """API tokens of outside systems (hashed at rest, shown once)."""


@api_token.command("create")
@click.option("--name", required=True, help="Who uses the token (system or supplier).")
@click.option("--area", "area_code", required=True, help="Area code the token is limited to.")
@click.option(
    "--scope",
    "scopes",
    required=True,
    help="Comma-separated permissions: cases:read, cases:write, cases:transition, "
    "figures:read, personal_data.",
)
@click.pass_context
@friendly_errors
def api_token_create(ctx: click.Context, name: str, area_code: str, scopes: str) -> None:
    """Create a token and print its secret — the only time it is shown."""
    import datetime as dt

    from cases.api_tokens import create_token

    services = build_services(settings_from(ctx))
    ctx.call_on_close(services.close)
    with session_scope(services.sessions) as session:
        issued = create_token(session, name, area_code, scopes, dt.datetime.now(dt.UTC))
        token_id, prefix, granted = issued.token.id, issued.token.prefix, issued.token.scopes
    click.echo(issued.secret)
    click.echo(
        f"token {token_id} ({prefix}…) for {area_code}: {', '.join(granted)}. "
        "Store the secret now; it cannot be shown again.",
        err=True,
    )


@api_token.command("list")
@click.pass_context
@friendly_errors
def api_token_list(ctx: click.Context) -> None:
    """List tokens (never their secrets)."""
    from cases.api_tokens import list_tokens

    services = build_services(settings_from(ctx))
    ctx.call_on_close(services.close)
    with session_scope(services.sessions) as session:
        for token, area in list_tokens(session):
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            click.echo(
                f"{token.id}\t{token.prefix}…\t{token.name}\t{area.code}\t"
                f"{','.join(token.scopes)}\t{state}\tlast used {used}"
            )


@api_token.command("revoke")
@click.argument("key")
@click.pass_context
@friendly_errors
def api_token_revoke(ctx: click.Context, key: str) -> None:
    """Revoke the token with this id or prefix; it stops working at once."""
    import datetime as dt

    from cases.api_tokens import revoke_token

    services = build_services(settings_from(ctx))
    ctx.call_on_close(services.close)
    with session_scope(services.sessions) as session:
        token = revoke_token(session, key, dt.datetime.now(dt.UTC))
        click.echo(f"token {token.id} ({token.prefix}…, {token.name}) revoked")


@main.command()
@click.option("--period", help="The month, YYYY-MM (default: last month).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder for the files (default: <instance>/reports).",
)
@click.option("--pdf", is_flag=True, help="Also print the report to PDF.")
@click.pass_context
@friendly_errors
def report(ctx: click.Context, period: str | None, out_dir: str | None, pdf: bool) -> None:
    """Write the monthly 民情专报 as printable HTML (and PDF)."""
    import datetime as dt
    from pathlib import Path

    from worker.reports import previous_period, write_report

    services = build_services(settings_from(ctx))
    ctx.call_on_close(services.close)
    if services.engine.dialect.name == "sqlite":
        migrate.upgrade(services.engine)  # the laptop's own file, as `serve` does
    elif migrate.current_revision(services.engine) not in migrate.heads():
        raise CasesError("the database schema is not current: run `zhitong db upgrade` first")
    zone = services.clock.hours.zone
    now = dt.datetime.now(dt.UTC)
    chosen = period or previous_period(now, zone)
    folder = Path(out_dir) if out_dir else services.settings.instance_path / "reports"
    with session_scope(services.sessions) as session:
        path = write_report(session, chosen, folder, zone, now=now, pdf=pdf)
    click.echo(f"report for {chosen} written to {path.parent}")


main.add_command(nlu)


if __name__ == "__main__":
    main()
