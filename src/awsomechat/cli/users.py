"""``awsomechat users`` and ``awsomechat keys``: who may use the API, with which groups."""

from __future__ import annotations

import typer

from awsomechat.cli.common import console, container

users_app = typer.Typer(help="API users: their groups decide which documents they can read.")
keys_app = typer.Typer(help="API keys (shown once when created; only a hash is stored).")


def _groups(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(g for g in text.split(",") if g.strip())


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="user id (letters, digits, _ . @ -)"),
    groups: str = typer.Option("", "--groups", "-g", help="comma-separated groups, e.g. finance,hr"),
    admin: bool = typer.Option(False, "--admin", help="may upload and delete documents and read everything"),
    key: bool = typer.Option(True, "--key/--no-key", help="also create an API key and print it"),
) -> None:
    """Add a user (and print a new API key for it)."""

    with container() as c:
        store = c.keys
        user = store.add_user(name, groups=_groups(groups) or (), admin=admin)
        console.print(
            f"user [bold]{user.id}[/] groups: {', '.join(user.groups) or '(none)'}"
            f"{' · admin' if user.admin else ''}",
            highlight=False,
        )
        if key:
            _, secret = store.create_key(user.id, "created with the user")
            console.print(f"API key (shown once): [bold]{secret}[/]", highlight=False, soft_wrap=True)


@users_app.command("list")
def users_list() -> None:
    """List users with their groups and number of active keys."""

    with container() as c:
        for u in c.keys.list_users():
            flags = [f for f, on in (("admin", u.admin), ("disabled", u.disabled)) if on]
            console.print(
                f"{u.id}\tgroups={','.join(u.groups) or '-'}\tkeys={u.active_keys}\t{' '.join(flags)}",
                highlight=False,
            )


@users_app.command("update")
def users_update(
    name: str = typer.Argument(...),
    groups: str | None = typer.Option(None, "--groups", "-g", help="replace the groups (comma-separated)"),
    admin: bool | None = typer.Option(None, "--admin/--no-admin"),
    disabled: bool | None = typer.Option(
        None, "--disable/--enable", help="a disabled user's keys stop working"
    ),
) -> None:
    """Change a user's groups, admin flag or status."""

    with container() as c:
        u = c.keys.update_user(name, groups=_groups(groups), admin=admin, disabled=disabled)
        console.print(
            f"{u.id}: groups={','.join(u.groups) or '-'} admin={u.admin} disabled={u.disabled}",
            highlight=False,
        )


@users_app.command("remove")
def users_remove(name: str = typer.Argument(...)) -> None:
    """Remove a user and their keys (their stored conversations are kept)."""

    with container() as c:
        c.keys.remove_user(name)
        console.print(f"removed {name}")


@keys_app.command("create")
def keys_create(
    user: str = typer.Argument(..., help="the user the key acts as"),
    name: str = typer.Option("", "--name", help="a label, e.g. the application using it"),
) -> None:
    """Create an API key for a user and print it (it cannot be shown again)."""

    with container() as c:
        record, secret = c.keys.create_key(user, name)
        console.print(
            f"key {record.prefix} for {record.user_id}: [bold]{secret}[/]", highlight=False, soft_wrap=True
        )


@keys_app.command("list")
def keys_list(user: str | None = typer.Option(None, "--user", "-u")) -> None:
    """List keys by prefix (never the secret)."""

    with container() as c:
        for k in c.keys.list_keys(user):
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            console.print(
                f"{k.prefix}\t{k.user_id}\t{state}\tcreated {k.created_at:%Y-%m-%d %H:%M}\t{k.name}",
                highlight=False,
            )


@keys_app.command("revoke")
def keys_revoke(
    prefix: str = typer.Argument(..., help="the key's prefix (from `keys list`) or the key"),
) -> None:
    """Revoke a key: requests with it fail from now on, on every replica."""

    with container() as c:
        k = c.keys.revoke_key(prefix)
        console.print(f"revoked {k.prefix} ({k.user_id})", highlight=False)
