#!/bin/sh
# SPDX-License-Identifier: ISC
# install-deps.sh - make sure the tools the tests need are here.  On
# Debian/Ubuntu, as root (or with sudo), missing packages are installed;
# elsewhere we say what to install and fail.
set -u

missing=""
[ -f /usr/include/CUnit/CUnit.h ] || missing="$missing libcunit1-dev"
command -v swaks >/dev/null 2>&1 || missing="$missing swaks"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
# STARTTLS and --smtps: OpenSSL's headers to build, its CLI (s_client)
# and perl's TLS module (swaks --tls) to test.
[ -f /usr/include/openssl/ssl.h ] || missing="$missing libssl-dev"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
perl -MNet::SSLeay -e1 2>/dev/null || missing="$missing libnet-ssleay-perl"
perl -MIO::Socket::SSL -e1 2>/dev/null || missing="$missing libio-socket-ssl-perl"
perl -MDigest::HMAC_MD5 -e1 2>/dev/null || missing="$missing libdigest-hmac-perl"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
# make examples builds against the installed library with pkg-config.
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
# The scale-out test runs HAProxy in front of two servers (test_haproxy.py).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] ||
    missing="$missing haproxy"
# The web interface (--http, WEB=yes): libmicrohttpd, jansson, GMime 3.
pkg-config --exists libmicrohttpd 2>/dev/null || missing="$missing libmicrohttpd-dev"
pkg-config --exists jansson 2>/dev/null || missing="$missing libjansson-dev"
pkg-config --exists gmime-3.0 2>/dev/null || missing="$missing libgmime-3.0-dev"
[ -n "${SMTPD_TEST_EXTRA_DEPS:-}" ] && missing="$missing $SMTPD_TEST_EXTRA_DEPS"

# The relaying tests' upstreams: Postfix's smtp-sink and a Mailman 3 core.
# Installed only as root, with no service started (postfix unconfigured,
# Mailman's own service held back by its fixture); without them those
# tests are skipped, so a failure here is reported, not fatal.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	if [ ! -x /usr/sbin/smtp-sink ]; then
		echo "installing test dependency: postfix (smtp-sink; not configured, not started)"
		echo "postfix postfix/main_mailer_type select No configuration" |
		    debconf-set-selections
		prc=/usr/sbin/policy-rc.d
		had_prc=no
		[ -e "$prc" ] && had_prc=yes
		[ $had_prc = yes ] || printf '#!/bin/sh\nexit 101\n' >"$prc"
		chmod 755 "$prc" 2>/dev/null
		apt-get update -qq >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends postfix >/dev/null 2>&1 ||
		    echo "apt-get install postfix failed: smtp-sink tests skip" >&2
		[ $had_prc = yes ] || rm -f "$prc"
	fi
	sh_dir=$(dirname "$0")
	"$sh_dir/mailman/mailman3-fixture.sh" install >/dev/null ||
	    echo "mailman3 not installed: the Mailman 3 tests skip" >&2
	# A real MTA whose client sends BDAT (Postfix's client does not):
	# Exim's binary, unpacked from Debian's package into a cache folder,
	# never installed as a package (it would replace Postfix), and run
	# only with the test's own configuration (exim -C).  It looks up its
	# user, Debian-exim, at start.
	exim_dir=/var/cache/smtpd-tests/exim4
	if [ ! -x "$exim_dir/usr/sbin/exim4" ]; then
		echo "installing test dependency: exim4 (unpacked into $exim_dir, not installed)"
		tmp=$(mktemp -d)
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    libcrypt1 libdb5.3 libgnutls-dane0 libgnutls30 libidn12 \
		    libidn2-0 libnsl2 libpcre2-8-0 >/dev/null 2>&1 &&
		    (cd "$tmp" && apt-get download exim4-daemon-light \
		    >/dev/null 2>&1) && mkdir -p "$exim_dir" &&
		    dpkg -x "$tmp"/exim4-daemon-light_*.deb "$exim_dir"; then
			:
		else
			echo "exim4 not unpacked: the Exim BDAT test skips" >&2
		fi
		rm -rf "$tmp"
	fi
	# The web page's browser tests (test_webui.py): Debian's chromium,
	# driven by npm's playwright-core, installed into a cache folder
	# (never a browser download of its own); without them they skip.
	# Each alone: a Node.js from elsewhere (NodeSource's) bundles npm and
	# conflicts with Debian's npm package.
	web_pkgs=""
	command -v chromium >/dev/null 2>&1 || web_pkgs="chromium"
	command -v npm >/dev/null 2>&1 || web_pkgs="$web_pkgs nodejs npm"
	if [ -n "$web_pkgs" ]; then
		echo "installing test dependency:$web_pkgs (the web page's browser tests, the API's npm clients)"
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends $web_pkgs >/dev/null 2>&1 ||
		    echo "$web_pkgs: not installed: the tests that need them skip" >&2
	fi
	npm_dir=${SMTPD_TEST_NPM:-/var/cache/smtpd-tests/npm}
	if command -v npm >/dev/null 2>&1 &&
	    [ ! -d "$npm_dir/node_modules/playwright-core" ]; then
		echo "installing test dependency: playwright-core (npm, into $npm_dir)"
		mkdir -p "$npm_dir" &&
		    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$npm_dir" \
		    --no-audit --no-fund --silent playwright-core >/dev/null 2>&1 ||
		    echo "playwright-core not installed: the browser tests skip" >&2
	fi
	# The HTTP API's clients (test_http_clients.py): npm's mailpit-api
	# and mailhog, the clients users point at a Mailpit or a MailHog.
	if command -v npm >/dev/null 2>&1 &&
	    { [ ! -d "$npm_dir/node_modules/mailpit-api" ] ||
	      [ ! -d "$npm_dir/node_modules/mailhog" ]; }; then
		echo "installing test dependency: mailpit-api mailhog (npm, into $npm_dir)"
		mkdir -p "$npm_dir" &&
		    npm install --prefix "$npm_dir" --no-audit --no-fund --silent \
		    mailpit-api mailhog >/dev/null 2>&1 ||
		    echo "mailpit-api/mailhog not installed: their tests skip" >&2
	fi
	id Debian-exim >/dev/null 2>&1 ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin \
	    Debian-exim 2>/dev/null || true
fi

[ -z "$missing" ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo="sudo"
	else
		echo "tests need:$missing -- run: sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "installing test dependencies:$missing"
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing \
	    >/dev/null || { echo "apt-get install$missing failed" >&2; exit 1; }
	exit 0
fi
echo "tests need:$missing -- install them with your package manager" >&2
exit 1
