"""Valid user and group names (shared by the key store, the CLI and the API)."""

from __future__ import annotations

import re

from awsomechat.errors import AwsomeChatError

USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_groups(groups: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Trimmed, de-duplicated, sorted group names; an invalid one raises naming it."""
    clean = tuple(sorted({g.strip() for g in groups if g.strip()}))
    for g in clean:
        if not GROUP_RE.match(g):
            raise AwsomeChatError(
                f"group name {g!r} is not valid", hint="use letters, digits and _ . : - (up to 64)"
            )
    return clean
