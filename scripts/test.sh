#!/usr/bin/env bash
# The whole test suite, from a fresh clone: ./scripts/test.sh [pytest arguments]
# Creates .venv, installs Zhitong with its development extras, makes sure PostgreSQL and Redis
# are running (starting or installing them where it can), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
bash scripts/services.sh
bash scripts/browser.sh  # Debian chromium + CJK font for tests/browser
bash scripts/report_fonts.sh  # CJK font and Pango for the monthly report's charts and PDF
exec .venv/bin/python -m pytest -n "${ZHITONG_TEST_WORKERS:-2}" "$@"
