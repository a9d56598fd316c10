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
#   CHECK_JOBS=2		run the asan and tsan stages side by side
#				(built one after the other first); their
#				output is printed when both have ended.
#				They spend most of their time waiting for
#				sockets and timeouts, not computing.
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

# build_san - build with a sanitizer what run_san runs.
build_san() {
	b=build-$(echo "$1" | tr , -)
	$MAKE CC=clang SAN="$1" all "$b/tests/unit/run_unit_tests" \
	    "$b/fuzz/replay" "$b/tests/lmtp-hooked" >/dev/null
}

# run_san - build with a sanitizer, run unit, replay and integration tests.
run_san() {
	san=$1
	b=build-$(echo "$san" | tr , -)
	build_san "$san"
	./"$b"/tests/unit/run_unit_tests
	./"$b"/fuzz/replay fuzz/corpus fuzz/regressions
	SMTPD=./"$b"/smtpd SMTPD_CHECK="$san" $PYTHON tests/run_integration.py
}

# run_stage - one stage, start to end; exits non-zero if it fails.
run_stage() {
	stage=$1
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
		TSAN_OPTIONS="log_path=$LOGS/tsan:second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp" \
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
}

start=$(date +%s)
side=""
if [ "${CHECK_JOBS:-1}" -ge 2 ]; then
	for stage in $STAGES; do
		case $stage in asan|tsan) side="$side $stage" ;; esac
	done
fi
if [ "$(echo $side | wc -w)" -ge 2 ]; then
	# Built one after the other: two makes in one tree at once could
	# race on what both build.  Then run side by side, each stage in
	# a subshell of its own (set -e ends only that subshell).
	for stage in $side; do
		case $stage in
		asan) build_san address,undefined ;;
		tsan) build_san thread ;;
		esac
	done
	for stage in $side; do
		( set +e; (set -e; run_stage "$stage") >"$LOGS/stage-$stage.out" 2>&1
		  echo $? >"$LOGS/stage-$stage.rc" ) &
	done
	wait
	failed=""
	for stage in $side; do
		cat "$LOGS/stage-$stage.out"
		[ "$(cat "$LOGS/stage-$stage.rc")" = 0 ] || failed="$failed $stage"
	done
	if [ -n "$failed" ]; then
		echo "check: failed:$failed" >&2
		exit 1
	fi
fi
for stage in $STAGES; do
	case " $side " in *" $stage "*) continue ;; esac
	run_stage "$stage"
done
echo "check: all passed in $(( $(date +%s) - start ))s"
