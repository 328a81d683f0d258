"""Read a corpus of RK legal acts and split every act into articles.

Two layouts are read (both may be nested at any depth; folders starting with "." or "_",
such as `.git` and `_versions`, are skipped):

* the layout of ../shared/corpus: one folder per act with `meta.yaml` (code, title_ru,
  title_kz, status, source_url, zan_url) and `rus.md` / `kaz.md`, article headings
  `### Статья 113. Title` / `### 113-бап. Title`;
* the upstream kazakhstan-law layout: `…/<slug>-<code>/meta.yaml, rus.md, kaz.md` (or
  `rus/sec001.md…` parts), YAML front matter in the text files, `<a id="st1"></a>` anchors
  and bold article headings `**Статья 1. Title**` / `**1-бап**`; meta.yaml has `act_code`,
  `title: {rus, kaz}`, `source: {rus, kaz}` and no `status` (the `requisite` says when an act
  stopped being in force). The corpus dir (or each synced scope below it) is a git repo.

Folders that are symlinks are not followed, and act files that are not regular files (FIFOs,
devices) are skipped, each with a warning; files are opened without blocking.

An article runs from its heading to the next heading of any level; footnotes
(`Сноска. …`, `Ескертпе. …`) and notes therefore stay with their article. Text before the
first article (preamble) is not an article and is not indexed. A heading that looks like an
article heading but cannot be parsed (e.g. `### Статья 12а`) is reported as a warning with
`file:line`, and its text stays with the previous article.

    python -m index.ingest ../shared/corpus        # prints per-act article counts
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from index.article import Article, article_id
from index.gitsafe import GitError, differs_from_head, head_commit, run_git, tracked_blobs
from lexkz.common import sha256_file, sha256_text
from lexkz.errors import LexkzError

log = logging.getLogger("lexkz.index")

LANGS = ("rus", "kaz")
_NUM = r"\d+(?:-\d+)*"
# "### Статья 113-1. Title", "### 113-1-бап. Title", "**Статья 1. Title**", "**1-бап**"
_ARTICLE = re.compile(
    rf"^(?:#{{2,6}}[ \t]+|\*\*[ \t]*)(?:Статья[ \t]+(?P<ru>{_NUM})|(?P<kz>{_NUM})[ \t]*-[ \t]*бап)(?![\w-])"
    r"[ \t]*\.?[ \t]*(?P<title>.*?)[ \t]*(?:\*\*)?[ \t]*$"
)
# Lines that look like an article heading (so a miss is worth a warning).
_ARTICLE_LIKE = re.compile(r"^(?:#{2,6}[ \t]+|\*\*[ \t]*)(?:Статья\b|\S*\d\S*[ \t]*-?[ \t]*бап\b)", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}[ \t]")
_ANCHOR = re.compile(r"^\s*<a\s+(?:id|name)=\"[^\"]*\"\s*>\s*</a>\s*$")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)

_REPEALED_WORDS = (
    "repealed", "no longer in force", "not in force", "historical", "superseded", "expired",
    "утратил", "прекратил", "не действует", "отменен", "күшін жой", "күші жойыл",
)


@dataclass
class Act:
    """One legal act as read from its folder (metadata; its articles live in the snapshot)."""

    code: str
    title_ru: str | None
    title_kz: str | None
    act_type: str | None
    status: str  # "in_force" | "repealed"
    status_text: str
    url: str  # the Russian page
    url_kaz: str
    folder: str  # relative to the corpus root
    langs: list[str] = field(default_factory=list)
    article_count: dict[str, int] = field(default_factory=dict)
    in_force_from: str | None = None  # ISO dates from meta.yaml (None: not known)
    in_force_to: str | None = None
    edition_date: str | None = None
    caused_by: str | None = None  # the amending act of this edition (upstream `caused_by`, else meta `edition`)
    complete_history: bool = False  # one edition per version (git history): no editions missing in between

    def title(self, lang: str) -> str:
        if lang == "kaz":
            return self.title_kz or self.title_ru or self.code
        return self.title_ru or self.title_kz or self.code

    def url_for(self, lang: str) -> str:
        return self.url_kaz if lang == "kaz" else self.url

    def to_dict(self) -> dict:
        return {
            "code": self.code, "title_ru": self.title_ru, "title_kz": self.title_kz, "act_type": self.act_type,
            "status": self.status, "status_text": self.status_text, "url": self.url, "url_kaz": self.url_kaz,
            "folder": self.folder, "langs": list(self.langs), "article_count": dict(self.article_count),
            "in_force_from": self.in_force_from, "in_force_to": self.in_force_to, "edition_date": self.edition_date,
            "caused_by": self.caused_by,
        }


@dataclass
class CorpusSnapshot:
    """Everything read from one corpus dir: acts, their articles, the revision, warnings."""

    root: Path
    acts: list[Act]
    articles: list[Article]
    revision: dict
    warnings: list[str] = field(default_factory=list)
    # older editions (`_versions/<CODE>/<edition>/`): {code: [(Act, its articles), ...]}
    history: dict[str, list[tuple[Act, list[Article]]]] = field(default_factory=dict)

    def by_id(self) -> dict[str, Article]:
        return {a.id: a for a in self.articles}


# ---------------------------------------------------------------- metadata


def normalize_status(text: str | None) -> str:
    """meta.yaml `status` text -> "in_force" | "repealed" (unknown or empty text: in force)."""
    low = (text or "").lower()
    return "repealed" if any(w in low for w in _REPEALED_WORDS) else "in_force"


def _kaz_url(url: str) -> str:
    url = url.replace("/rus/docs/", "/kaz/docs/")
    return re.sub(r"/rus(?=$|/)", "/kaz", url)


def _urls(meta: dict, code: str) -> tuple[str, str]:
    """(Russian URL, Kazakh URL): adilet source_url, else zan_url, else upstream `source`."""
    if isinstance(meta.get("source_url"), str) and meta["source_url"]:
        rus = meta["source_url"]
        return rus, _kaz_url(rus)
    if isinstance(meta.get("zan_url"), str) and meta["zan_url"]:
        rus = meta["zan_url"]
        return rus, _kaz_url(rus)
    src = meta.get("source")
    if isinstance(src, dict) and (src.get("rus") or src.get("kaz")):
        rus = src.get("rus") or src["kaz"].replace("/kaz", "/rus")
        return rus, src.get("kaz") or _kaz_url(rus)
    if isinstance(src, str) and src:
        return src, _kaz_url(src)
    if re.fullmatch(r"[A-Z]\d{9,10}_?", code):
        return f"https://adilet.zan.kz/rus/docs/{code}", f"https://adilet.zan.kz/kaz/docs/{code}"
    doc = meta.get("zan_doc_id") or code
    return f"https://zan.gov.kz/client/#!/doc/{doc}/rus", f"https://zan.gov.kz/client/#!/doc/{doc}/kaz"


def read_regular_text(path: Path) -> str:
    """The UTF-8 text of `path`, which must be a regular file: it is opened without blocking and
    checked after opening, so a FIFO or device put in its place cannot hang or feed the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file ({_kind(os.fstat(fd).st_mode)})")
        data = fh.read()
    return data.decode("utf-8")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _read_meta(path: Path) -> dict:
    import yaml

    try:
        meta = yaml.load(read_regular_text(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError) as exc:
        raise LexkzError(f"cannot read {path}: {exc}; check the file's permissions and that it is UTF-8") from exc
    except yaml.YAMLError as exc:
        raise LexkzError(f"{path} is not valid YAML ({exc}); fix the file or remove the act folder") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise LexkzError(f"{path} must be a YAML mapping (code, title_ru, status, source_url, ...), not {type(meta).__name__}")
    return meta


def _act_from_meta(meta: dict, folder: Path, rel: str, first_titles: dict[str, str]) -> Act:
    code = meta.get("code") or meta.get("act_code")
    if not isinstance(code, (str, int)) or not str(code).strip():  # never guess it: a guess silently re-codes an act
        raise LexkzError(f"{folder / 'meta.yaml'} has no act code: add `code: <adilet document code>` "
                         f"(e.g. `code: K1500000414`) to it, or remove the act folder")
    code = str(code).strip()
    title = meta.get("title")
    title_ru = meta.get("title_ru") or (title.get("rus") if isinstance(title, dict) else title if isinstance(title, str) else None)
    title_kz = meta.get("title_kz") or (title.get("kaz") if isinstance(title, dict) else None)
    title_ru = title_ru or first_titles.get("rus")
    title_kz = title_kz or first_titles.get("kaz")
    status_text = str(meta.get("status") or "")
    if not status_text and re.search(r"прекратил|утратил", str(meta.get("requisite") or ""), re.IGNORECASE):
        status_text = str(meta["requisite"])
    url, url_kaz = _urls(meta, code)
    act_type = meta.get("act_type") or meta.get("form")
    dates = {k: meta_date(meta, k, folder) for k in ("in_force_from", "in_force_to", "edition_date")}
    if dates["edition_date"] is None:
        dates["edition_date"] = meta_date(meta, "version_date", folder)  # the upstream layout's name
    return Act(code=code, title_ru=title_ru, title_kz=title_kz, act_type=str(act_type) if act_type else None,
               status=normalize_status(status_text), status_text=status_text, url=url, url_kaz=url_kaz, folder=rel,
               caused_by=_text_or_none(meta.get("caused_by") or meta.get("edition")), **dates)


def _text_or_none(value) -> str | None:
    if isinstance(value, dict):  # upstream caused_by may be a mapping (title, date, number)
        value = ", ".join(f"{v}" for v in value.values() if v)
    return str(value).strip() or None if value else None


def meta_date(meta: dict, key: str, folder: Path) -> str | None:
    """An ISO date field of meta.yaml ("2022-09-17" or a YAML date), None when absent or null."""
    import datetime as _dt

    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, _dt.date):
        return value.isoformat()[:10]
    try:
        return _dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise LexkzError(f"{folder / 'meta.yaml'}: `{key}: {value}` is not an ISO date (YYYY-MM-DD); "
                         f"fix it or set it to null") from None


