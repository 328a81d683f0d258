"""Run git on folders whose content is not ours (a corpus handed over, a clone on disk).

A repository's own config (`.git/config` and the files it includes) can name programs that
git runs: `core.fsmonitor`, hooks (`core.hooksPath`), `core.sshCommand`, `core.askPass`,
credential helpers, filter drivers (clean/smudge/process), `remote.<name>.uploadpack`, ...
Every git call goes through `run_git`, which
- passes `-c` settings (they win over every config file) that switch those off, including
  each filter driver the repository's config names;
- limits transports to file/http/https/ssh (`GIT_ALLOW_PROTOCOL`; no `ext::`), never prompts,
  and drops inherited GIT_DIR-like variables so git looks only at the folder given.
Reading a corpus revision uses only plumbing that never looks at the working tree
(`rev-parse`, `ls-tree`): whether the files differ from HEAD is decided here in Python by
hashing them as git blobs, not by `git status` (which runs fsmonitor and clean filters).
The user's own global and system config still apply (proxies, CA files), except for the
settings switched off above.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

# settings that would run a program, switched off; `key=` (empty) resets a list or a command
SAFE_SETTINGS = (
    "core.fsmonitor=false",
    f"core.hooksPath={os.devnull}",
    "core.sshCommand=ssh",
    "core.askPass=",
    "credential.helper=",
    "core.gitProxy=",
    "core.alternateRefsCommand=",
    "core.pager=cat",
    "diff.external=",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
)
ALLOWED_PROTOCOLS = "file:http:https:ssh"
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
             "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_EXTERNAL_DIFF", "GIT_EXEC_PATH")


class GitError(Exception):
    """git could not be run, timed out, or exited non-zero (`.stderr` has its message)."""

    def __init__(self, message: str, stderr: str = "", missing: bool = False, timed_out: bool = False):
        super().__init__(message)
        self.stderr, self.missing, self.timed_out = stderr, missing, timed_out


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="", GIT_OPTIONAL_LOCKS="0",
               GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS, GIT_PAGER="cat")
    return env


def _exec(args: list[str], cwd: Path | None, timeout: float) -> str:
    cmd = ["git"]
    for setting in SAFE_SETTINGS:
        cmd += ["-c", setting]
    try:
        out = subprocess.run(cmd + args, cwd=cwd, env=git_env(), capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("git is not installed", missing=True) from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f} s", timed_out=True) from None
    if out.returncode != 0:
        raise GitError(f"git {args[0]} exited {out.returncode}", stderr=(out.stderr or out.stdout).strip())
    return out.stdout


def filter_settings(cwd: Path | None) -> list[str]:
    """`-c` settings that empty every filter driver the config visible in `cwd` defines (a
    `.gitattributes` in the data picks the driver; the repository's config says what it runs)."""
    try:
        names = _exec(["config", "--name-only", "--get-regexp", r"^filter\."], cwd, 60).split()
    except GitError:  # exit 1: no filter defined
        return []
    drivers = sorted({n.split(".", 1)[1].rsplit(".", 1)[0] for n in names if n.count(".") >= 2})
    return [s for d in drivers for s in (f"filter.{d}.clean=", f"filter.{d}.smudge=", f"filter.{d}.process=",
                                          f"filter.{d}.required=false")]


def run_git(args: list[str], cwd: Path | None = None, timeout: float = 60, checkout: bool = False) -> str:
    """Run `git ARGS` in `cwd` with the safe settings; returns stdout, raises GitError.
    `checkout=True` for commands that write files (clone, reset): filter drivers are emptied too."""
    extra: list[str] = []
    if checkout:
        for setting in filter_settings(cwd):
            extra += ["-c", setting]
    return _exec(extra + args, cwd, timeout)


def _try(args: list[str], cwd: Path) -> str | None:
    try:
        return _exec(args, cwd, 60)
    except GitError:
        return None


def head_commit(path: Path) -> str | None:
    """HEAD commit of the repository `path` is in, else None."""
    out = _try(["rev-parse", "--verify", "-q", "HEAD^{commit}"], path)
    return (out or "").strip() or None


def tracked_blobs(path: Path) -> dict[str, str]:
    """{path relative to `path` (posix): blob id} of HEAD's files under `path` ({} when none)."""
    out = _try(["ls-tree", "-r", "-z", "HEAD"], path) or ""
    blobs = {}
    for entry in out.split("\0"):
        if "\t" not in entry:
            continue
        info, name = entry.split("\t", 1)
        mode, kind, oid = info.split()
        if kind == "blob":
            blobs[name] = oid
    return blobs


def object_format(path: Path) -> str:
    out = _try(["rev-parse", "--show-object-format"], path)
    return (out or "sha1").strip() or "sha1"


def blob_id(file: Path, fmt: str = "sha1") -> str:
    """The id git gives `file`'s bytes as a blob (no filters, no line-ending conversion)."""
    data = file.read_bytes()
    return hashlib.new(fmt, b"blob %d\0" % len(data) + data).hexdigest()


def differs_from_head(root: Path, files: list[Path]) -> bool:
    """True when a file read from `root` is not HEAD's version (changed or untracked), or a
    file HEAD has under `root` is gone from the folder."""
    tracked = tracked_blobs(root)
    fmt = object_format(root)
    read = {p.relative_to(root).as_posix(): p for p in files}
    if any(tracked.get(rel) != blob_id(p, fmt) for rel, p in read.items()):
        return True
    return any(not os.path.lexists(root / rel) for rel in tracked)
