#!/usr/bin/env bash
# scripts/postgres.sh — a throw-away PostgreSQL cluster in a folder of its own, from Debian's
# postgresql package (scripts/setup.sh installs it), for the tests and for trying a Shiioo
# cluster on one machine. Nothing of the package's own service is used or changed.
#
#   scripts/postgres.sh start DIR [PORT]   initdb DIR (once) and start it on 127.0.0.1:PORT
#                                          (a free port if not given); prints the server's URL,
#                                          postgres://shiioo@127.0.0.1:PORT
#   scripts/postgres.sh stop DIR           stop it now (pg_ctl -m fast)
#   scripts/postgres.sh kill DIR           stop it as a crash would (pg_ctl -m immediate)
#   scripts/postgres.sh url DIR            print its URL again
#
# Trust authentication on loopback, for this user only: a cluster for tests, not for data.
# Extra server settings go in SHIIOO_PG_OPTIONS (say "-c fsync=off" for throw-away speed).
# As root, the cluster runs as the postgres user (PostgreSQL refuses to run as root).
set -euo pipefail

cmd=${1:?usage: scripts/postgres.sh start|stop|kill|url DIR [PORT]}
dir=${2:?usage: scripts/postgres.sh start|stop|kill|url DIR [PORT]}
bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "postgres.sh: no PostgreSQL under /usr/lib/postgresql (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgres://shiioo@127.0.0.1:$(cat "$dir/port")"; }

case "$cmd" in
  start)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U shiioo --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    port=${3:-$(cat "$dir/port" 2>/dev/null || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    echo "$port" >"$dir/port"
    # The socket goes in DIR too: /var/run/postgresql belongs to the package's service.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 ${SHIIOO_PG_OPTIONS:-}" \
      start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    url
    ;;
  stop) as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  kill) as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null ;;
  url) url ;;
  *) echo "postgres.sh: unknown command $cmd" >&2; exit 2 ;;
esac