# ---------------------------------------------------------------- text


def _read_text(path: Path) -> str:
    try:
        text = read_regular_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise LexkzError(f"cannot read {path}: {exc}; check the file's permissions and that it is UTF-8 text") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_source_text(text: str) -> tuple[list[str], int]:
    """Drop YAML front matter (upstream files); returns (lines, number of the first line)."""
    first = 1
    m = _FRONT_MATTER.match(text)
    if m:
        first += m.group(0).count("\n")
        text = text[m.end():]
    return text.split("\n"), first


def _first_title(text: str) -> str | None:
    for line in clean_source_text(text)[0]:
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


def split_articles(
    text: str,
    act_code: str,
    act_title: str,
    lang: str,
    url: str,
    status: str = "in_force",
    source: str = "",
    warnings: list[str] | None = None,
) -> list[Article]:
    """Split one act text into articles (in file order).

    `source` names the file in warnings and in `Article.source` ("rus.md" -> "rus.md:57").
    A heading-only article (e.g. "### Статья 20. (Исключена ...)") gets its heading title as
    text. A repeated article number keeps the first article and warns.
    """
    lines, first_no = clean_source_text(text)
    articles: list[Article] = []
    seen: dict[str, str] = {}
    current: dict | None = None

    def warn(msg: str) -> None:
        log.warning(msg)
        if warnings is not None:
            warnings.append(msg)

    def flush() -> None:
        if current is None:
            return
        body = "\n".join(current["lines"]).strip()
        number, title = current["number"], current["title"]
        if number in seen:
            warn(f"{current['where']}: duplicate article number {number} (first at {seen[number]}); the duplicate is skipped")
            return
        seen[number] = current["where"]
        body = body or title or f"{number}"
        articles.append(Article(
            id=article_id(act_code, number, lang), act_code=act_code, act_title=act_title, number=number,
            title=title, text=body, lang=lang, url=url, status=status,
            sha256=sha256_text(title + "\n" + body), position=len(articles), source=current["where"],
        ))

    for offset, line in enumerate(lines):
        where = f"{source}:{first_no + offset}"
        if _ANCHOR.match(line):
            continue
        m = _ARTICLE.match(line)
        if m:
            flush()
            number = m.group("ru") or m.group("kz")
            current = {"number": number, "title": m.group("title").strip().rstrip("*").strip(), "where": where, "lines": []}
            continue
        if _ARTICLE_LIKE.match(line):
            warn(f"{where}: cannot parse article heading {line.strip()!r} (expected '### Статья N. Title' or "
                 f"'### N-бап. Title'); its text stays with the previous article")
            if current is not None:
                current["lines"].append(line)
            continue
        if _HEADING.match(line):  # chapter / section heading: ends the article
            flush()
            current = None
            continue
        if current is not None:
            current["lines"].append(line)
    flush()
    return articles


