#!/bin/bash
# SPDX-License-Identifier: ISC
# Throwaway Mailman 3 core (Debian 12's mailman3 3.3.8) for MailmanProxy tests.
#
#   tests/mailman/mailman3-fixture.sh install          # root; ~15 s cold, 0 s if present
#   eval "$(tests/mailman/mailman3-fixture.sh start "$TMPDIR_OF_TEST")"   # ~2.3 s
#       -> MAILMAN_LMTP=127.0.0.1:PORT  MAILMAN_DIR=DIR ; list test@example.com exists
#   tests/mailman/mailman3-fixture.sh queue "$DIR" in|command|bounces
#   tests/mailman/mailman3-fixture.sh show FILE.pck
#   tests/mailman/mailman3-fixture.sh stop "$DIR"       # ~2 s
#
# Only the lmtp runner runs, so accepted mail stays queued as pickles:
#   LIST@ / LIST+x@ / LIST-owner@                 -> var/queue/in
#   LIST-request/-join/-subscribe/-leave/-unsubscribe/-confirm@ -> var/queue/command
#   LIST-bounces@                                   -> var/queue/bounces
#   LIST-admin@, unknown list/sub-address/domain   -> 550 at RCPT
# Behaviour observed over LMTP is pinned in tests/mailman/test_mailman_fixture.py.
set -euo pipefail

PY=/usr/bin/python3            # Debian's python: Mailman's modules live here
MM_BIN=/usr/lib/mailman3/bin
MAILMAN=/usr/bin/mailman

log() { echo "mailman3-fixture: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    cat >&2 <<'USAGE'
usage: mailman3-fixture.sh install
       mailman3-fixture.sh start DIR    # prints MAILMAN_LMTP=127.0.0.1:PORT, MAILMAN_DIR=DIR
       mailman3-fixture.sh stop DIR
       mailman3-fixture.sh queue DIR NAME   # .pck files in DIR/var/queue/NAME (in, command, bounces, ...)
       mailman3-fixture.sh show FILE.pck    # dump a queued message and its metadata
USAGE
    exit 2
}

cmd_install() {
    if dpkg-query -W -f='${Status}' mailman3 2>/dev/null | grep -q 'install ok installed' \
       && [ -x "$MM_BIN/master" ]; then
        echo "mailman3 already installed ($(dpkg-query -W -f='${Version}' mailman3))"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "install needs root"
    echo "mailman3 mailman3/dbconfig-install boolean false" | debconf-set-selections
    local prc=/usr/sbin/policy-rc.d backup=""
    if [ -e "$prc" ]; then
        backup=$(mktemp /usr/sbin/policy-rc.d.fixture-XXXXXX)
        cp -p "$prc" "$backup"
    fi
    printf '#!/bin/sh\nexit 101\n' >"$prc"
    chmod 755 "$prc"
    local rc=0 out
    out=$(mktemp)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        mailman3 >"$out" 2>&1 || rc=$?
    if [ -n "$backup" ]; then mv -f "$backup" "$prc"; else rm -f "$prc"; fi
    if [ $rc -ne 0 ]; then
        cat "$out" >&2; rm -f "$out"
        die "apt-get install mailman3 failed (rc=$rc)"
    fi
    rm -f "$out"
    # Belt and braces: the packaged service must not run (it would own the
    # default LMTP port 8024 and is not used by the fixture).
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q mailman3 2>/dev/null; then
        systemctl stop mailman3 || true
    fi
    echo "installed mailman3 $(dpkg-query -W -f='${Version}' mailman3) (service not started)"
}

# Every runner Mailman 3.3.8 knows, minus lmtp: these are switched off so
# that whatever the LMTP runner accepts stays in var/queue/<name> for a test
# to inspect (posts and -owner -> in, -request/-join/-leave/-confirm ->
# command, -bounces -> bounces).  bad and shunt are off by default anyway.
OFF_RUNNERS="archive bad bounces command digest in nntp out pipeline rest retry shunt task virgin"

