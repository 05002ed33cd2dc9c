# shellcheck shell=bash
# PostgreSQL (>= 15) for the integration tests. Sourced by lib/common.sh.
#
# Default: postgres://potter:potter@127.0.0.1:5432/potter, served by a Debian
# cluster (pg_lsclusters / pg_createcluster / pg_ctlcluster; no systemd needed).
# POTTER_POSTGRES_URL set to anything else: only checked, never installed/started.

PG_DEFAULT_URL='postgres://potter:potter@127.0.0.1:5432/potter'
PG_MIN_VERSION_NUM=150000
# Present in a cluster's conf.d only if this script created that cluster.
PG_TEST_CONF='zz-potter-test.conf'

postgres_url() { printf '%s\n' "${POTTER_POSTGRES_URL:-$PG_DEFAULT_URL}"; }
postgres_managed() { [[ -z ${POTTER_POSTGRES_URL:-} || $POTTER_POSTGRES_URL == "$PG_DEFAULT_URL" ]]; }
postgres_exports() { printf 'export POTTER_POSTGRES_URL=%q\n' "$(postgres_url)"; }

# pg_query URL SQL: sets PG_OUT to the first column of the first row; on failure sets PG_ERROR and
# returns non-zero. Uses psql, or the repo's node_modules/pg when psql is not installed.
pg_query() {
  local errfile outfile rc=0
  errfile=$(mktemp)
  outfile=$(mktemp)
  if command -v psql >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=3 psql -X -w -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" >"$outfile" 2>"$errfile" || rc=$?
  else
    REPO_ROOT=$REPO_ROOT node -e '
      let pg;
      try {
        pg = require(require.resolve("pg", { paths: [process.env.REPO_ROOT] }));
      } catch {
        console.error("no PostgreSQL client: psql is not installed and node_modules/pg is missing");
        process.exit(3);
      }
      const [url, sql] = process.argv.slice(1);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      client
        .connect()
        .then(() => client.query(sql))
        .then((r) => {
          if (r.rows[0]) console.log(String(Object.values(r.rows[0])[0]));
          return client.end();
        })
        .catch((e) => {
          console.error(e.message);
          process.exit(1);
        });
    ' "$1" "$2" >"$outfile" 2>"$errfile" || rc=$?
  fi
  PG_OUT=$(head -n 1 "$outfile")
  PG_ERROR=$(tr -s '[:space:]' ' ' <"$errfile" | sed -E 's/ $//')
  rm -f "$errfile" "$outfile"
  if ((rc != 0)) && [[ -z $PG_ERROR ]]; then PG_ERROR="client exited with code $rc"; fi
  return "$rc"
}

# pg_check URL: 0 if it answers with a PostgreSQL >= 15 (sets PG_VERSION), 1 if it does not answer
# or rejects the login, 2 if the server is too old (PG_ERROR says why).
pg_check() {
  PG_VERSION=''
  pg_query "$1" "select current_setting('server_version_num') || ' ' || current_setting('server_version')" || return 1
  local num=${PG_OUT%% *}
  PG_VERSION=$(awk '{ print $2 }' <<<"$PG_OUT")
  if ! [[ $num =~ ^[0-9]+$ ]] || ((num < PG_MIN_VERSION_NUM)); then
    PG_ERROR="server is PostgreSQL ${PG_VERSION:-?}; 15 or newer is required"
    return 2
  fi
}

