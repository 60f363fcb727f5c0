"""The repository stands alone: its code and docs cite files of the repository only.

Three checks over the text files of abaw/, recipes/, benchmarks/, scripts/, docs/ and README.md:
- nothing cites the notes or papers kept outside the repository (``shared/notes``, ``shared/papers``,
  ``../shared/``); papers are cited by their titles;
- every ``docs/<name>.md`` that a file names exists, and every relative Markdown link to a ``.md`` file
  resolves;
- a page of docs/ (or one of the former outside notes) is named by its path ``docs/<name>.md``, so that the
  check above can see it, not by its bare file name.
And one over the Markdown pages: the repository paths (``abaw/data/layout.py``) and dotted names
(``abaw.distill.ot.centroid_loss``) they point the reader to exist, so a rename cannot leave a page behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED_FOLDERS = ("abaw", "recipes", "benchmarks", "scripts", "docs")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".txt", ".toml", ".cfg"}
# The notes the code once cited outside the repository, by file name: any mention must now be docs/<name>.
FORMER_NOTES = ("methods.md", "design.md", "abaw-format.md", "recola-format.md", "biovid-format.md",
                "calibration.md", "offline-weights.md", "style.md")

OUTSIDE_CITATION = re.compile(r"shared/notes|shared/papers|\.\./shared/")
DOCS_REFERENCE = re.compile(r"(?<![\w.-])docs/([\w./-]+?\.md)\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+?\.md)(?:#[^)\s]*)?\)")
REPOSITORY_PATH = re.compile(r"(?<![\w./-])((?:abaw|recipes|benchmarks|scripts|tests)/[\w./-]*[\w/])")
DOTTED_NAME = re.compile(r"(?<![\w./-])(abaw(?:\.\w+)+)")


def scanned_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in SCANNED_FOLDERS:
        files += sorted(p for p in (ROOT / folder).rglob("*")
                        if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts)
    return files


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def where(path: Path, lineno: int) -> str:
    return f"{path.relative_to(ROOT)}:{lineno}"


def bare_page_names() -> set[str]:
    return {p.name for p in (ROOT / "docs").glob("*.md")} | set(FORMER_NOTES)


def bare_mentions(line: str, names: set[str]) -> list[str]:
    """Names of docs pages in ``line`` that are neither ``docs/<name>`` nor a relative Markdown link."""
    found = []
    for name in names:
        for match in re.finditer(rf"(?<![\w./-]){re.escape(name)}\b", line):
            if not line[:match.start()].endswith("]("):
                found.append(name)
    return found


def test_the_scan_covers_the_repository():
    files = {p.relative_to(ROOT).as_posix() for p in scanned_files()}
    assert {"README.md", "abaw/tasks.py", "docs/methods.md", "docs/design.md", "docs/abaw-format.md"} <= files
    # The README lists the docs, so the reference scan has something to check.
    readme_references = {m for line in lines_of(ROOT / "README.md") for m in DOCS_REFERENCE.findall(line)}
    assert {"methods.md", "design.md", "abaw-format.md"} <= readme_references


def test_nothing_cites_notes_outside_the_repository():
    offenders = [f"{where(path, n)}: {line.strip()}" for path in scanned_files()
                 for n, line in enumerate(lines_of(path), start=1) if OUTSIDE_CITATION.search(line)]
    assert not offenders, "cite docs/<name>.md (or a paper by its title) instead:\n" + "\n".join(offenders)


def test_every_docs_page_named_exists():
    missing = [f"{where(path, n)}: docs/{name}" for path in scanned_files()
               for n, line in enumerate(lines_of(path), start=1) for name in DOCS_REFERENCE.findall(line)
               if not (ROOT / "docs" / name).is_file()]
    assert not missing, "these docs pages do not exist:\n" + "\n".join(missing)


def test_every_relative_markdown_link_resolves():
    broken = []
    for path in scanned_files():
        if path.suffix != ".md":
            continue
        for n, line in enumerate(lines_of(path), start=1):
            for target in MARKDOWN_LINK.findall(line):
                if "://" not in target and not (path.parent / target).resolve().is_file():
                    broken.append(f"{where(path, n)}: {target}")
    assert not broken, "these links point nowhere:\n" + "\n".join(broken)


def test_docs_pages_are_named_by_their_path():
    names = bare_page_names()
    bare = [f"{where(path, n)}: {name}" for path in scanned_files()
            for n, line in enumerate(lines_of(path), start=1) for name in bare_mentions(line, names)]
    assert not bare, "write docs/<name>.md, so that the page's existence is checked:\n" + "\n".join(bare)


def markdown_pages() -> list[Path]:
    return [p for p in scanned_files() if p.suffix == ".md"]


def undefined_parts(dotted: str) -> list[str]:
    """The parts of ``abaw.module.name.attr`` that the module's source never mentions (all of them when no
    prefix is a module of the repository)."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:k])
        for source in (base.with_suffix(".py"), base / "__init__.py"):
            if source.is_file():
                text = source.read_text(encoding="utf-8")
                return [name for name in parts[k:] if not re.search(rf"\b{re.escape(name)}\b", text)]
    return parts


def test_paths_named_in_the_docs_exist():
    missing = [f"{where(page, n)}: {path}" for page in markdown_pages()
               for n, line in enumerate(lines_of(page), start=1) for path in REPOSITORY_PATH.findall(line)
               if not (ROOT / path).exists()]
    assert not missing, "these files or folders do not exist:\n" + "\n".join(missing)


def test_dotted_names_in_the_docs_exist():
    unknown = [f"{where(page, n)}: {name} ({', '.join(undefined_parts(name))} not found)" for page in markdown_pages()
               for n, line in enumerate(lines_of(page), start=1) for name in DOTTED_NAME.findall(line)
               if undefined_parts(name)]
    assert not unknown, "these names are not in the code:\n" + "\n".join(unknown)


def test_a_renamed_module_is_noticed():
    assert undefined_parts("abaw.metrics.ccc") == []
    assert undefined_parts("abaw.metrics.no_such_metric") == ["no_such_metric"]
    assert "no_such_module" in undefined_parts("abaw.no_such_module.f")
    assert undefined_parts("numpy.mean") == ["numpy", "mean"]


@pytest.mark.parametrize("line, expected", [
    ("see methods.md section 4", ["methods.md"]),
    ("see docs/methods.md section 4", []),
    ("[docs/methods.md](methods.md)", []),
    ("recipes/methods.md", []),
])
def test_bare_mentions_are_told_from_paths_and_links(line, expected):
    assert bare_mentions(line, {"methods.md"}) == expected
