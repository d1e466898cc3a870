#!/usr/bin/env bash
# Make sure the browser tests can run: Debian's Chromium and a CJK font, never a downloaded
# browser (no `playwright install`). Installs with apt-get when missing and running as root;
# otherwise says what is missing (the browser tests then skip, or fail under CI=true).
# With arguments, runs those pytest arguments on tests/browser afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei" || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser.sh: installing ${missing[*]}" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "browser.sh: apt-get could not install ${missing[*]}" >&2
  else
    echo "browser.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  fi
fi
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest tests/browser "$@"
fi
