"""Local sources: one file, or a folder walked recursively in a deterministic order."""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from awsomechat.errors import SourceError
from awsomechat.ingest.sources import SourceFailure, format_size
from awsomechat.types import SourceItem

__all__ = ["FileSource", "FolderSource", "PathFilter"]

# Folders that are never documents and can be huge (dependency trees, bytecode caches).
_JUNK_DIRS = frozenset({"__pycache__", "node_modules"})
# Files the OS or editors drop next to documents; a loader would only report them as errors.
_JUNK_FILES = frozenset({"Thumbs.db", "desktop.ini"})


def _is_skipped(name: str, *, is_dir: bool) -> bool:
    """Hidden entries (``.git``, ``.DS_Store``) and common junk are skipped before any glob."""
    if name.startswith("."):
        return True
    if is_dir:
        return name in _JUNK_DIRS
    # "~$report.docx" is an Office lock file, "notes.md~" an editor backup.
    return name in _JUNK_FILES or name.startswith("~$") or name.endswith("~")


def _translate_glob(pattern: str) -> str:
    """Translate a gitignore-style glob body to a regex: ``*`` and ``?`` stay within one path
    segment, ``**`` crosses segments and ``**/`` also matches zero segments."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class _Glob:
    """One compiled include/exclude pattern."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        # A trailing slash means "directories only", as in .gitignore.
        self.dir_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        # A pattern with a slash is anchored at the folder root; without one it matches a name
        # at any depth ("*.md" finds guides/x/intro.md).
        prefix = "" if "/" in body else "(?:.*/)?"
        self.regex = re.compile(prefix + _translate_glob(body.lstrip("/")))

    def matches(self, rel: str) -> bool:
        """True when the pattern matches the file ``rel`` or one of its parent folders, so that
        ``guides`` or ``guides/`` selects everything below ``guides``."""
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self.regex.fullmatch("/".join(parts[:depth])):
                return True
        return not self.dir_only and self.regex.fullmatch(rel) is not None


class PathFilter:
    """Include/exclude globs matched against ``/``-separated paths relative to the folder.

    An empty include list means everything; excludes win over includes. Matching is
    case-sensitive, like ``.gitignore``.
    """

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = [_Glob(p.strip()) for p in include if p.strip()]
        self.exclude = [_Glob(p.strip()) for p in exclude if p.strip()]

    def accepts(self, rel: str) -> bool:
        """Whether the file at ``rel`` should be read."""
        if self.include and not any(g.matches(rel) for g in self.include):
            return False
        return not any(g.matches(rel) for g in self.exclude)

    def prunes_dir(self, rel: str) -> bool:
        """Whether a whole folder is excluded, so the walk need not enter it at all."""
        # Parents were checked on the way down, so only the folder itself is left to match.
        return any(g.regex.fullmatch(rel) for g in self.exclude)


def _read_file(path: Path, *, uri: str, source: str, name: str, max_bytes: int) -> SourceItem | SourceFailure:
    """Read one regular file, refusing (without reading) files over ``max_bytes``."""
    try:
        st = path.stat()
        if max_bytes > 0 and st.st_size > max_bytes:
            reason = f"file is {format_size(st.st_size)}, over the {format_size(max_bytes)} limit"
            return SourceFailure(uri, name, reason)
        with path.open("rb") as fh:
            # Read at most one byte past the cap: a file growing while we read stays bounded.
            data = fh.read(max_bytes + 1) if max_bytes > 0 else fh.read()
    except PermissionError:
        return SourceFailure(uri, name, "permission denied")
    except FileNotFoundError:
        return SourceFailure(uri, name, "file disappeared before it could be read")
    except OSError as exc:
        return SourceFailure(uri, name, exc.strerror or str(exc))
    if max_bytes > 0 and len(data) > max_bytes:
        return SourceFailure(uri, name, f"file grew over the {format_size(max_bytes)} limit while read")
    return SourceItem(
        uri=uri,
        source=source,
        name=name,
        data=data,
        content_type=mimetypes.guess_type(path.name)[0],
        modified_at=dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC),
    )