# ---------------------------------------------------------------- corpus


def _is_regular(path: Path) -> bool:
    """A regular file (a symlink to one counts); FIFOs, sockets, devices and folders do not."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _skip(path: Path, why: str, warnings: list[str] | None) -> None:
    msg = f"{path}: {why}; skipped"
    log.warning(msg)
    if warnings is not None:
        warnings.append(msg)


def _text_files(folder: Path, lang: str, warnings: list[str] | None = None) -> list[Path]:
    """`<lang>.md`, else the parts `<lang>/*.md` (regular files only; others are skipped with a warning)."""
    single = folder / f"{lang}.md"
    if _is_regular(single):
        return [single]
    if os.path.lexists(single):
        _skip(single, _describe(single), warnings)
    parts = folder / lang
    if parts.is_symlink() and parts.is_dir():
        _skip(parts, "is a symlink to a folder, which is not followed (copy the parts in)", warnings)
        return []
    if not parts.is_dir():
        return []
    found = []
    for p in sorted(parts.glob("*.md")):
        if _is_regular(p):
            found.append(p)
        else:
            _skip(p, _describe(p), warnings)
    return found


def _describe(path: Path) -> str:
    try:
        return f"is {_kind(path.stat().st_mode)}, not a regular file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def find_act_folders(root: Path, warnings: list[str] | None = None) -> list[Path]:
    """Folders holding one act (meta.yaml and/or rus.md/kaz.md), sorted; errors on half-acts.

    Symlinked folders are never followed (a link loop or a link out of the corpus would be
    read otherwise), and act files that are not regular files (a FIFO named meta.yaml) are
    skipped: both with a warning. A folder whose meta.yaml is not a regular file is skipped."""
    found: list[Path] = []

    def walk(d: Path) -> None:
        try:
            entries = sorted(d.iterdir())
        except OSError as exc:
            raise LexkzError(f"cannot read corpus folder {d}: {exc}; check its permissions") from exc
        names = {e.name for e in entries}
        if "meta.yaml" in names and not _is_regular(d / "meta.yaml"):
            _skip(d, f"its meta.yaml {_describe(d / 'meta.yaml')}", warnings)
            return
        has_meta = "meta.yaml" in names
        texts = [lang for lang in LANGS if _text_files(d, lang, warnings if has_meta else None)] if has_meta else [
            lang for lang in LANGS if f"{lang}.md" in names and _is_regular(d / f"{lang}.md")]
        if has_meta and not texts:
            raise LexkzError(f"act folder {d} has meta.yaml but no rus.md or kaz.md: add the act text or remove the folder")
        if texts and not has_meta:
            raise LexkzError(f"act folder {d} has {texts[0]}.md but no meta.yaml: add meta.yaml "
                             f"(code, title_ru, status, source_url) or remove the folder")
        if has_meta:
            found.append(d)
            return
        for e in entries:
            if e.name.startswith((".", "_")):
                continue
            if e.is_symlink():
                if e.is_dir():
                    _skip(e, "is a symlink to a folder, which is not followed (copy the folder in if it belongs "
                             "to the corpus)", warnings)
                continue
            if e.is_dir():
                walk(e)

    walk(root)
    return found


def git_commit(path: Path) -> str | None:
    """HEAD commit of the git repo whose HEAD has files under `path`, else None. Read with
    plumbing only (index.gitsafe): the folder's git config runs nothing."""
    if not tracked_blobs(path):
        return None
    return head_commit(path)


