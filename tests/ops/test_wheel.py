"""The portal as an operations team installs it: a wheel (issue 20, item 1).

The wheel is built once from a copy of the checkout without its compiled catalogues, so
setup.py must compile them itself; it must carry the templates, static files, migrations
and both catalogues. It is installed into a fresh virtualenv (its dependencies borrowed
from this one through a .pth file, so no network is needed), and everything after that
runs the fresh venv's python from a directory outside the checkout: `flask db upgrade`
brings a new database of the backend under test to the head, and gunicorn with the
packaged settings (app/gunicorn_conf.py), in production, serves the log-in page in
Vietnamese and the static files. Production refuses to start without a catalogue.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from sqlalchemy import create_engine, inspect, text

from app.config import ConfigError, database_url
from app.extensions import db
from bench.load_app import BenchError
from bench.load_bench import serving
from tests.conftest import make_app
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
SECRET = "wheel-test-" + "w" * 40
LANGUAGES = ("vi", "en")
# Left out of the copy the wheel is built from: what a build or a test run leaves behind,
# and the compiled catalogues, which the build must make itself.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "instance", "*.egg-info",
                                     "__pycache__", "*.pyc", "*.mo", ".pytest_cache",
                                     ".ruff_cache", "test-output", "node_modules")


def _data_files(folder: str) -> set[str]:
    """The checkout's files under <folder> (beside app/), as the wheel names them: inside
    the package, app/<folder>/…"""
    return {"app/" + path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
            and path.suffix not in (".pyc", ".mo")}


def _translations(catalogue) -> dict[str, tuple[str, ...]]:
    """A catalogue's translated messages: id (a plural's singular) -> its strings."""
    return {(m.id if isinstance(m.id, str) else m.id[0]):
            ((m.string,) if isinstance(m.string, str) else tuple(m.string))
            for m in catalogue if m.id}


def _vietnamese(msgid: str) -> str:
    with (APP / "translations" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        translated = read_po(f).get(msgid).string
    assert translated, f"{msgid!r} has no Vietnamese translation"
    return translated


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the checkout without any .mo file or build leftovers."""
    copy = tmp_path_factory.mktemp("source") / "family-connect"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCES)
    assert not list(copy.rglob("*.mo"))
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    """The wheel, built by `pip wheel` without network and without build isolation."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "-w", str(work / "dist")],
        capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list((work / "dist").glob("family_connect-*.whl"))
    assert len(wheels) == 1, built.stdout
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed by pip; the portal's dependencies come
    from this interpreter's site-packages through a .pth file."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)],  # noqa: S603
                   check=True)
    python = home / "bin" / "python"
    site_packages = Path(subprocess.run(  # noqa: S603
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "family_connect_test_deps.pth").write_text("\n".join(ours) + "\n")
    installed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home


@pytest.fixture(scope="module")
def site_packages(venv) -> Path:
    return Path(subprocess.run(  # noqa: S603
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip())


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> Path:
    """A working directory outside the checkout, as an operator's would be."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def database(fresh_database_url) -> str:
    """An empty database of the backend under test."""
    return fresh_database_url()


def production_env(database: str, **settings: str) -> dict[str, str]:
    """The environment production asks for; nothing that would point back at the checkout
    (no PYTHONPATH, no INSTANCE_PATH: the installed package finds its own)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTHON", "FLASK_", "INSTANCE_PATH", "RATELIMIT_",
                                   "WEB_CONCURRENCY", "TRUSTED_HOSTS", "BABEL_"))}
    env.update({"APP_ENV": "production", "SECRET_KEY": SECRET, "DATABASE_URL": database,
                "PUBLIC_BASE_URL": "http://127.0.0.1", "FORCE_HTTPS": "0",
                "SESSION_COOKIE_SECURE": "0", "LOG_LEVEL": "WARNING"})
    env.update(settings)
    return env


def run_installed(venv: Path, cwd: Path, env: dict[str, str], *args: str):
    """The fresh venv's python with `args`, from `cwd`, output and errors together."""
    return subprocess.run([str(venv / "bin" / "python"), *args], cwd=cwd, env=env,  # noqa: S603
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, check=False)


