#!/bin/bash
# SPDX-License-Identifier: ISC
# Instructions per message, counted by valgrind's callgrind, for the
# project's ./smtpd -n -c Sink and for Postfix's smtp-sink.
#
#   bench/callgrind.sh [--smtpd PATH] [--only project|smtp-sink] [--keep DIR]
#                      [--n1 200] [--n2 2000]
#
# For each server: start it under callgrind, send N1 messages of 1 KB over
# one persistent connection (smtp-source -s 1 -d -l 1000 -m N1), stop it
# with SIGTERM so that callgrind writes its counts, and take the total Ir
# (instructions executed, all threads).  Again with N2 messages in a fresh
# server.  (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one message with
# start-up, the readiness probe, the connection and shutdown cancelled out.
# Deterministic: repeated runs agree to within a fraction of a percent.
#
# If a server does not exit within 15 s of SIGTERM, it gets SIGINT; if it
# is still there 15 s later, `callgrind_control --dump` makes callgrind
# write what it has counted and then it is killed (SIGKILL); the dumps are
# summed.  As root, the servers run as nobody (smtp-sink refuses root, and
# callgrind must reopen its output file at exit as the same user that
# created it at start); the output folder is world-writable for that.
# Exit status: 0 ok, 1 a run failed, 2 a tool is missing.  Loopback only;
# every process is stopped by its PID.
set -u
here=$(cd "$(dirname "$0")" && pwd)
smtpd=./smtpd
only=""
keep=""
n1=200
n2=2000
smtp_source=/usr/sbin/smtp-source
smtp_sink=/usr/sbin/smtp-sink

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --smtpd) smtpd=${2:?}; shift 2 ;;
        --only) only=${2:?}; shift 2 ;;
        --keep) keep=${2:?}; shift 2 ;;
        --n1) n1=${2:?}; shift 2 ;;
        --n2) n2=${2:?}; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "callgrind.sh: unknown option $1" >&2; usage 2 >&2 ;;
    esac
done
case $n1$n2 in *[!0-9]*) echo "callgrind.sh: --n1/--n2 take numbers" >&2; exit 2 ;; esac
[ "$n2" -gt "$n1" ] || { echo "callgrind.sh: --n2 must be larger than --n1" >&2; exit 2; }

need=""
command -v valgrind >/dev/null || need="$need valgrind"
[ -x $smtp_source ] && [ -x $smtp_sink ] || need="$need postfix"
if [ -n "$need" ]; then
    echo "callgrind.sh: missing tools; install with:" >&2
    [[ $need == *postfix* ]] && echo '  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections' >&2
    echo "  DEBIAN_FRONTEND=noninteractive apt-get install -y$need" >&2
    exit 2