def corpus_revision(root: Path, files: list[Path]) -> dict:
    """The corpus revision: the git HEAD commit when the corpus is in a git repo; the commits of
    the scope repos below it (after `lexkz corpus sync`); else a hash of the file hashes."""
    files_id = sha256_text("\n".join(f"{p.relative_to(root)} {sha256_file(p)}" for p in sorted(files)))
    commit = git_commit(root)
    if commit:
        dirty = differs_from_head(root, files)
        rev = {"kind": "git", "commit": commit, "dirty": dirty, "id": commit if not dirty else f"{commit}+{files_id[:12]}"}
        return rev
    repos = {}
    for git_dir in sorted(list(root.glob("*/.git")) + list(root.glob("*/*/.git"))):
        c = git_commit(git_dir.parent)
        if c:
            repos[str(git_dir.parent.relative_to(root))] = c
    if repos:
        return {"kind": "git-repos", "commits": repos, "id": sha256_text(repr(sorted(repos.items())))[:40],
                "files_id": files_id}
    return {"kind": "files", "id": files_id}


def read_corpus(path: str | Path, langs: tuple[str, ...] = LANGS) -> CorpusSnapshot:
    """Read every act under `path` (either layout) and split it into articles."""
    root = Path(path)
    if not root.exists():
        raise LexkzError(f"corpus directory {root} does not exist: pass --corpus DIR with act folders "
                         f"(meta.yaml + rus.md/kaz.md), or fetch one with `lexkz corpus sync --dir {root}`")
    if not root.is_dir():
        raise LexkzError(f"corpus path {root} is not a directory: pass the folder that holds the act folders")
    warnings: list[str] = []
    folders = find_act_folders(root, warnings)
    if not folders:
        links = sum("symlink to a folder" in w for w in warnings)
        raise LexkzError(f"no acts found under {root}: expected folders with meta.yaml and rus.md/kaz.md "
                         f"(see ../shared/corpus/README.md)"
                         + (f"; {links} symlinked folder(s) were not followed: copy the act folders in" if links else ""))
    acts: list[Act] = []
    articles: list[Article] = []
    files: list[Path] = []
    seen_codes: dict[str, str] = {}
    for folder in folders:
        act, act_articles = _read_act(folder, root, langs, warnings, files)
        rel = act.folder
        if act.code in seen_codes:
            raise LexkzError(f"act code {act.code} appears twice ({seen_codes[act.code]} and {rel}): "
                             f"give each act folder its own `code` in meta.yaml")
        seen_codes[act.code] = rel
        articles.extend(act_articles)
        acts.append(act)
    history = _read_history(root, seen_codes, langs, warnings, files)
    for act in acts:
        older = git_editions(root, act, langs, warnings)
        if older:
            act.complete_history = True
            history.setdefault(act.code, []).extend(older)
    return CorpusSnapshot(root=root, acts=acts, articles=articles, revision=corpus_revision(root, files),
                          warnings=warnings, history=history)


