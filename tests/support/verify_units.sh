#!/bin/sh
# systemd-analyze verify on the given unit files: fails on any complaint
# about them (an unknown key is only a warning to systemd), exits 77
# (skipped) where systemd-analyze is not installed.
command -v systemd-analyze >/dev/null 2>&1 || {
    echo "skipped: systemd-analyze is not installed"
    exit 77
}
output=$(systemd-analyze verify "$@" 2>&1)
status=$?
[ -n "$output" ] && printf '%s\n' "$output"
[ "$status" -eq 0 ] || exit 1
for unit in "$@"; do
    case "$output" in *"$(basename "$unit")"*) exit 1 ;; esac
done
echo "verified: $*"
