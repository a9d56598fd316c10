#!/bin/sh
# SPDX-License-Identifier: ISC
# Throughput of the project's ./smtpd -n -c Sink against Postfix's smtp-sink,
# driven by Postfix's smtp-source, side by side, on 127.0.0.1 (`make bench`).
#
#   bench/bench.sh [--quick] [--smtpd PATH] [--json FILE] [--rounds N]
#                  [--cases persist,1/conn,par20,par200,100KB] [--no-pin]
#
# Run it from the project root.  Full run: 7 rounds, ~1-2 minutes;
# --quick: 3 rounds with 0.4x the messages, < 60 s.  The report goes to
# stdout, progress to stderr.  Exit status: 0 ok, 1 aborted, 2 a tool or
# ./smtpd is missing, 3 some run failed (FAIL/TIMEOUT in the tables).
# It installs nothing.  The work is done by bench/smtpbench.py (stdlib only).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

missing=""
for tool in /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
    [ -x "$tool" ] || missing=yes
done
if [ -n "$missing" ]; then
    cat >&2 <<'MSG'
bench: Postfix's smtp-source and smtp-sink (/usr/sbin) are missing.
On Debian/Ubuntu install them with (no mail server gets configured or started):
  echo "postfix postfix/main_mailer_type select No configuration" | sudo debconf-set-selections
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postfix
MSG
    exit 2
fi
if ! command -v "$python" >/dev/null 2>&1; then
    echo "bench: needs python3 (apt-get install -y python3)" >&2
    exit 2
fi
command -v taskset >/dev/null 2>&1 ||
    echo "bench: taskset not found (util-linux): running unpinned" >&2

# par200 holds 200+ connections in each process.
ulimit -n 4096 2>/dev/null || true
exec "$python" "$here/smtpbench.py" "$@"
