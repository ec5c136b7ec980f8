#!/bin/sh
# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
# Install it once, with apt-get, only when it is missing. Without the rights to install,
# say so and go on: the browser tests then skip with the same hint.
[ -x /usr/bin/chromium ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium; }; then
    echo "ensure-chromium: could not install chromium; the browser tests will be skipped" >&2
fi
exit 0
