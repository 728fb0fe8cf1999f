#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the browser test (tests/notebooks/test_browser.py), installed with apt-get
# when missing and only when asked: MSBIQA_INSTALL_BROWSER=1 (CI's .ci/run sets it). Prints nothing when they are
# there (or now installed), else one line saying why they are not: scripts/test.sh hands it to the test as its
# skip reason (MSBIQA_BROWSER_SETUP).
set -uo pipefail
have() { command -v chromium > /dev/null && command -v chromedriver > /dev/null; }
have && exit 0
if [ "${MSBIQA_INSTALL_BROWSER:-}" != 1 ]; then
  echo "to install them with apt-get (as root or with password-less sudo): MSBIQA_INSTALL_BROWSER=1 bash scripts/test.sh"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  as_root=(sudo -n)
else
  echo "installing them needs root or password-less sudo: apt-get install chromium chromium-driver"
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "no apt-get on this machine to install them (Debian packages chromium, chromium-driver)"
  exit 0
fi
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq \
  && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } > "$log" 2>&1; then
  echo "apt-get install chromium chromium-driver failed: $(tail -n 1 "$log")"
elif ! have; then
  echo "apt-get installed chromium and chromium-driver, but they are not on PATH"
fi
rm -f "$log"
