#!/bin/sh
# integration.sh - make check's entry point for the integration suite
# (tests/integration/run), named so that its log lands in tests/, which
# exists in every build tree.
exec "$(dirname "$0")/integration/run" "$@"
