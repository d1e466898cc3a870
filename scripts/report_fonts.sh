#!/usr/bin/env bash
# Fonts with Chinese glyphs for the monthly report's charts and PDF (民情专报), from Debian's
# packages: WenQuanYi Micro Hei (small). WeasyPrint's Pango libraries come with the base image;
# they are installed here too when missing. Safe to run twice; does nothing without root/apt.
set -uo pipefail
have_cjk() { fc-list :lang=zh family 2>/dev/null | grep -q .; }
have_pango() { ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0; }
if have_cjk && have_pango; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "report fonts: install fonts-wqy-microhei and libpango-1.0-0 libpangoft2-1.0-0 (needs root)" >&2
  exit 0
fi
(apt-get update -qq || true) >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig \
  libpango-1.0-0 libpangoft2-1.0-0 >/dev/null 2>&1 \
  || echo "report fonts: apt-get install failed; report charts will lack Chinese glyphs" >&2
exit 0
