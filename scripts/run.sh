#!/usr/bin/env bash
# Set up and run Zhitong with embedded defaults and the demo county: ./scripts/run.sh
# SQLite file and in-process job queue in ./instance, local SMS sender; nothing else to install.
# Extra arguments go to `zhitong serve` (for example --port 9000 or --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
export ZHITONG_DEMO=${ZHITONG_DEMO:-true}
exec .venv/bin/zhitong serve "$@"
