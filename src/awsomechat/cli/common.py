"""What every command shares: the console, the container, and error reporting."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import typer
from rich.console import Console

from awsomechat.container import Container
from awsomechat.errors import AwsomeChatError, ConfigError
from awsomechat.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn project errors into a red message with what to do next, and a non-zero exit."""
    try:
        yield
    except AwsomeChatError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]interrupted[/]: finished documents are stored; run the command again to go on"
        )
        raise typer.Exit(130) from None


@contextlib.contextmanager
def container() -> Iterator[Container]:
    with handled():
        s = settings()
        logging.basicConfig(level=s.log_level, format="%(levelname)s %(name)s: %(message)s")
        c = Container(s)
        try:
            yield c
        finally:
            c.close()
