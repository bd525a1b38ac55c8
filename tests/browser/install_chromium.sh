#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (tests/browser/).  Playwright
# drives this system browser: its own browser downloads are not used.
# Never fails the build: without Chromium the browser test skips and says why.
set -u
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no apt-get here; install Chromium at /usr/bin/chromium by hand" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_chromium.sh: not root and no password-less sudo; the browser test will skip" >&2
        exit 0
    fi
fi
# fonts-dejavu-core: without any font, text in the screenshots is empty boxes.
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core; }; then
    echo "install_chromium.sh: apt-get could not install chromium; the browser test will skip" >&2
fi
exit 0
