# Shared by scripts/run-demo and scripts/test: a virtualenv in .venv with the project
# installed. Installing compiles the translation catalogues too (setup.py writes each
# messages.mo beside its messages.po in an editable install).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed (PYTHON=$PYTHON is $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
target="."
[ -z "${EXTRAS:-}" ] || target=".[$EXTRAS]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
