#!/usr/bin/env bash
# Debian's chromium + chromium-driver for the dashboard's browser test; idempotent (a no-op when both are there).
# No browser is downloaded from anywhere else: Selenium drives /usr/bin/chromium through /usr/bin/chromedriver.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian's chromium and chromium-driver (the browser test needs them)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
