#!/bin/sh
# Checks that the Debian packages wabridge builds and tests with are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact
# command and fails, so `make` stops with something to do.
set -u

PKGS="build-essential pkg-config libglib2.0-dev-bin libetpan-dev libgmime-3.0-dev
libcurl4-gnutls-dev libgnutls28-dev libxml2-dev libsqlite3-dev libpq-dev libjansson-dev
libmicrohttpd-dev"
# Only what the test suite needs (WB_DEPS=test, set by `make check`). postfix and
# dovecot-lmtpd make the private SMTP server of tests/lib/postfix.sh (the policy-rc.d below
# keeps the system Postfix from starting on port 25). openssl makes the
# TLS tests' certificates, iproute2 sets up their private network namespace. The fuzz
# targets need clang, libFuzzer (libclang_rt.fuzzer-x86_64.a is in libclang-rt-14-dev,
# only a recommendation of clang's) and llvm-symbolizer (in llvm) for readable reports.
# postgresql is the server of the PostgreSQL pass (tests/lib/postgres.sh runs a private
# cluster with its initdb and pg_ctl; the package's own cluster is kept from starting by
# the policy-rc.d below, and its psql is how the tests read the state).
TEST_PKGS="dovecot-imapd dovecot-lmtpd postfix curl mutt tmux valgrind sqlite3 python3 openssl iproute2 clang
libclang-rt-14-dev llvm postgresql"

want="$PKGS"
[ "${WB_DEPS:-build}" = test ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "wabridge needs these Debian packages:$missing" >&2
	echo "Install them as root, then run make again:" >&2
	echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive $cmd" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
# A fresh machine may have no package lists yet; a failed update is worth one retry.
apt-get update -qq || apt-get update -qq || exit 1
# Keep the distribution's Dovecot, Postfix and PostgreSQL from starting on 143/993, 25 and
# 5432: the tests run their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $cmd
