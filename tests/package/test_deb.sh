#!/bin/sh
# SPDX-License-Identifier: ISC
# test_deb.sh - build the Debian packages, check them with lintian,
# install them, use them as a user would, and remove them again.
#
#   tests/package/test_deb.sh        (or `make deb-test`; as root, Debian)
#
# The packages are built in a scratch copy of the source tree, so nothing
# is left in the repository (dpkg-buildpackage writes ../*.deb).  Then:
# lintian reports no errors; `apt-get install ./*.deb` installs smtpd,
# libsmtpd2 and libsmtpd-dev; `smtpd -V` runs; examples/reject_rcpt.c is
# compiled with `pkg-config --cflags --libs smtpd` against the installed
# headers and shared library (and once against the static library) and
# run.  At the end every package the test installed (ours and anything
# apt pulled in for them) is purged, so the machine is as it was.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
pkgs="smtpd libsmtpd2 libsmtpd-dev"
apt_opts="-y -q -o DPkg::Lock::Timeout=120"

fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
say() { echo "test_deb: $*"; }
# pc - pkg-config as a user has it: the system's directories only.
pc() { env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u PKG_CONFIG_SYSROOT_DIR \
    pkg-config "$@"; }

[ "$(id -u)" = 0 ] || fail "needs root (it installs and removes packages)"
for t in dpkg-buildpackage dh lintian fakeroot apt-get pkg-config cc; do
	command -v $t >/dev/null 2>&1 ||
	    fail "needs $t: apt-get install debhelper lintian dpkg-dev fakeroot pkg-config"
done
# Never remove a user's own installation of these packages.
for p in $pkgs; do
	if dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q ' installed$'; then
		fail "$p is already installed; remove it first"
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpd-deb.XXXXXX")
before="$tmp/packages.before"
installed=no

# cleanup - purge what we installed, remove the scratch tree.
cleanup() {
	if [ $installed = yes ]; then
		dpkg-query -W -f '${Package}\n' | sort >"$tmp/packages.after"
		new=$(comm -13 "$before" "$tmp/packages.after" | tr '\n' ' ')
		say "removing: $new"
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get remove --purge \
		    $apt_opts $new >"$tmp/remove.log" 2>&1 ||
		    { cat "$tmp/remove.log" >&2; echo "test_deb: could not remove $new" >&2; }
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A scratch copy: the files git knows (tracked and not ignored), or the
# whole tree without build outputs when this is not a git checkout.
mkdir "$tmp/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -co --exclude-standard -z |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' sh |
	    tar -cf - -T -) | tar -xf - -C "$tmp/src"
else
	(cd "$top" && tar -cf - --exclude=./build --exclude='./build-*' \
	    --exclude=./stage --exclude='*.o' .) | tar -xf - -C "$tmp/src"
fi

say "dpkg-buildpackage -us -uc -b (log: build.log)"
(cd "$tmp/src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
    { tail -40 "$tmp/build.log" >&2; fail "dpkg-buildpackage"; }

for p in $pkgs; do
	ls "$tmp/${p}_"*.deb >/dev/null 2>&1 || fail "no $p package built"
done
# A symbol that disappeared fails the build (dpkg-gensymbols); a new one
# is only worth saying: debian/libsmtpd2.symbols should list it.
if grep -q 'dpkg-gensymbols: warning' "$tmp/build.log"; then
	say "debian/libsmtpd2.symbols is not up to date:"
	sed -n '/^+ /p' "$tmp/build.log" | sed 's/^/  /'
fi
# The package is named for the soname it holds.
dpkg-deb -c "$tmp"/libsmtpd2_*.deb | grep -q 'libsmtpd\.so\.2 ' ||
    fail "libsmtpd2 does not hold libsmtpd.so.2: $(dpkg-deb -c "$tmp"/libsmtpd2_*.deb | grep -o 'libsmtpd\.so[^ ]*' | tr '\n' ' ')"

say "lintian"
if lintian --fail-on error "$tmp"/*.changes >"$tmp/lintian.log" 2>&1; then
	lint=ok
else
	lint=failed
fi
grep -v 'running with root' "$tmp/lintian.log" | sed 's/^/  /' || true
[ $lint = ok ] || fail "lintian reports errors"

say "apt-get install smtpd libsmtpd2 libsmtpd-dev"
dpkg-query -W -f '${Package}\n' | sort >"$before"
installed=yes
debs=""
for p in $pkgs; do debs="$debs $(ls "$tmp/${p}_"*.deb)"; done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install $apt_opts $debs \
    >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "apt-get install"; }

say "smtpd -V"
v=$(/usr/bin/smtpd -V) || fail "smtpd -V exited $?"
case "$v" in
"smtpd "[0-9]*) echo "  $v" ;;
*) fail "smtpd -V printed '$v'" ;;
esac
[ -f /usr/share/man/man1/smtpd.1.gz ] || fail "no manual page"

say "cc examples/reject_rcpt.c \$(pkg-config --cflags --libs smtpd)"
flags=$(pc --cflags --libs smtpd) || fail "pkg-config does not know smtpd"
echo "  pkg-config: $flags"
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/reject_rcpt" \
    "$top/examples/reject_rcpt.c" $flags || fail "compile against the package"
ldd "$tmp/reject_rcpt" | grep -Eq 'libsmtpd\.so\.2 => /(usr/)?lib/' ||
    fail "not linked with the installed libsmtpd.so.2: $(ldd "$tmp/reject_rcpt")"
"$tmp/reject_rcpt" || fail "reject_rcpt (shared) exited $?"

# shellcheck disable=SC2046
# libsmtpd.a itself statically, the libraries it needs (Requires.private:
# OpenSSL, jansson, GMime) shared: Debian ships no static GLib stack.
priv=$(pc --print-requires-private smtpd | awk '{ print $1 }' | tr '\n' ' ')
cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/reject_rcpt-static" \
    "$top/examples/reject_rcpt.c" $(pc --cflags smtpd) \
    -Wl,-Bstatic $(pc --libs smtpd) -Wl,-Bdynamic \
    ${priv:+$(pc --libs $priv)} -pthread ||
    fail "compile against the static library"
"$tmp/reject_rcpt-static" || fail "reject_rcpt (static) exited $?"

# The web interface: libmicrohttpd is loaded at the first --http (dlopen),
# so the package must depend on it by name; the installed program serves
# Mailpit's API.
say "smtpd --http: GET /api/v1/info"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/smtpd -n -c Sink --http "127.0.0.1:$hport" "127.0.0.1:$port" \
    2>"$tmp/http.log" &
spid=$!
info=""
for _ in $(seq 50); do
	info=$(curl -sf "http://127.0.0.1:$hport/api/v1/info" 2>/dev/null) && break
	sleep 0.1
done
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
case "$info" in
*'"Version"'*) echo "  $info" | cut -c1-100 ;;
*) cat "$tmp/http.log" >&2; fail "smtpd --http did not answer /api/v1/info" ;;
esac

say "ok"
