# shellcheck shell=bash
# Redis (>= 7) for the integration tests. Sourced by lib/common.sh.
#
# Default: redis://127.0.0.1:6379, a redis-server started by up itself: loopback only,
# no persistence, daemonized, pid/log files under .cache/services/redis/.
# POTTER_REDIS_URL set to anything else: only checked, never installed/started.
# Checks speak RESP over bash's /dev/tcp (same as `redis-cli ping`), so no client is needed.

REDIS_DEFAULT_URL='redis://127.0.0.1:6379'
REDIS_MIN_VERSION=7.0.0
REDIS_DIR="$CACHE_DIR/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOGFILE="$REDIS_DIR/redis.log"

redis_url() { printf '%s\n' "${POTTER_REDIS_URL:-$REDIS_DEFAULT_URL}"; }
redis_managed() { [[ -z ${POTTER_REDIS_URL:-} || $POTTER_REDIS_URL == "$REDIS_DEFAULT_URL" ]]; }
redis_exports() { printf 'export POTTER_REDIS_URL=%q\n' "$(redis_url)"; }

# redis_resp ARG...: appends one RESP command to REDIS_PAYLOAD.
redis_resp() {
  local a
  REDIS_PAYLOAD+="*$#"$'\r\n'
  for a in "$@"; do REDIS_PAYLOAD+="\$${#a}"$'\r\n'"$a"$'\r\n'; done
}

# redis_check URL: sends [AUTH] PING, INFO server, QUIT. 0 if PONG and Redis >= 7 (sets REDIS_VERSION),
# 1 if no proper answer, 2 if the server is too old (REDIS_ERROR says why).
redis_check() {
  REDIS_VERSION=''
  if ! parse_url "$1" || [[ $URL_SCHEME != redis ]]; then
    REDIS_ERROR='not a redis:// URL (rediss:// is not supported by these scripts)'
    return 1
  fi
  local host=${URL_HOST:-127.0.0.1} port=${URL_PORT:-6379} out err
  REDIS_PAYLOAD=''
  if [[ -n $URL_PASS ]]; then
    if [[ -n $URL_USER ]]; then redis_resp AUTH "$URL_USER" "$URL_PASS"; else redis_resp AUTH "$URL_PASS"; fi
  fi
  redis_resp PING
  redis_resp INFO server
  redis_resp QUIT
  # shellcheck disable=SC2016 # $1..$3 belong to the inner bash
  out=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "%s" "$3" >&3 && cat <&3' _ "$host" "$port" "$REDIS_PAYLOAD" 2>/dev/null) || true
  out=${out//$'\r'/}
  if [[ -z $out ]]; then
    REDIS_ERROR="nothing answers on $host:$port"
    return 1
  fi
  err=$(grep -m 1 '^-' <<<"$out" || true)
  if [[ -n $err ]]; then
    REDIS_ERROR="$host:$port answered: ${err#-}"
    return 1
  fi
  if ! grep -qx '+PONG' <<<"$out"; then
    REDIS_ERROR="$host:$port does not answer PING like a Redis server"
    return 1
  fi
  REDIS_VERSION=$(sed -n 's/^redis_version:\([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
  if ! version_ge "${REDIS_VERSION:-0}" "$REDIS_MIN_VERSION"; then
    REDIS_ERROR="server is Redis ${REDIS_VERSION:-?}; 7 or newer is required"
    return 2
  fi
}

# redis_our_pid: prints the pid of the redis-server this script started, if it is still running.
redis_our_pid() {
  local pid
  [[ -f $REDIS_PIDFILE ]] || return 1
  pid=$(<"$REDIS_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'redis-server' || return 1
  printf '%s\n' "$pid"
}

redis_up() {
  local url shown rc=0
  url=$(redis_url)
  shown=$(mask_url "$url")
  redis_check "$url" || rc=$?
  if ((rc == 0)); then
    log "redis: ready at $shown (Redis $REDIS_VERSION, already running)"
    return 0
  fi
  ((rc != 2)) || die "redis: $shown answers but $REDIS_ERROR"
  if ! redis_managed; then
    die "redis: POTTER_REDIS_URL=$shown is not usable ($REDIS_ERROR). Start that server or fix the URL yourself (up installs and starts nothing for a URL you set), or unset POTTER_REDIS_URL to use a local one on 127.0.0.1:6379."
  fi
  parse_url "$url"
  local host=${URL_HOST:-127.0.0.1} port=${URL_PORT:-6379}
  if tcp_open "$host" "$port"; then
    die "redis: something listens on $host:$port but $REDIS_ERROR. Stop it, or set POTTER_REDIS_URL to a Redis 7 server."
  fi

  if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
  local binver
  binver=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
  version_ge "${binver:-0}" "$REDIS_MIN_VERSION" ||
    die "redis: $(command -v redis-server) is Redis ${binver:-?}; 7 or newer is required"

  mkdir -p "$REDIS_DIR"
  if [[ -f $REDIS_PIDFILE ]] && ! redis_our_pid >/dev/null; then rm -f "$REDIS_PIDFILE"; fi
  log "redis: starting redis-server $binver on $host:$port (no persistence, files in ${REDIS_DIR#"$REPO_ROOT"/})"
  redis-server --bind "$host" --port "$port" --save '' --appendonly no --daemonize yes \
    --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOGFILE" --dir "$REDIS_DIR" >&2 ||
    die "redis: redis-server failed to start (log: $REDIS_LOGFILE)"
  state_set redis.started "$REDIS_PIDFILE"
  if ! wait_until 15 redis_check "$url"; then
    [[ -r $REDIS_LOGFILE ]] && tail -n 20 "$REDIS_LOGFILE" >&2
    die "redis: no PONG from $host:$port after 15 s ($REDIS_ERROR; log: $REDIS_LOGFILE)"
  fi
  log "redis: ready at $shown (Redis $REDIS_VERSION, pid $(redis_our_pid || echo '?'))"
}

redis_down() {
  local pid
  if ! pid=$(redis_our_pid); then
    if [[ -f $REDIS_PIDFILE ]]; then rm -f "$REDIS_PIDFILE"; fi
    if [[ -n $(state_get redis.started) ]]; then
      log "redis: the redis-server started by up is no longer running"
    else
      log "redis: not started by scripts/services/up; leaving it alone"
    fi
    state_unset redis.started
    return 0
  fi
  log "redis: stopping redis-server (pid $pid)"
  kill -TERM "$pid" || die "redis: cannot signal pid $pid (started by another user?)"
  if ! wait_until 10 eval "! kill -0 $pid 2>/dev/null"; then
    log "redis: pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$REDIS_PIDFILE"
  state_unset redis.started
}

redis_status() {
  local url shown note='' pid
  url=$(redis_url)
  shown=$(mask_url "$url")
  if pid=$(redis_our_pid); then note="  (pid $pid, started by scripts/services/up)"; fi
  if redis_check "$url"; then
    printf '%-9s %-5s %-8s %s%s\n' redis up "$REDIS_VERSION" "$shown" "$note"
  else
    printf '%-9s %-5s %-8s %s  (%s)\n' redis down - "$shown" "$REDIS_ERROR"
    return 1
  fi
}