@contextlib.contextmanager
def gunicorn(venv: Path, cwd: Path, env: dict[str, str], port: int,
             log: Path) -> Iterator[str]:
    """The installed portal under gunicorn with its packaged settings, until /healthz
    answers; stopped with SIGTERM on leaving."""
    command = [str(venv / "bin" / "python"), "-m", "gunicorn", "-c", "python:app.gunicorn_conf",
               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning",
               "app:create_app()"]
    try:
        with serving(command, env=env, port=port, log=log, cwd=cwd):
            yield f"http://127.0.0.1:{port}"
    except BenchError as exc:
        pytest.fail(str(exc))


def test_the_wheel_carries_templates_static_files_migrations_and_compiled_catalogues(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        compiled = {lang: archive.read(f"app/translations/{lang}/LC_MESSAGES/messages.mo")
                    for lang in LANGUAGES if f"app/translations/{lang}/LC_MESSAGES/messages.mo"
                    in names}
    for folder in ("templates", "static", "migrations"):
        expected = _data_files(folder)
        assert expected, folder
        assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert {"app/migrations/env.py", "app/migrations/alembic.ini",
            "app/migrations/script.py.mako"} <= names
    assert any(name.startswith("app/static/vendor/") for name in names)
    assert sorted(compiled) == sorted(LANGUAGES), "a catalogue is missing from the wheel"
    # Each .mo was compiled from its messages.po by the build (the copy had none): it says
    # what `pybabel compile` makes of the checkout's messages.po.
    for lang in LANGUAGES:
        reference = io.BytesIO()
        with (APP / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
            write_mo(reference, read_po(f))
        reference.seek(0)
        assert _translations(read_mo(io.BytesIO(compiled[lang]))) \
            == _translations(read_mo(reference)), lang
    with (APP / "translations" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        assert _translations(read_mo(io.BytesIO(compiled["vi"]))) == _translations(read_po(f))
    # Nothing a checkout leaves lying around, and neither the tests nor the checkout's
    # entry points.
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith(("tests/", "bench/", "scripts/"))]
    assert "wsgi.py" not in names
    assert "gunicorn.conf.py" not in names


def test_python_m_build_makes_the_same_wheel_from_its_sdist(source, wheel, tmp_path):
    """`python -m build` builds the sdist, then the wheel from the sdist alone: the sdist
    must carry setup.py and the messages.po files for the catalogues to be compiled."""
    built = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path),
         str(source)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    [from_sdist] = tmp_path.glob("family_connect-*.whl")
    with zipfile.ZipFile(from_sdist) as one, zipfile.ZipFile(wheel) as other:
        assert sorted(one.namelist()) == sorted(other.namelist())
        for lang in LANGUAGES:
            name = f"app/translations/{lang}/LC_MESSAGES/messages.mo"
            assert one.read(name) == other.read(name)


def test_the_installed_package_runs_from_its_venv_and_keeps_its_instance_there(
        venv, site_packages, elsewhere, database):
    found = run_installed(venv, elsewhere, production_env(database, APP_ENV="test"), "-c",
                          "import app; print(app.__file__); "
                          "print(app.create_app().instance_path)")
    assert found.returncode == 0, found.stdout
    module, instance = found.stdout.strip().splitlines()[-2:]
    assert Path(module) == site_packages / "app" / "__init__.py"
    assert not Path(module).is_relative_to(ROOT)
    # Flask's own default for an installed package: the venv's var/, never site-packages,
    # the checkout or the directory the command ran from.
    assert Path(instance) == venv / "var" / "app-instance"
    assert Path(instance).is_dir()
    assert not (site_packages / "instance").exists()
    assert not (elsewhere / "instance").exists()


def test_flask_db_upgrade_from_the_installed_package_brings_the_database_to_head(
        venv, elsewhere, database):
    upgraded = run_installed(venv, elsewhere, production_env(database),
                             "-m", "flask", "--app", "app", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout
    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    engine = create_engine(database_url(database, str(elsewhere)))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
                == [head]
        assert set(db.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    current = run_installed(venv, elsewhere, production_env(database),
                            "-m", "flask", "--app", "app", "db", "current")
    assert current.returncode == 0, current.stdout
    assert f"{head} (head)" in current.stdout


def test_gunicorn_with_the_packaged_settings_serves_vietnamese_pages_and_static_files(
        venv, elsewhere, database, tmp_path):
    migrated = run_installed(venv, elsewhere, production_env(database),
                             "-m", "flask", "--app", "app", "db", "upgrade")
    assert migrated.returncode == 0, migrated.stdout
    port = free_port()
    env = production_env(database, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    with gunicorn(venv, elsewhere, env, port, tmp_path / "gunicorn.log") as base, \
            httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/account/login")
        stylesheet = client.get("/static/css/app.css")
        vendored = sorted((ROOT / "static" / "vendor").glob("htmx-*.min.js"))[0]
        script = client.get(f"/static/vendor/{vendored.name}")
        api_docs = client.get("/api/docs")  # a static page of the package, sent by a view
    assert page.status_code == 200, page.text
    assert '<html lang="vi">' in page.text
    for msgid in ("Forgot your password?", "No account yet?"):
        assert _vietnamese(msgid) in page.text
        assert msgid not in page.text
    assert stylesheet.status_code == 200
    assert stylesheet.content == (ROOT / "static" / "css" / "app.css").read_bytes()
    assert script.status_code == 200
    assert script.content == vendored.read_bytes()
    assert api_docs.status_code == 200
    assert api_docs.content == (ROOT / "static" / "api-docs" / "index.html").read_bytes()


def test_the_packaged_gunicorn_settings_refuse_several_workers_counting_limits_apart(
        venv, elsewhere, database):
    """app/gunicorn_conf.py is what gunicorn reads: its on_starting hook refuses two
    workers on memory:// in production, as ./gunicorn.conf.py did in the checkout."""
    refused = run_installed(
        venv, elsewhere, production_env(database), "-m", "gunicorn", "-c",
        "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{free_port()}", "--workers", "2",
        "app:create_app()")
    assert refused.returncode != 0
    assert "RATELIMIT_STORAGE_URI=redis://" in refused.stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_production_refuses_to_start_when_an_installed_catalogue_is_missing(
        venv, site_packages, elsewhere, database, language):
    catalogue = site_packages / "app" / "translations" / language / "LC_MESSAGES" / "messages.mo"
    assert catalogue.is_file()
    hidden = catalogue.with_suffix(".hidden")
    catalogue.rename(hidden)
    try:
        refused = run_installed(venv, elsewhere, production_env(database),
                                "-m", "flask", "--app", "app", "db", "current")
        developing = run_installed(venv, elsewhere,
                                   production_env(database, APP_ENV="development",
                                                  INSTANCE_PATH=str(elsewhere / "dev")),
                                   "-m", "flask", "--app", "app", "db", "current")
    finally:
        hidden.rename(catalogue)
    assert refused.returncode != 0
    assert "ConfigError" in refused.stdout
    assert str(catalogue) in refused.stdout
    assert "pip wheel" in refused.stdout
    # Development says the same, and starts.
    assert developing.returncode == 0, developing.stdout
    assert str(catalogue) in developing.stdout
    # With the catalogue back, production starts.
    started = run_installed(venv, elsewhere, production_env(database),
                            "-m", "flask", "--app", "app", "db", "current")
    assert started.returncode == 0, started.stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_create_app_names_the_missing_catalogue(fresh_database_url, tmp_path, caplog,
                                                language):
    """BABEL_TRANSLATION_DIRECTORIES (Flask-Babel's own setting) pointed at catalogues
    that lack one language: production raises ConfigError naming the file; the test
    environment only warns."""
    for lang in LANGUAGES:
        if lang != language:
            folder = tmp_path / lang / "LC_MESSAGES"
            folder.mkdir(parents=True)
            shutil.copy(APP / "translations" / lang / "LC_MESSAGES" / "messages.po", folder)
            with (folder / "messages.po").open("rb") as po, \
                    (folder / "messages.mo").open("wb") as mo:
                write_mo(mo, read_po(po))
    missing = tmp_path / language / "LC_MESSAGES" / "messages.mo"
    url = fresh_database_url()
    with pytest.raises(ConfigError) as refused:
        make_app(url, APP_ENV="production", BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    assert str(missing) in str(refused.value)
    assert "scripts/i18n compile" in str(refused.value)
    with caplog.at_level(logging.WARNING, logger="app.config"):
        make_app(url, BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    assert [r for r in caplog.records if str(missing) in r.getMessage()]
    # Both catalogues there: production starts.
    caplog.clear()
    make_app(url, APP_ENV="production")
    assert not [r for r in caplog.records if "catalogue" in r.getMessage()]