class FileSource:
    """A single local file. ``name`` (the source) and the item's ``uri`` are both its
    resolved ``file://`` URI; the item's ``name`` is the file name."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.path = Path(path).expanduser().resolve()
        self.uri = self.path.as_uri()
        self.name = self.uri
        self.max_bytes = max_bytes

    def describe(self) -> str:
        """One-line summary."""
        return f"file {self.path}"

    def list_uris(self) -> list[str]:
        """The URIs that currently exist (this file's, or none if it is gone); for pruning."""
        return [self.uri] if self.path.is_file() else []

    def iter_items(self) -> Iterator[SourceItem | SourceFailure]:
        """Yield the file's bytes, or one failure."""
        if not self.path.is_file():
            yield SourceFailure(self.uri, self.path.name, "not a regular file (or no longer exists)")
            return
        yield _read_file(
            self.path, uri=self.uri, source=self.name, name=self.path.name, max_bytes=self.max_bytes
        )


class FolderSource:
    """A local folder walked recursively, files sorted by relative path.

    Hidden entries and junk (``__pycache__``, ``node_modules``) are skipped. Symlinked folders are
    never entered (this rules out loops; targets inside the root are walked anyway); symlinked
    files are read only when they resolve inside the root, once per target.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        max_bytes: int,
    ) -> None:
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise SourceError(f"not a folder: {self.root}", hint="check the path")
        self.name = self.root.as_uri()
        self.filter = PathFilter(include, exclude)
        self.include = list(include)
        self.exclude = list(exclude)
        self.max_bytes = max_bytes

    def describe(self) -> str:
        """One-line summary with the active globs."""
        rules = []
        if self.include:
            rules.append("include " + ", ".join(self.include))
        if self.exclude:
            rules.append("exclude " + ", ".join(self.exclude))
        return f"folder {self.root}" + (f" ({'; '.join(rules)})" if rules else "")

    def list_uris(self) -> list[str]:
        """URIs of every selected file currently present, in ``iter_items`` order, without reading
        them. Over-size or unreadable files are listed (they exist), so pruning keeps them."""
        files, _ = self._walk()
        return [uri for _, _, uri in files]

    def iter_items(self) -> Iterator[SourceItem | SourceFailure]:
        """Yield each selected file's bytes (or a failure), then a failure per unlistable folder."""
        files, failures = self._walk()
        for rel, path, uri in files:
            yield _read_file(path, uri=uri, source=self.name, name=rel, max_bytes=self.max_bytes)
        yield from failures

    def _walk(self) -> tuple[list[tuple[str, Path, str]], list[SourceFailure]]:
        """Find the selected files as sorted ``(relative name, path, uri)`` triples."""
        found: list[tuple[str, Path]] = []
        failures: list[SourceFailure] = []
        stack: list[tuple[Path, str]] = [(self.root, "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                reason = f"cannot list folder: {exc.strerror or exc}"
                failures.append(SourceFailure(folder.as_uri(), prefix or ".", reason))
                continue
            for entry in entries:
                rel = prefix + entry.name
                try:
                    # Not following links here means symlinked folders are never entered: no
                    # loops, no escaping the root (targets inside the root are walked anyway).
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if _is_skipped(entry.name, is_dir=is_dir):
                        continue
                    if is_dir:
                        if not self.filter.prunes_dir(rel):
                            stack.append((Path(entry.path), rel + "/"))
                    elif entry.is_file() and self.filter.accepts(rel):
                        found.append((rel, Path(entry.path)))
                except OSError:
                    continue  # vanished or unstat-able entry: nothing we could read anyway
        found.sort(key=lambda f: f[0].split("/"))
        # A link to a file that is listed anyway is a duplicate; prefer the real name.
        seen: set[Path] = {path for _, path in found if not path.is_symlink()}
        files: list[tuple[str, Path, str]] = []
        for rel, path in found:
            if path.is_symlink():
                real = path.resolve()
                if real in seen or not real.is_relative_to(self.root) or not real.is_file():
                    continue  # duplicate, or a link pointing out of the root
                seen.add(real)
                path = real
            files.append((rel, path, path.as_uri()))
        return files, failures
