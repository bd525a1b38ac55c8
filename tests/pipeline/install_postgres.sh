#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the PostgreSQL gradebook test (tests/pipeline/test_postgres_gradebook.py).
# The test starts its own server on 127.0.0.1 in a scratch folder; the packaged
# cluster is not used.  Never fails the build: without PostgreSQL the test skips and says why.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_postgres.sh: no apt-get here; install the PostgreSQL server by hand" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_postgres.sh: not root and no password-less sudo; the PostgreSQL test will skip" >&2
        exit 0
    fi
fi
# policy-rc.d 101: the package must not start its own cluster (no init system in a container, and
# the test needs none).  It is removed again unless one was already there.
POLICY=/usr/sbin/policy-rc.d
ADDED=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY" && ADDED=1
fi
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql; }; then
    echo "install_postgres.sh: apt-get could not install postgresql; the PostgreSQL test will skip" >&2
fi
if [ -n "$ADDED" ]; then
    $SUDO rm -f "$POLICY"
fi
exit 0
