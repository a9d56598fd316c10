#!/bin/sh
# SPDX-License-Identifier: ISC
# Dry-run stand-in for ./smtpd: takes `-n -c Sink HOST:PORT` like ./smtpd
# and runs Postfix's smtp-sink there instead, so that
#   bench/bench.sh --smtpd bench/smtp-sink-as-smtpd.sh
#   bench/callgrind.sh --smtpd bench/smtp-sink-as-smtpd.sh
# can be tried before ./smtpd is built (ratios should come out near 1.00).
# exec keeps the PID, so the harness measures and stops smtp-sink itself.
# smtp-sink refuses to run as root; as root this drops to nobody with
# setpriv (not smtp-sink's -u, which would leave callgrind unable to write
# its output file, created while still root, at exit).
addr=""
for arg do
    case $arg in *:*) addr=$arg ;; esac
done
[ -n "$addr" ] || { echo "usage: $0 -n -c Sink HOST:PORT" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups \
        /usr/sbin/smtp-sink -m 2000 "$addr" 1024
fi
exec /usr/sbin/smtp-sink -m 2000 "$addr" 1024
