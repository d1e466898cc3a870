#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the test suite talks to are running on 127.0.0.1.
# Starts a stopped server; installs a missing one from Debian's packages when running as root.
# Prints plainly what could not be done: the tests that need it are then skipped (or, under
# CI=true, fail).
set -uo pipefail

say() { printf 'services: %s\n' "$*" >&2; }

pg_up() { python3 - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
}
redis_up() { python3 - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_install() { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }

if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1 && can_install; then
    say "installing PostgreSQL from Debian's packages"; apt_install postgresql
  fi
  if ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
fi
if pg_up; then
  # The suite needs trust (or password-less) access and a database named `test` to start from.
  if ! psql -h 127.0.0.1 -d test -qtAc 'select 1' >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v su >/dev/null; then
    su postgres -c "psql -qtAc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='$(id -un)') THEN CREATE ROLE \\\"$(id -un)\\\" SUPERUSER LOGIN; END IF; END\\\$\\\$\"" >/dev/null 2>&1 || true
    su postgres -c "createdb -O '$(id -un)' test" >/dev/null 2>&1 || true
  fi
else
  say "PostgreSQL is not running on 127.0.0.1:5432 and could not be started: PostgreSQL tests will not run"
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null && can_install; then
    say "installing Redis from Debian's packages"; apt_install redis-server
  fi
  if command -v redis-server >/dev/null; then
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  fi
fi
redis_up || say "Redis is not running on 127.0.0.1:6379 and could not be started: Redis tests will not run"
exit 0