fi
case $smtpd in */*) ;; *) smtpd=./$smtpd ;; esac

as_nobody=()
if [ "$(id -u)" = 0 ]; then
    as_nobody=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
fi

if [ -n "$keep" ]; then
    out=$keep; mkdir -p "$out" || exit 2
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/smtpd-callgrind.XXXXXX") || exit 2
fi
chmod 1777 "$out"          # a server running as nobody writes its counts here

server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    [ -n "$keep" ] || rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {     # a 127.0.0.1 port in 22000-22999 that binds now
    python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(22000, 22999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

ready() {         # greets with 220 and answers QUIT with 221
    timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r l <&3 && [[ $l == 220* ]] || exit 1
        printf "QUIT\r\n" >&3
        IFS= read -r l <&3 && [[ $l == 221* ]]' _ "$1" 2>/dev/null
}

alive() { kill -0 "$1" 2>/dev/null; }

wait_gone() {     # wait_gone PID SECONDS: 0 once the PID has exited
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# measure NAME N CMD...: prints "TOTAL_IR EXIT_STATUS" of one run, or fails.
# @ADDR@ in CMD becomes 127.0.0.1:PORT; the global array prefix (e.g.
# setpriv) goes in front of valgrind.
measure() {
    local name=$1 n=$2; shift 2
    local port tag file log st rc total
    port=$(free_port)
    [ -n "$port" ] || { echo "callgrind.sh: no free port" >&2; return 1; }
    tag="$out/$name-$n"
    log="$tag.log"
    rm -f "$tag".cg*
    # %p.%n: one file per process image; --trace-children follows a wrapper's exec
    "${prefix[@]}" valgrind --tool=callgrind --trace-children=yes \
        --vgdb-prefix="$out/vgdb" --callgrind-out-file="$tag.cg.%p.%n" \
        "${@/@ADDR@/127.0.0.1:$port}" \
        </dev/null >"$log" 2>&1 &
    server_pid=$!
    local i ok=""
    for ((i = 0; i < 600; i++)); do          # up to 60 s for valgrind start-up
        alive $server_pid || break
        if ready "$port"; then ok=yes; break; fi
        sleep 0.1
    done
    if [ -z "$ok" ]; then
        echo "callgrind.sh: $name did not come up; its log:" >&2
        tail -5 "$log" >&2
        return 1
    fi
    sleep 0.5      # let it finish with the probe connection
    # smtp-source's default HELO name and addresses (foo@HOSTNAME), as the
    # team's reference figure was taken: -M/-f/-t change the count by ~5%.
    if ! timeout -s KILL 600 $smtp_source -s 1 -d -l 1000 -m "$n" "127.0.0.1:$port" \
            >"$tag.source.log" 2>&1; then
        echo "callgrind.sh: smtp-source failed against $name (N=$n):" \
             "$(tail -1 "$tag.source.log")" >&2
        return 1
    fi
    kill -TERM $server_pid
    if ! wait_gone $server_pid 15; then
        echo "callgrind.sh: $name still running 15 s after SIGTERM; SIGINT" >&2
        kill -INT $server_pid
        if ! wait_gone $server_pid 15; then
            echo "callgrind.sh: $name ignores SIGTERM/SIGINT; dumping with callgrind_control" >&2
            # vgdb must run as the server's user to reach it
            timeout 30 "${prefix[@]}" callgrind_control --vgdb-prefix="$out/vgdb" \
                --dump=bench $server_pid >&2
            sleep 1
            kill -KILL $server_pid
        fi
    fi
    wait $server_pid; st=$?
    server_pid=""
    echo "$st" >"$tag.exit"
    # Sum the "totals:" (or "summary:") line of every file this run wrote.
    total=$(cat "$tag".cg.* 2>/dev/null |
            awk '/^totals:/ {t += $2; seen = 1} /^summary:/ {s += $2}
                 END {if (seen) print t; else if (s) print s}')
    if [ -z "$total" ]; then
        echo "callgrind.sh: no callgrind counts from $name (N=$n); its log:" >&2
        tail -5 "$log" >&2
        return 1
    fi
    echo "$total $st"
}

declare -A result
failed=0
run_server() {    # run_server NAME CMD...
    local name=$1; shift
    local r1 r2 ir1 ir2 st1 st2 per
    echo "callgrind.sh: $name: N=$n1 ..." >&2
    r1=$(measure "$name" "$n1" "$@") || { failed=1; return; }
    echo "callgrind.sh: $name: N=$n2 ..." >&2
    r2=$(measure "$name" "$n2" "$@") || { failed=1; return; }
    read -r ir1 st1 <<<"$r1"
    read -r ir2 st2 <<<"$r2"
    per=$(( (ir2 - ir1) / (n2 - n1) ))
    result[$name]=$per
    printf '%-18s Ir(%d)=%d  Ir(%d)=%d  exit status on SIGTERM: %s, %s\n' \
        "$name" "$n1" "$ir1" "$n2" "$ir2" "$st1" "$st2"
    printf '%-18s %d instructions per message\n' "$name" "$per"
}

if [ -z "$only" ] || [ "$only" = project ]; then
    if [ -x "$smtpd" ]; then
        prefix=()
        # as root: run it as nobody too when nobody may (the same setup as
        # smtp-sink, and what lets a wrapper drop privileges under callgrind)
        if [ ${#as_nobody[@]} -gt 0 ] && "${as_nobody[@]}" test -x "$smtpd"; then
            prefix=("${as_nobody[@]}")
        fi
        run_server project "$smtpd" -n -c Sink @ADDR@
    else
        echo "callgrind.sh: $smtpd is not built (run make, or pass --smtpd PATH)" >&2
        failed=1
    fi
fi
if [ -z "$only" ] || [ "$only" = smtp-sink ]; then
    prefix=("${as_nobody[@]}")
    run_server smtp-sink $smtp_sink -m 2000 @ADDR@ 1024
fi
if [ -n "${result[project]:-}" ] && [ -n "${result[smtp-sink]:-}" ]; then
    awk -v a="${result[project]}" -v b="${result[smtp-sink]}" \
        'BEGIN {printf "ours/smtp-sink     %.2fx instructions per message\n", a / b}'
fi
[ -n "$keep" ] && echo "callgrind.sh: callgrind files kept in $out" >&2
exit $failed
