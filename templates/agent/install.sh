#!/bin/sh
# Fleetwatch agent installer for Linux and macOS, served by {{ server }}.
#   curl -fsSL {{ server }}/agent/install.sh | sudo sh -s -- --token fwe_...
# Needs Python 3.11+ (python3 with venv; Debian/Ubuntu: apt-get install python3-venv). It puts the agent in its
# own virtualenv (/opt/fleetwatch-agent), checks the download against the server's SHA-256, enrolls with the
# token and installs the service (systemd, or launchd on macOS).
set -eu

SERVER="{{ server }}"
TOKEN=""
SERVICE=1
CONFIG=""
AGENT_HOME="${FLEETWATCH_AGENT_HOME:-/opt/fleetwatch-agent}"
PYTHON="${FLEETWATCH_AGENT_PYTHON:-python3}"

usage() {
  cat <<USAGE
Usage: install.sh --token fwe_... [--config FILE] [--no-service]
  --token       the enrollment token (it decides the device's company, site and group)
  --config      an agent configuration file (default: /etc/fleetwatch-agent/agent.toml when it exists)
  --no-service  enroll only; start the agent yourself with: $AGENT_HOME/bin/fleetwatch-agent run
Environment: FLEETWATCH_AGENT_HOME (default /opt/fleetwatch-agent), FLEETWATCH_AGENT_PYTHON (default python3)
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN="${2:-}"; shift 2 ;;
    --token=*) TOKEN="${1#--token=}"; shift ;;
    --config) CONFIG="${2:-}"; shift 2 ;;
    --no-service) SERVICE=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "Unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$TOKEN" in
  fwe_*) ;;
  "") echo "Give the enrollment token: --token fwe_... (from the Enrollment page)" >&2; exit 2 ;;
  *) echo "That is not an enrollment token: they start with fwe_" >&2; exit 2 ;;
esac
if ! "$PYTHON" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "Python 3.11 or newer with venv is needed ($PYTHON)." >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL "$1" -o "$2"; else wget -q "$1" -O "$2"; fi
}
field() {
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/release.json" "$1"
}

fetch "$SERVER/agent/release.json" "$WORK/release.json"
WHEEL=$(field wheel)
case "$WHEEL" in
  fleetwatch_agent-*.whl) ;;
  *) echo "The server named an unexpected file: $WHEEL" >&2; exit 1 ;;
esac
fetch "$SERVER/agent/download/$WHEEL" "$WORK/$WHEEL"
ACTUAL=$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$WORK/$WHEEL")
if [ "$ACTUAL" != "$(field sha256)" ]; then
  echo "The download does not match its SHA-256; nothing was installed." >&2
  exit 1
fi

"$PYTHON" -m venv "$AGENT_HOME"
"$AGENT_HOME/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$WORK/$WHEEL"
set -- "$AGENT_HOME/bin/fleetwatch-agent"
[ -z "$CONFIG" ] || set -- "$@" --config "$CONFIG"
"$@" enroll --server "$SERVER" --token "$TOKEN"
if [ "$SERVICE" = 1 ]; then
  "$@" install-service
fi
echo "Fleetwatch agent $(field version) installed in $AGENT_HOME and enrolled with $SERVER."
