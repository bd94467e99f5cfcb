"""The shape of app/ (docs/architecture.md): no two packages import each other, no
module circles, no commit in a route module, and the layer contracts that the test
command runs with lint-imports hold and can fail."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    """Every module of app/ and the app modules it imports directly."""
    graph = grimp.build_graph("app", cache_dir=None)
    return {module: {imported for imported in graph.find_modules_directly_imported_by(module)
                     if imported.startswith("app")}
            for module in graph.modules}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def two_way_ties(imports: dict[str, set[str]]) -> set[tuple[str, str]]:
    edges = {(_package(a), _package(b)) for a, targets in imports.items() for b in targets
             if _package(a) != _package(b) and _package(a) != "app"}
    return {tuple(sorted(edge)) for edge in edges if (edge[1], edge[0]) in edges}


def module_circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            circle = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                circle.append(member)
                if member == module:
                    break
            if len(circle) > 1:
                circles.append(sorted(circle))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return circles


def route_modules() -> list[Path]:
    """Modules that answer requests: views, the API, the home page, the pages' helpers."""
    found = [p for p in APP.rglob("*.py")
             if p.name == "views.py" or p.name.endswith("_views.py") or p.name == "blueprint.py"
             or p.parent.name == "api"]
    return sorted(found + [APP / "core.py", APP / "pages.py"])


def test_the_measures_find_what_they_look_for() -> None:
    """The counters themselves: a made-up two-way tie and circle are found."""
    made_up = {"app.a.x": {"app.b.y"}, "app.b.y": {"app.a.x"}, "app.c.z": set()}
    assert two_way_ties(made_up) == {("app.a", "app.b")}
    assert module_circles(made_up) == [["app.a.x", "app.b.y"]]
    assert module_circles({"app.a.x": {"app.a.y"}, "app.a.y": set()}) == []


def test_no_two_packages_import_each_other(imports) -> None:
    assert two_way_ties(imports) == set()


def test_no_module_circles(imports) -> None:
    assert module_circles(imports) == []


def test_no_route_module_commits() -> None:
    """One commit per request, at the boundary: routes call services and answer."""
    commits = {str(p.relative_to(ROOT)): len(re.findall(r"\.commit\(", p.read_text()))
               for p in route_modules()}
    assert len(commits) > 20  # the route modules were found
    assert {path: n for path, n in commits.items() if n} == {}


def test_no_feature_imports_the_api_or_another_features_views(imports) -> None:
    for module, targets in imports.items():
        if module.startswith(("app.api", "app.cli")) or module == "app":
            continue
        assert not {t for t in targets if t.startswith("app.api")}, module
        foreign_views = {t for t in targets if t.rsplit(".", 1)[-1].endswith("views")
                         and _package(t) != _package(module)}
        assert not foreign_views, module


def test_the_test_command_runs_the_contracts() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert re.search(r"^\.venv/bin/lint-imports$", script, re.M)
    pyproject = (ROOT / "pyproject.toml").read_text()
    for contract in ("layers", "acyclic_siblings", "independence"):
        assert f'type = "{contract}"' in pyproject


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "bad_import", "broken"), [
    # a lower layer importing a higher one
    ("groups/services.py", "import app.invites.services", "Entry points over features"),
    # a feature importing the API
    ("connections/queries.py", "import app.api.serializers", "Entry points over features"),
    # a view importing another feature's view
    ("membership/views.py", "import app.connections.views", "route module imports no other"),
    # a module circle inside a package
    ("connections/control.py", "import app.connections.blueprint", "No module circles"),
])
def test_the_contracts_can_fail(tmp_path, module, bad_import, broken) -> None:
    """Each contract breaks when an import it forbids is added to a copy of the code."""
    shutil.copytree(APP, tmp_path / "app", ignore=shutil.ignore_patterns(
        "__pycache__", "translations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "app" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(re.escape(broken) + r".*\n?.*BROKEN", result.stdout), result.stdout
