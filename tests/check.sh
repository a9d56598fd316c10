#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/check.sh - `make check`: the whole test suite under the sanitizers,
# then the integration tests under valgrind.  Fails if any test fails or if
# any sanitizer or valgrind report was written, and prints the reports.
#
#   1. clang, AddressSanitizer + UndefinedBehaviorSanitizer (with
#      LeakSanitizer): unit tests, fuzz corpus replay, integration tests.
#   2. clang, ThreadSanitizer: the same.
#   3. the ordinary build under valgrind memcheck: integration tests.
#
# The reports go to files (log_path, --log-file), not to standard error:
# the integration tests read the server's standard error, and a report
# there would be lost or mistaken for output.
#
#   STAGES="asan tsan valgrind"	run only some stages
set -eu
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
PYTHON=${PYTHON:-python3}
LOGS=$(pwd)/build-check-logs
STAGES=${STAGES:-asan tsan valgrind}
rm -rf "$LOGS"
mkdir -p "$LOGS"

# reports - print every report file of a stage; fail if there is one.
reports() {
	found=0
	for f in "$LOGS"/$1*; do
		[ -s "$f" ] || continue
		found=1
		echo "==== $f"
		cat "$f"
	done
	if [ $found -ne 0 ]; then
		echo "check: $1 reports above" >&2
		exit 1
	fi
	echo "check: no $1 reports"
}

# run_san - build with a sanitizer, run unit, replay and integration tests.
run_san() {
	san=$1
	b=build-$(echo "$san" | tr , -)
	$MAKE CC=clang SAN="$san" all "$b/tests/unit/run_unit_tests" \
	    "$b/fuzz/replay" "$b/tests/lmtp-hooked" >/dev/null
	./"$b"/tests/unit/run_unit_tests
	./"$b"/fuzz/replay fuzz/corpus fuzz/regressions
	SMTPD=./"$b"/smtpd SMTPD_CHECK="$san" $PYTHON tests/run_integration.py
}

start=$(date +%s)
for stage in $STAGES; do
	t=$(date +%s)
	case $stage in
	asan)
		ASAN_OPTIONS="log_path=$LOGS/asan:detect_leaks=1" \
		UBSAN_OPTIONS="log_path=$LOGS/ubsan:print_stacktrace=1:halt_on_error=1" \
		    run_san address,undefined
		reports asan
		reports ubsan
		;;
	tsan)
		TSAN_OPTIONS="log_path=$LOGS/tsan:second_deadlock_stack=1" \
		    run_san thread
		reports tsan
		;;
	valgrind)
		$MAKE all >/dev/null
		# --max-threads: the 2000-connection test needs more than the
		# default 500.  Definite leaks are errors; the rest (threads
		# still running at a SIGKILL) are not.
		cat >"$LOGS/smtpd-valgrind" <<-EOF
		#!/bin/sh
		exec valgrind --quiet --vgdb=no --leak-check=full \\
		    --errors-for-leak-kinds=definite --error-exitcode=97 \\
		    --max-threads=3000 --log-file="$LOGS/vg.%p" \\
		    "$(pwd)/smtpd" "\$@"
		EOF
		chmod +x "$LOGS/smtpd-valgrind"
		SMTPD="$LOGS/smtpd-valgrind" SMTPD_CHECK=valgrind \
		    $PYTHON tests/run_integration.py
		reports vg
		;;
	*)
		echo "check: unknown stage $stage" >&2
		exit 2
		;;
	esac
	echo "check: $stage passed in $(( $(date +%s) - t ))s"
done
echo "check: all passed in $(( $(date +%s) - start ))s"
