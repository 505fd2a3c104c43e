#!/usr/bin/env bash
# The CLI's own argument handling: help, version, unknown options and subcommands.
source "$(dirname "$0")/lib.sh"
out=$("$GEN" --version) && [[ $out == gen\ * ]] && pass "--version: $out" || bad "--version"
"$GEN" --help | grep -q inspect && pass "--help lists inspect" || bad "--help"
expect_exit 2 "not expected|--bogus" -- "$GEN" --bogus
expect_exit 2 "b c d: unexpected arguments" -- "$GEN" inspect a b c d
expect_exit 2 "--bogus --other: unknown options" -- "$GEN" --bogus --other
expect_exit 2 "inspect" -- "$GEN" inspect
expect_exit 2 "convert|required" -- "$GEN" convert
finish