def _read_act(folder: Path, root: Path, langs: tuple[str, ...], warnings: list[str], files: list[Path]) -> tuple[Act, list[Article]]:
    """One act folder (meta.yaml + texts) -> (Act, its articles in file order per language)."""
    rel = str(folder.relative_to(root)) if folder != root else "."
    texts: dict[str, list[tuple[str, str]]] = {}
    for lang in langs:
        parts = _text_files(folder, lang)
        if parts:
            texts[lang] = [(str(p.relative_to(root)), _read_text(p)) for p in parts]
            files.extend(parts)
    files.append(folder / "meta.yaml")
    return _act_with_articles(_read_meta(folder / "meta.yaml"), folder, rel, texts, warnings)


def _act_with_articles(meta: dict, folder: Path, rel: str, texts: dict[str, list[tuple[str, str]]],
                       warnings: list[str]) -> tuple[Act, list[Article]]:
    """meta.yaml contents and {lang: [(source name, text)]} -> (Act, its articles)."""
    from dataclasses import replace

    first_titles = {lang: _first_title(parts[0][1]) for lang, parts in texts.items()}
    act = _act_from_meta(meta, folder, rel, {k: v for k, v in first_titles.items() if v})
    articles: list[Article] = []
    for lang, parts in texts.items():
        lang_articles: list[Article] = []
        for src, text in parts:
            got = split_articles(text, act.code, act.title(lang), lang, act.url_for(lang), act.status, src, warnings)
            known = {a.number for a in lang_articles}
            for a in got:
                if a.number in known:
                    msg = f"{a.source}: duplicate article number {a.number} in another part; skipped"
                    log.warning(msg)
                    warnings.append(msg)
                    continue
                lang_articles.append(a)
        if not lang_articles:
            msg = f"{parts[0][0]}: no article headings found ('### Статья N.' / '### N-бап.'); nothing indexed from it"
            log.warning(msg)
            warnings.append(msg)
        # positions run over all parts of one language
        lang_articles = [replace(a, position=i) for i, a in enumerate(lang_articles)]
        act.langs.append(lang)
        act.article_count[lang] = len(lang_articles)
        articles.extend(lang_articles)
    return act, articles


