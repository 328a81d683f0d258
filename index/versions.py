"""Version folders of an index and its CURRENT pointer: the writer lock, the crash-consistent
switch, the live chain, cleaning, pruning and `lexkz index restore N`.

    INDEX/CURRENT              the live version number
    INDEX/versions/<N>/        a complete version (its manifest.json is written last)
    INDEX/versions/.tmp-*      a version being written
    INDEX/.lock                held by a writer (build, update, restore)

Publishing a version: fsync every file of the temporary folder and the folder itself,
rename it to `versions/<N>`, fsync `versions/`, then replace CURRENT (temporary file, fsync,
rename, fsync INDEX). A kill at any point leaves CURRENT naming a complete version.

The live chain is the live version and the versions it replaced (`previous_version` in each
manifest, followed back). At its start a writer removes `.tmp-*` folders, `CURRENT.tmp-*`
files and version folders off the live chain: orphans of a writer killed between the
rename and the switch, and versions newer than one made live again by `restore`. Pruning
keeps the first `keep_versions` of the chain and never fewer than two, so the version that
was live before (`previous_version`) is always still on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from lexkz.errors import LexkzError

MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
CRASH_ENV = "LEXKZ_TEST_CRASH_AT"  # tests: kill -9 this process at a named point of a write


def versions_dir(index_dir: str | Path) -> Path:
    return Path(index_dir) / "versions"


def list_versions(index_dir: str | Path) -> list[int]:
    """Numbers of all version folders (complete or not)."""
    d = versions_dir(index_dir)
    if not d.is_dir():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())


def read_manifest(version_dir: Path) -> dict:
    f = Path(version_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LexkzError(f"{f} is missing: the index version is incomplete; rebuild with `lexkz index build`", 3) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LexkzError(f"{f} is unreadable ({exc}): rebuild with `lexkz index build`", 3) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("version"), int):
        raise LexkzError(f"{f} is not an index manifest (no version number): rebuild with `lexkz index build`", 3)
    return manifest


def _manifest_or_none(version_dir: Path) -> dict | None:
    try:
        m = read_manifest(version_dir)
    except LexkzError:
        return None
    return m if m["version"] == int(version_dir.name) else None


def complete_versions(index_dir: str | Path) -> list[int]:
    """Version folders with a readable manifest that names the folder's own number."""
    return [v for v in list_versions(index_dir) if _manifest_or_none(versions_dir(index_dir) / str(v))]


def restore_hint(index_dir: str | Path) -> str:
    done = complete_versions(index_dir)
    if not done:
        return f"build one with `lexkz index build --corpus DIR --index {index_dir}`"
    return (f"complete versions on disk: {', '.join(map(str, done))}; make one live with "
            f"`lexkz index restore {done[-1]} --index {index_dir}` (check them with `lexkz index verify --index {index_dir}`)")


def current_version(index_dir: str | Path) -> int | None:
    """The live version number, or None when INDEX has no CURRENT file."""
    f = Path(index_dir) / CURRENT_FILE
    if not f.is_file():
        return None
    text = f.read_text(errors="replace").strip()
    if not text.isdigit():
        raise LexkzError(f"{f} is damaged (holds {text[:40]!r}, not a version number): {restore_hint(index_dir)}", 3)
    return int(text)


def is_version_folder(path: str | Path) -> bool:
    """True for INDEX/versions/<N> (or any folder holding a manifest.json): not an index root."""
    path = Path(path)
    return (path / MANIFEST_FILE).is_file() or (path.name.isdigit() and path.parent.name == "versions")


def refuse_version_folder(index_dir: str | Path) -> None:
    """Writers take an index root; a version folder would get a nested versions/ inside."""
    p = Path(index_dir)
    if is_version_folder(p):
        root = p.parent.parent if p.parent.name == "versions" else None
        hint = f"pass the index root (--index {root})" if root else "pass the index root folder (the one holding CURRENT)"
        raise LexkzError(f"{index_dir} is an index version folder, not an index root: {hint}; "
                         f"to make an older version live use `lexkz index restore N`", 2)


def live_chain(index_dir: str | Path, live: int | None = None) -> list[int]:
    """[live, the version it replaced, ...] as long as each is complete on disk."""
    live = current_version(index_dir) if live is None else live
    chain: list[int] = []
    v = live
    while v is not None and v not in chain:
        m = _manifest_or_none(versions_dir(index_dir) / str(v))
        if m is None:
            break
        chain.append(v)
        prev = m.get("previous_version")
        v = int(prev) if isinstance(prev, int) else None
    return chain


# ---------------------------------------------------------------- writer lock


