"""The build steps pyproject.toml cannot declare: the package's data from outside it, and
the compiled translation catalogues.

templates/, static/ and migrations/ sit at the checkout's top level (STYLE.md), beside
app/, not inside it: build_py copies them into the package in the build directory
(app/templates, app/static, app/migrations), where create_app finds them once installed
(app.resource_dir). MANIFEST.in puts them in the source distribution, so a wheel built
from it has them too. An editable install copies nothing: the checkout has them.

The .mo files are built, not kept in git. `pip install .`, `pip wheel .` and
`python -m build` all run build_py, which here also compiles every
app/translations/<lang>/LC_MESSAGES/messages.po into messages.mo beside it in the build
directory, with Babel's own reader and writer (what `pybabel compile` calls), so the
wheel carries working catalogues without `scripts/i18n compile`. An editable install
(`pip install -e .`) writes them into the checkout instead, as scripts/i18n compile does.
Everything else about the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

HERE = Path(__file__).resolve().parent
TRANSLATIONS = Path("app") / "translations"
# The package's data kept beside it at the top level of the checkout.
RESOURCES = ("templates", "static", "migrations")


def compile_catalogue(po_path: Path, mo_path: Path) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    language = po_path.parent.parent.name
    with po_path.open("rb") as source:
        catalogue = read_po(source, locale=language)
    if catalogue.fuzzy:  # pybabel compile would skip it and leave no .mo at all
        raise SetupError(f"{po_path} is marked fuzzy in its header: a fuzzy catalogue "
                         "is not compiled, and the portal would speak English.")
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    with mo_path.open("wb") as target:
        write_mo(target, catalogue)


def copy_resources(build_lib: Path) -> None:
    for name in RESOURCES:
        source = HERE / name
        if not source.is_dir():
            raise SetupError(f"{source} is missing: the portal cannot run without it.")
        shutil.copytree(source, build_lib / "app" / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


class BuildPyWithCatalogues(build_py):
    """build_py, then the top-level templates, static files and migrations copied into
    the package, and messages.mo from every messages.po of the app's catalogues."""

    def run(self):
        super().run()
        if not self.editable_mode:
            copy_resources(Path(self.build_lib))
        sources = sorted((HERE / TRANSLATIONS).glob("*/LC_MESSAGES/messages.po"))
        if not sources:
            raise SetupError(f"No catalogue found under {HERE / TRANSLATIONS}.")
        target_root = HERE if self.editable_mode else Path(self.build_lib)
        for po_path in sources:
            mo_path = target_root / po_path.relative_to(HERE).with_suffix(".mo")
            self.announce(f"compiling catalogue {po_path.relative_to(HERE)} -> {mo_path}",
                          level=2)
            compile_catalogue(po_path, mo_path)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