def _read_history(root: Path, codes: dict[str, str], langs: tuple[str, ...], warnings: list[str],
                  files: list[Path]) -> dict[str, list[tuple[Act, list[Article]]]]:
    """Older editions under `_versions/<CODE>/<edition>/` (shared layout): {code: [(Act, articles)]}."""
    base = root / "_versions"
    history: dict[str, list[tuple[Act, list[Article]]]] = {}
    if not base.is_dir():
        return history
    for code_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for ed_dir in sorted(p for p in code_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not (ed_dir / "meta.yaml").is_file():
                raise LexkzError(f"edition folder {ed_dir} has no meta.yaml: add one (code, edition_date) or remove the folder")
            act, arts = _read_act(ed_dir, root, langs, warnings, files)
            if act.code != code_dir.name:
                raise LexkzError(f"{ed_dir / 'meta.yaml'} names act {act.code}, but the folder is _versions/{code_dir.name}: "
                                 f"fix `code` in meta.yaml or move the folder")
            if act.code not in codes:
                msg = f"{ed_dir}: older edition of {act.code}, which has no current act folder; not indexed"
                log.warning(msg)
                warnings.append(msg)
                continue
            history.setdefault(act.code, []).append((act, arts))
    return history


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Read a corpus dir and print per-act article counts.")
    ap.add_argument("corpus")
    args = ap.parse_args(argv)
    snap = read_corpus(args.corpus)
    for act in snap.acts:
        counts = ", ".join(f"{lang} {n}" for lang, n in act.article_count.items())
        print(f"{act.code:14s} {act.status:9s} {counts:22s} {act.title_ru or act.title_kz}")
    print(f"{len(snap.acts)} acts, {len(snap.articles)} articles, revision {snap.revision['id'][:16]} ({snap.revision['kind']})")
    for w in snap.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- upstream git history


def git_editions(root: Path, act: Act, langs: tuple[str, ...], warnings: list[str]) -> list[tuple[Act, list[Article]]]:
    """Older versions of an upstream act (meta.yaml with `version_date`) from the git history of
    its folder: one edition per commit that touched it, oldest first, the newest commit left out
    (it is the folder itself). Each edition's folder label is "<folder>@<commit[:12]>". Dates
    that do not increase from commit to commit are a LexkzError naming the act and commits."""
    folder = root / act.folder
    if act.edition_date is None or not (folder / "meta.yaml").is_file():
        return []
    if "version_date" not in _read_meta(folder / "meta.yaml"):
        return []
    top = _git(folder, "rev-parse", "--show-toplevel")
    log_out = _git(folder, "log", "--format=%H", "--reverse", "--", ".")
    if not top or not log_out:
        return []
    prefix = str(folder.resolve().relative_to(Path(top).resolve()))
    commits = log_out.split()
    out: list[tuple[Act, list[Article]]] = []
    dated: list[tuple[str, str]] = []
    for commit in commits[:-1]:
        meta_text = _git(folder, "show", f"{commit}:{prefix}/meta.yaml")
        if meta_text is None:
            continue
        import yaml

        try:
            meta = yaml.safe_load(meta_text) or {}
        except yaml.YAMLError as exc:
            raise LexkzError(f"act {act.code}: meta.yaml at commit {commit[:12]} is not valid YAML ({exc})") from None
        texts: dict[str, list[tuple[str, str]]] = {}
        for lang in langs:
            names = [f"{prefix}/{lang}.md"]
            listing = _git(folder, "ls-tree", "--name-only", commit, f"{prefix}/{lang}/")
            if listing:
                names = sorted(n for n in listing.split("\n") if n.endswith(".md"))
            for name in names:
                text = _git_raw(folder, "show", f"{commit}:{name}")
                if text is not None:
                    texts.setdefault(lang, []).append((f"{act.folder}/{Path(name).name}@{commit[:12]}",
                                                       text.replace("\r\n", "\n")))
        if not texts:
            continue
        ed, arts = _act_with_articles(meta, folder, f"{act.folder}@{commit[:12]}", texts, warnings)
        if ed.code != act.code:
            raise LexkzError(f"act {act.code}: its meta.yaml at commit {commit[:12]} names act {ed.code}; "
                             f"the folder's history mixes acts: fix the repository or index it without history")
        ed.complete_history = True
        dated.append((ed.edition_date or "", f"commit {commit[:12]}"))
        out.append((ed, arts))
    dated.append((act.edition_date, "the working tree"))
    for (d1, c1), (d2, c2) in zip(dated, dated[1:]):
        if not d1 or d2 <= d1:
            raise LexkzError(f"act {act.code} ({act.folder}): version_date {d2 or 'missing'} at {c2} does not "
                             f"come after {d1 or 'a missing date'} at {c1}: overlapping or backwards "
                             f"versions are not merged; fix version_date in the upstream meta.yaml", 2)
    return out


def _git_raw(root: Path, *args: str) -> str | None:
    """stdout of `git ARGS` in `root`, exactly, run with the safe settings (index.gitsafe: the
    folder's git config runs nothing); None when git fails."""
    try:
        return run_git(list(args), cwd=root)
    except GitError:
        return None


def _git(root: Path, *args: str) -> str | None:
    out = _git_raw(root, *args)
    return None if out is None else out.strip()