class writer_lock:
    """INDEX/.lock held for a whole build/update/restore; a second writer is refused (exit 4)."""

    def __init__(self, index_dir: str | Path):
        from filelock import FileLock

        self.path = Path(index_dir) / LOCK_FILE
        self.lock = FileLock(str(self.path))

    def __enter__(self):
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            raise LexkzError(
                f"another lexkz process is writing the index (lock {self.path} is held): wait for that build/update "
                f"to finish and run this one again", 4) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()


# ---------------------------------------------------------------- durable switch


def crash_point(name: str) -> None:
    """Tests only: with LEXKZ_TEST_CRASH_AT=<name>, die here as a `kill -9` would."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then the folders themselves."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as fh:
                os.fsync(fh.fileno())
    for root, dirs, _ in os.walk(folder, topdown=False):
        for name in dirs:
            fsync_dir(Path(root) / name)
    fsync_dir(folder)


def switch_current(index_dir: str | Path, version: int) -> None:
    """Point CURRENT at `version` atomically and durably (temp file, fsync, rename, fsync INDEX)."""
    index_dir = Path(index_dir)
    tmp = index_dir / f"{CURRENT_FILE}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(f"{version}\n")
        fh.flush()
        os.fsync(fh.fileno())
    crash_point("before_current_rename")
    os.replace(tmp, index_dir / CURRENT_FILE)
    fsync_dir(index_dir)


def publish(tmp: Path, index_dir: Path, version: int) -> None:
    """Make the fully written folder `tmp` version `version` and switch CURRENT to it."""
    fsync_tree(tmp)
    crash_point("before_rename")
    final = versions_dir(index_dir) / str(version)
    os.replace(tmp, final)
    fsync_dir(versions_dir(index_dir))
    crash_point("after_rename")
    switch_current(index_dir, version)
    crash_point("after_switch")


# ---------------------------------------------------------------- cleaning


def clean_stale(index_dir: str | Path) -> list[str]:
    """Remove what killed writers left (call under the writer lock): `.tmp-*` folders,
    `CURRENT.tmp-*` files and, when a live version exists, version folders off its chain.
    Returns the removed names."""
    index_dir = Path(index_dir)
    removed = []
    for stale in sorted(versions_dir(index_dir).glob(".tmp-*")):
        shutil.rmtree(stale, ignore_errors=True)
        removed.append(f"versions/{stale.name}")
    for stale in sorted(index_dir.glob(f"{CURRENT_FILE}.tmp-*")):
        stale.unlink(missing_ok=True)
        removed.append(stale.name)
    live = current_version(index_dir)
    if live is not None and live in complete_versions(index_dir):
        keep = set(live_chain(index_dir, live))
        for v in list_versions(index_dir):
            if v not in keep:
                shutil.rmtree(versions_dir(index_dir) / str(v), ignore_errors=True)
                removed.append(f"versions/{v}")
    return removed


def prune_versions(index_dir: str | Path, keep: int) -> list[int]:
    """Delete versions beyond the first max(keep, 2) of the live chain (and any off it)."""
    chain = live_chain(index_dir)
    if not chain:
        return []
    kept = set(chain[:max(keep, 2)])
    doomed = [v for v in list_versions(index_dir) if v not in kept]
    for v in doomed:
        shutil.rmtree(versions_dir(index_dir) / str(v), ignore_errors=True)
    return doomed


# ---------------------------------------------------------------- restore


def restore_version(index_dir: str | Path, version: int) -> dict:
    """Make the complete, undamaged version `version` live (under the writer lock)."""
    from index.integrity import version_problems

    index_dir = Path(index_dir)
    refuse_version_folder(index_dir)
    vdir = versions_dir(index_dir) / str(int(version))
    if not vdir.is_dir():
        raise LexkzError(f"no version {version} under {versions_dir(index_dir)}: {restore_hint(index_dir)}", 3)
    with writer_lock(index_dir):
        manifest = read_manifest(vdir)
        if manifest["version"] != int(version):
            raise LexkzError(f"{vdir / MANIFEST_FILE} names version {manifest['version']}, not {version}: "
                             f"the folder is damaged; {restore_hint(index_dir)}", 3)
        problems = version_problems(index_dir, vdir, manifest)
        if problems:
            raise LexkzError(f"version {version} is damaged, not restored: " + "; ".join(problems)
                             + f". {restore_hint(index_dir)}", 3)
        try:
            before = current_version(index_dir)
        except LexkzError:
            before = None  # a damaged CURRENT is what restore repairs
        switch_current(index_dir, int(version))
    return {"index": str(index_dir), "version": int(version), "previous_live": before}
