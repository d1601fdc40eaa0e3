#!/usr/bin/env bash
# Sourced by scripts/test.sh: finds a PostgreSQL server for the engine's tests and
# exports CHATKEEP_TEST_PG_URL. In order: the URL already in CHATKEEP_TEST_PG_URL,
# the local server at 127.0.0.1:5432 (started with pg_ctlcluster if installed but
# stopped), else a throwaway cluster (initdb + pg_ctl) in a temporary folder.
# Without any of them the PostgreSQL tests skip, loudly; under CI=true they fail.

pg_answers() { psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if [ -z "${CHATKEEP_TEST_PG_URL:-}" ] && command -v psql >/dev/null 2>&1; then
  local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if ! pg_answers "$local_url" && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
  fi
  if pg_answers "$local_url"; then
    export CHATKEEP_TEST_PG_URL="$local_url"
  else
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -n "$bin" ] && [ -x "$bin/initdb" ]; then
      pg_tmp=$(mktemp -d /tmp/chatkeep-pg.XXXXXX)
      run_as=()
      if [ "$(id -u)" -eq 0 ]; then
        chown nobody "$pg_tmp"
        run_as=(runuser -u nobody --)
      fi
      echo "chatkeep: starting a throwaway PostgreSQL in $pg_tmp for the tests" >&2
      "${run_as[@]}" "$bin/initdb" -D "$pg_tmp/data" -U postgres -A trust >/dev/null
      "${run_as[@]}" "$bin/pg_ctl" -D "$pg_tmp/data" -o "-p 55432 -k $pg_tmp -c listen_addresses=127.0.0.1" \
        -l "$pg_tmp/log" -w start >/dev/null
      trap '"${run_as[@]}" "$bin/pg_ctl" -D "$pg_tmp/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pg_tmp"' EXIT
      export CHATKEEP_TEST_PG_URL="postgres://postgres@127.0.0.1:55432/postgres"
    fi
  fi
fi

if [ -n "${CHATKEEP_TEST_PG_URL:-}" ]; then
  echo "chatkeep: PostgreSQL tests use ${CHATKEEP_TEST_PG_URL}" >&2
elif [ "${CI:-}" = "true" ]; then
  echo "chatkeep: no PostgreSQL server can be had, and CI must run the PostgreSQL tests" >&2
  exit 1
else
  echo "chatkeep: WARNING: no PostgreSQL server found; the PostgreSQL tests will be SKIPPED" >&2
fi
