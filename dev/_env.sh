# Shared by dev/start and dev/test: find Python >= 3.11 and build ./.venv with clawkeeper installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "clawkeeper needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}

ensure_venv() {
  local py
  py="$(pick_python)"
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
  fi
  # the stamp makes repeated runs fast: reinstall only when pyproject.toml changed
  local stamp=.venv/.clawkeeper-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[lab,dev]'
    touch "$stamp"
  fi
}
