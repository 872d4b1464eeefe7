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

# Real servers the tests drive (no fakes): Prometheus + promtool (the /metrics scrape and the
# generated rule file) and OpenSSH's sshd (the SFTP backup target). Debian/Ubuntu packages.
ensure_test_servers() {
  local missing=()
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing+=(openssh-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "the tests need the packages: ${missing[*]} (install them with apt-get as root)" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "the tests need: ${missing[*]} (Prometheus 2.42+, OpenSSH sshd); install them with your package manager" >&2
    return 1
  fi
  echo "installing ${missing[*]} from the Debian archive (services are not started)"
  # policy-rc.d 101 keeps the packages' init scripts from starting daemons on this machine
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  [ "$created_policy" -eq 0 ] || $sudo rm -f "$policy"
}
