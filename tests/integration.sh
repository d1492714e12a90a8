#!/bin/sh
# integration.sh - make check's entry point for the integration suite
# (tests/integration/run), named so that its log lands in tests/, which
# exists in every build tree.
#
# LeakSanitizer is off here: it reads /proc when a process exits, and
# the daemons exit inside a chroot that has no /proc.  Leaks are checked
# by the unit suite and the fuzz replay of a sanitizer build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
exec "$(dirname "$0")/integration/run" "$@"