check_dir() {
    local dir=$1
    [ -n "$dir" ] || usage
    # Absolute and symlink-free: master resolves -C and hands the resolved
    # path to its runners, and stop finds stray runners by that path.
    dir=$(realpath -m -- "$dir")
    # Mailman's config does $-substitution and ConfigParser is picky: keep it simple.
    [[ "$dir" =~ ^[A-Za-z0-9_./+-]+$ ]] || die "DIR must match [A-Za-z0-9_./+-]+: $dir"
    echo "${dir%/}"
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

port_open() {   # port_open PORT -> 0 when Mailman's LMTP greets on 127.0.0.1:PORT
    "$PY" -c 'import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    banner = s.recv(512)
    s.sendall(b"QUIT\r\n")
    s.close()
except OSError:
    sys.exit(1)
sys.exit(0 if banner.startswith(b"220 ") and b"GNU Mailman LMTP" in banner else 1)' "$1"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# PIDs of processes whose command line names DIR's mailman.cfg (master and runners).
dir_pids() {
    local cfg=$1/mailman.cfg p
    for p in /proc/[0-9]*; do
        [ -r "$p/cmdline" ] || continue
        # whole-argument match: " ARG " in the space-padded command line
        if { printf ' '; tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- " $cfg "; then
            echo "${p#/proc/}"
        fi
    done
}

write_cfg() {   # write_cfg DIR PORT
    local dir=$1 port=$2 r
    cat >"$dir/mailman.cfg" <<CFG
# Generated by tests/mailman/mailman3-fixture.sh -- throwaway test instance.
[mailman]
layout: fixture
site_owner: postmaster@example.com
noreply_address: noreply

[paths.fixture]
var_dir: $dir/var
queue_dir: \$var_dir/queue
bin_dir: $MM_BIN
list_data_dir: \$var_dir/lists
log_dir: \$var_dir/logs
lock_dir: \$var_dir/locks
data_dir: \$var_dir/data
cache_dir: \$var_dir/cache
etc_dir: \$var_dir/etc
ext_dir: \$var_dir/ext
messages_dir: \$var_dir/messages
archive_dir: \$var_dir/archives
template_dir: \$var_dir/templates
pid_file: \$var_dir/master-self.pid
lock_file: \$lock_dir/master.lck

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$dir/var/data/mailman.db

[mta]
# NullMTA: list creation does not try to write Postfix maps / run postmap.
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
smtp_host: 127.0.0.1
smtp_port: 9
lmtp_host: 127.0.0.1
lmtp_port: $port

[webservice]
hostname: 127.0.0.1
port: 9
admin_user: restadmin
admin_pass: fixture

[logging.root]
level: info
CFG
    for r in $OFF_RUNNERS; do
        printf '\n[runner.%s]\nstart: no\n' "$r" >>"$dir/mailman.cfg"
    done
}

mm() {  # mm DIR ARGS... : the mailman CLI against DIR's config
    local dir=$1; shift
    "$PY" "$MAILMAN" --run-as-root -C "$dir/mailman.cfg" "$@"
}

cmd_start() {
    local dir
    dir=$(check_dir "${1:-}")
    [ -x "$MM_BIN/master" ] || die "mailman3 not installed; run '$0 install' first"
    mkdir -p "$dir"
    if [ -f "$dir/master.pid" ] && pid_alive "$(cat "$dir/master.pid")"; then
        die "a fixture master is already running in $dir (pid $(cat "$dir/master.pid"))"
    fi
    mkdir -p "$dir/var"
    local attempt port pid deadline ok
    for attempt in 1 2 3; do
        port=$(free_port)
        write_cfg "$dir" "$port"
        # setsid: master (and the runners it forks) get their own process
        # group, whose id is the master's PID, so stop can reach them all.
        setsid "$PY" "$MM_BIN/master" -C "$dir/mailman.cfg" --force \
            </dev/null >"$dir/master.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/master.pid"
        echo "$port" >"$dir/lmtp.port"
        ok=no
        deadline=$((SECONDS + 60))
        while [ $SECONDS -lt $deadline ]; do
            if port_open "$port"; then ok=yes; break; fi
            pid_alive "$pid" || break
            sleep 0.2
        done
        [ $ok = yes ] && break
        log "attempt $attempt: LMTP port $port not up (master alive: $(pid_alive "$pid" && echo yes || echo no))"
        tail -n 20 "$dir/master.log" "$dir"/var/logs/*.log 2>/dev/null >&2 || true
        cmd_stop "$dir" >/dev/null
    done
    [ $ok = yes ] || die "Mailman did not start; see $dir/master.log and $dir/var/logs"
    local out
    # (idempotent: a reused DIR already has the list in its SQLite db)
    if ! out=$(mm "$dir" create test@example.com 2>&1) \
       && ! grep -q 'List already exists' <<<"$out"; then
        echo "$out" >&2
        cmd_stop "$dir" >/dev/null
        die "could not create list test@example.com"
    fi
    echo "MAILMAN_LMTP=127.0.0.1:$port"
    echo "MAILMAN_DIR=$dir"
}

cmd_stop() {
    local dir pid pids deadline p
    dir=$(check_dir "${1:-}")
    pid=$(cat "$dir/master.pid" 2>/dev/null || true)
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 15))
        while pid_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        if pid_alive "$pid"; then
            log "master $pid ignored SIGTERM for 15 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # Runners were forked by the master into its process group.
        kill -TERM -- "-$pid" 2>/dev/null || true
    fi
    # Whatever still names this DIR's config (runners orphaned by a SIGKILL,
    # a stray 'mailman' CLI): TERM, bounded wait, KILL -- each by PID.
    pids=$(dir_pids "$dir")
    if [ -n "$pids" ]; then
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        deadline=$((SECONDS + 10))
        while [ $SECONDS -lt $deadline ]; do
            pids=$(dir_pids "$dir")
            [ -z "$pids" ] && break
            sleep 0.2
        done
        for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
        sleep 0.2
        pids=$(dir_pids "$dir")
        [ -z "$pids" ] || die "processes still running for $dir: $pids"
    fi
    rm -f "$dir/master.pid"
    echo "stopped Mailman in $dir"
}

cmd_queue() {
    local dir name qdir
    dir=$(check_dir "${1:-}")
    name=${2:-}
    [ -n "$name" ] || usage
    [[ "$name" =~ ^[a-z]+$ ]] || die "bad queue name: $name"
    qdir="$dir/var/queue/$name"
    [ -d "$qdir" ] || return 0
    find "$qdir" -maxdepth 1 -type f -name '*.pck' | sort
}

# show FILE.pck: print the queued message and its metadata (needs Debian's
# python because the pickle holds mailman.email.message.Message objects).
cmd_show() {
    local f=${1:-}
    [ -f "$f" ] || usage
    "$PY" - "$f" <<'PYSHOW'
import pickle, sys, pprint
with open(sys.argv[1], "rb") as fp:
    msg = pickle.load(fp)
    data = pickle.load(fp)
if isinstance(msg, bytes):
    sys.stdout.write(msg.decode("utf-8", "replace"))
else:
    sys.stdout.write(msg.as_string())
sys.stdout.write("\n-- msgdata --\n")
pprint.pprint(data)
PYSHOW
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    queue) cmd_queue "${2:-}" "${3:-}" ;;
    show) cmd_show "${2:-}" ;;
    *) usage ;;
esac
