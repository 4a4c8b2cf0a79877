"""Entry point: ``awsomechat``."""

from __future__ import annotations

import json

import typer

from awsomechat.cli import chat, docs, evaluate, ingest, mcp, migrate, search, serve, up, users, worker
from awsomechat.cli import embedder as embedder_cli
from awsomechat.cli.common import console, handled, settings
from awsomechat.settings import config_file_path, masked_dump

app = typer.Typer(
    name="awsomechat",
    help="AWSomeChat: answers from your own documents. Ingest, search, ask, chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The embedded PostgreSQL server (ignored when a database URL is set).")
app.add_typer(db_app, name="db")
db_app.command("migrate")(migrate.migrate_command)
app.add_typer(docs.app, name="docs")
app.add_typer(evaluate.app, name="eval")
app.command("ingest")(ingest.ingest_command)
app.command("search")(search.search_command)
app.command("reindex")(ingest.reindex_command)
app.command("up")(up.up_command)
app.command("serve")(serve.serve_command)
app.command("model-runner")(serve.model_runner_command)
app.command("worker")(worker.worker_command)
app.add_typer(embedder_cli.app, name="embedder")
app.add_typer(users.users_app, name="users")
app.add_typer(users.keys_app, name="keys")
app.command("ask")(chat.ask_command)
app.command("chat")(chat.chat_command)
app.command("reply")(chat.reply_command)
app.command("mcp")(mcp.mcp_command)


@app.command("config")
def config_command(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of TOML-like text"),
) -> None:
    """Print the effective configuration (environment + config file), secrets masked."""
    with handled():
        s = settings()
        data = masked_dump(s)
        if as_json:
            console.print_json(json.dumps(data))
            return
        source = config_file_path()
        console.print(
            f"# config file: {source or '(none)'}; environment prefix AWSOMECHAT_",
            markup=False,
            highlight=False,
        )
        _print_tree(data, [])


def _print_tree(data: dict[str, object], path: list[str]) -> None:
    # Printed verbatim: Rich would read "[database]" (or brackets in a value) as markup and drop it.
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    if scalars:
        if path:
            console.print(f"\n[{'.'.join(path)}]", style="bold", markup=False, highlight=False)
        for k, v in scalars.items():
            console.print(f"{k} = {json.dumps(v)}", markup=False, highlight=False)
    for k, v in data.items():
        if isinstance(v, dict):
            _print_tree(v, [*path, k])


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server (creating it on first use) and apply migrations."""
    from awsomechat.store.database import describe_url, open_database

    with handled():
        s = settings()
        db = open_database(s.database, s.data_dir)
        console.print(f"database ready: {describe_url(db.url)}", highlight=False)
        db.close()


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from awsomechat.store import embedded

    with handled():
        s = settings()
        stopped = embedded.stop(s.data_dir)
        console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Show whether the store is up, its schema version and what it holds."""
    from awsomechat.store import embedded

    with handled():
        s = settings()
        if s.database.url is not None:
            from awsomechat.store.database import describe_url

            console.print(f"external database: {describe_url(s.database.url.get_secret_value())}")
            _print_store_stats()
            return
        st = embedded.status(s.data_dir, s.database.name)
        console.print(f"embedded server in {embedded.pg_data_dir(s.data_dir)}", highlight=False)
        console.print(
            f"  initialised: {st.initialised}\n  running: {st.running}"
            + (f" (pid {st.pid})" if st.pid else "")
        )
        if st.running:
            _print_store_stats()
        else:
            raise typer.Exit(3)


def _print_store_stats() -> None:
    from awsomechat.container import Container
    from awsomechat.store.migrate import current_version

    with Container(settings()) as c, c.database.pool.connection() as conn:
        version = current_version(conn)
        spec = c.index_guard.current()
        console.print(f"  schema version: {version}")
        console.print(
            f"  index: {spec.embedder + f' ({spec.dim}-d), analyzer ' + spec.analyzer if spec else '(empty)'}"
        )
        for k, v in c.documents.stats().items():
            console.print(f"  {k}: {v}")


def run() -> None:
    app()