pg_cluster_list() {
  if command -v pg_lsclusters >/dev/null 2>&1; then pg_lsclusters --no-header 2>/dev/null || true; fi
}
# pg_find_cluster PORT: prints "ver name port status owner datadir logfile" of the Debian cluster
# configured on PORT, an online one first.
pg_find_cluster() {
  pg_cluster_list | awk -v p="$1" '
    $3 == p && $4 ~ /^online/ { print; found = 1; exit }
    $3 == p && first == "" { first = $0 }
    END { if (!found && first != "") print first }'
}
pg_newest_server() {
  local d newest=''
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x $d ]] || continue
    d=${d#/usr/lib/postgresql/}
    d=${d%%/*}
    if [[ -z $newest ]] || version_ge "$d" "$newest"; then newest=$d; fi
  done
  printf '%s\n' "$newest"
}

# Test-speed settings, only ever written into a cluster this script created.
pg_mark_test_cluster() {
  local ver=$1 name=$2 dir="/etc/postgresql/$1/$2/conf.d"
  log "postgres: cluster $ver/$name was created by this script: loopback only, fsync=off, synchronous_commit=off"
  as_root mkdir -p "$dir"
  as_root tee "$dir/$PG_TEST_CONF" >/dev/null <<'CONF'
# Written by potter's scripts/services/up for a throw-away test cluster it created.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  if ! grep -Eq "^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\.d'" "/etc/postgresql/$ver/$name/postgresql.conf"; then
    as_root sh -c "printf \"include_dir = 'conf.d'\\n\" >> /etc/postgresql/$ver/$name/postgresql.conf"
  fi
}

pg_create_cluster() {
  local port=$1 ver name=potter
  ver=$(pg_newest_server)
  [[ -n $ver ]] || die "postgres: no PostgreSQL server found under /usr/lib/postgresql after installing it"
  if pg_cluster_list | awk -v v="$ver" '$1 == v && $2 == "potter" { f = 1 } END { exit !f }'; then name="potter-$port"; fi
  log "postgres: creating cluster $ver/$name on port $port"
  as_root pg_createcluster --port "$port" --start-conf manual "$ver" "$name" >&2
  pg_mark_test_cluster "$ver" "$name"
}

# pg_provision VER NAME OWNER USER PASS DB: creates/updates the role and database through the
# cluster owner's peer authentication on the Unix socket.
pg_provision() {
  local ver=$1 name=$2 owner=$3 user=$4 pass=$5 db=$6
  can_be_root || die "postgres: role '$user' or database '$db' is missing in cluster $ver/$name and creating them needs root. Run: sudo -u $owner psql --cluster $ver/$name -c \"CREATE ROLE $user LOGIN SUPERUSER PASSWORD '$pass'\" -c \"CREATE DATABASE $db OWNER $user\""
  log "postgres: ensuring role '$user' (superuser) and database '$db' in cluster $ver/$name"
  (cd / && as_root runuser -u "$owner" -- psql --cluster "$ver/$name" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -v role="$user" -v pass="$pass" -v db="$db") >&2 <<'SQL'
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN SUPERUSER PASSWORD %L', :'role', :'pass') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

postgres_up() {
  local url shown rc=0
  url=$(postgres_url)
  shown=$(mask_url "$url")
  if ! parse_url "$url" || [[ $URL_SCHEME != postgres && $URL_SCHEME != postgresql ]]; then
    die "postgres: not a postgres:// URL: $shown"
  fi
  local host=${URL_HOST:-127.0.0.1} port=${URL_PORT:-5432} user=${URL_USER:-postgres} pass=$URL_PASS
  local db=${URL_PATH:-$user}

  pg_check "$url" || rc=$?
  if ((rc == 0)); then
    log "postgres: ready at $shown (PostgreSQL $PG_VERSION, already running)"
    return 0
  fi
  ((rc != 2)) || die "postgres: $shown answers but $PG_ERROR"
  if ! postgres_managed; then
    die "postgres: POTTER_POSTGRES_URL=$shown is not usable ($PG_ERROR). Start that server or fix the URL yourself (up installs and starts nothing for a URL you set), or unset POTTER_POSTGRES_URL to use a local one on 127.0.0.1:5432."
  fi

  # The default URL: a local Debian cluster on 127.0.0.1:$port.
  local cluster
  cluster=$(pg_find_cluster "$port")
  if [[ $(awk '{ print $4 }' <<<"$cluster") != online* ]] && tcp_open "$host" "$port"; then
    die "postgres: something listens on $host:$port but rejects $shown ($PG_ERROR), and it is not a Debian cluster this script can administer. Create the role and database there (CREATE ROLE $user LOGIN SUPERUSER PASSWORD '...'; CREATE DATABASE $db OWNER $user;), or set POTTER_POSTGRES_URL to a server that accepts the login."
  fi
  if [[ -z $cluster ]]; then
    local before
    before=$(pg_cluster_list | awk '{ print $1 "/" $2 }')
    if [[ -z $(pg_newest_server) ]] || ! version_ge "$(pg_newest_server)" 15 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
      apt_install postgresql
    fi
    cluster=$(pg_find_cluster "$port")
    local v n
    read -r v n _ <<<"$cluster"
    if [[ -n $cluster ]] && ! grep -qxF "$v/$n" <<<"$before"; then
      # Debian's postinst created this cluster just now, for us (without starting it: policy-rc.d).
      pg_mark_test_cluster "$v" "$n"
    fi
    if [[ -z $cluster ]]; then
      can_be_root || die "postgres: no cluster on port $port and creating one needs root: sudo pg_createcluster --port $port 15 potter"
      pg_create_cluster "$port"
      cluster=$(pg_find_cluster "$port")
    fi
  fi
  local ver name status owner logfile
  read -r ver name _ status owner _ logfile <<<"$cluster"

  if [[ $status != online* ]]; then
    can_be_root || die "postgres: cluster $ver/$name is down and starting it needs root. Run: sudo pg_ctlcluster $ver $name start"
    log "postgres: starting cluster $ver/$name on 127.0.0.1:$port"
    # listen_addresses on the command line: whatever this script starts listens on loopback only,
    # without touching the configuration of a cluster it did not create.
    if ! as_root pg_ctlcluster -o '-c listen_addresses=127.0.0.1' "$ver" "$name" start >&2; then
      [[ -r $logfile ]] && tail -n 8 "$logfile" >&2
      die "postgres: could not start cluster $ver/$name (log: $logfile)"
    fi
    state_set postgres.started "$ver $name"
  fi
  if ! wait_until 60 pg_isready -q -h "$host" -p "$port"; then
    [[ -r $logfile ]] && tail -n 8 "$logfile" >&2
    die "postgres: cluster $ver/$name does not accept connections on $host:$port after 60 s (log: $logfile)"
  fi

  rc=0
  pg_check "$url" || rc=$?
  if ((rc == 1)); then
    pg_provision "$ver" "$name" "$owner" "$user" "$pass" "$db"
    rc=0
    pg_check "$url" || rc=$?
  fi
  ((rc == 0)) || die "postgres: cluster $ver/$name is up but $shown fails: $PG_ERROR (check /etc/postgresql/$ver/$name/pg_hba.conf allows password logins from 127.0.0.1)"
  log "postgres: ready at $shown (PostgreSQL $PG_VERSION, cluster $ver/$name)"
}

postgres_down() {
  local rec ver name status
  rec=$(state_get postgres.started)
  if [[ -z $rec ]]; then
    log "postgres: not started by scripts/services/up; leaving it alone"
    return 0
  fi
  read -r ver name <<<"$rec"
  status=$(pg_cluster_list | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $4 }')
  if [[ $status == online* ]]; then
    log "postgres: stopping cluster $ver/$name"
    as_root pg_ctlcluster "$ver" "$name" stop >&2 || die "postgres: could not stop cluster $ver/$name"
  else
    log "postgres: cluster $ver/$name is already stopped"
  fi
  state_unset postgres.started
}

postgres_status() {
  local url shown rec note=''
  url=$(postgres_url)
  shown=$(mask_url "$url")
  rec=$(state_get postgres.started)
  if [[ -n $rec ]]; then note="  (cluster ${rec/ //}, started by scripts/services/up)"; fi
  if pg_check "$url"; then
    printf '%-9s %-5s %-8s %s%s\n' postgres up "$PG_VERSION" "$shown" "$note"
  else
    printf '%-9s %-5s %-8s %s  (%s)\n' postgres down - "$shown" "$PG_ERROR"
    return 1
  fi
}
