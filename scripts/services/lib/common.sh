# shellcheck shell=bash
# Shared helpers for scripts/services/{up,down,status}. Sourced, never executed.
#
# Each service lives in lib/<name>.sh and defines four functions:
#   <name>_up      start/verify the service (human messages on stderr)
#   <name>_down    stop it, but only if scripts/services/up started it
#   <name>_status  print one status line on stdout; return 0 if it answers
#   <name>_env     print "VAR=value" for the URL the tests should use
# To add a service: write lib/<name>.sh and append <name> to POTTER_SERVICES.

POTTER_SERVICES=(postgres redis kafka)

SERVICES_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SERVICES_LIB_DIR/../../.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache/services"
STATE_FILE="$CACHE_DIR/state"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

for _svc in "${POTTER_SERVICES[@]}"; do
  # shellcheck source=/dev/null
  source "$SERVICES_LIB_DIR/$_svc.sh"
done
unset _svc

# Resolves the service names given on the command line (default: all) into SELECTED.
select_services() {
  SELECTED=()
  if (($# == 0)); then
    SELECTED=("${POTTER_SERVICES[@]}")
    return 0
  fi
  local name svc known
  for name in "$@"; do
    known=0
    for svc in "${POTTER_SERVICES[@]}"; do
      if [[ $svc == "$name" ]]; then known=1; fi
    done
    ((known)) || die "unknown service '$name' (known: ${POTTER_SERVICES[*]})"
    SELECTED+=("$name")
  done
}

# ---------------------------------------------------------------- state file
# Lines "key=value" recording what scripts/services/up started, so that down
# never stops a server it did not start.
state_get() {
  if [[ -f $STATE_FILE ]]; then
    sed -n "s/^$1=//p" "$STATE_FILE" | tail -n 1
  fi
}
state_unset() {
  if [[ -f $STATE_FILE ]]; then
    local tmp="$STATE_FILE.tmp.$$"
    grep -v "^$1=" "$STATE_FILE" >"$tmp" || true
    mv "$tmp" "$STATE_FILE"
  fi
}
state_set() {
  mkdir -p "$CACHE_DIR"
  state_unset "$1"
  printf '%s=%s\n' "$1" "$2" >>"$STATE_FILE"
}

# ---------------------------------------------------------------- URLs
# shellcheck disable=SC2034 # the URL_* globals are read by the service files
# parse_url URL -> URL_SCHEME URL_USER URL_PASS URL_HOST URL_PORT URL_PATH (user/pass percent-decoded)
parse_url() {
  local re='^([a-zA-Z][a-zA-Z0-9+.-]*)://(([^:@/]*)(:([^@/]*))?@)?(\[[0-9a-fA-F:.]+\]|[^:/?#]*)(:([0-9]+))?(/([^?#]*))?([?#].*)?$'
  [[ $1 =~ $re ]] || return 1
  URL_SCHEME=${BASH_REMATCH[1]}
  URL_USER=$(url_decode "${BASH_REMATCH[3]}")
  URL_PASS=$(url_decode "${BASH_REMATCH[5]}")
  URL_HOST=${BASH_REMATCH[6]}
  URL_HOST=${URL_HOST#[}
  URL_HOST=${URL_HOST%]}
  URL_PORT=${BASH_REMATCH[8]}
  URL_PATH=${BASH_REMATCH[10]}
}
url_decode() {
  local s=${1//+/ }
  printf '%b' "${s//%/\\x}"
}
# Hides the password of a URL for display.
mask_url() { sed -E 's#^([^:/]+://[^:@/]*):[^@/]*@#\1:***@#' <<<"$1"; }
is_loopback() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 ]]; }

# tcp_open HOST PORT: true if something accepts TCP connections there.
# shellcheck disable=SC2016 # $1/$2 belong to the inner bash
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds or time runs out.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# version_ge A B: true if dotted version A >= B.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]; }

# ---------------------------------------------------------------- privileges and packages
can_be_root() {
  [[ $EUID -eq 0 ]] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  else
    sudo -n "$@"
  fi
}

APT_UPDATED=0
# apt_install PKG...: installs Debian packages without starting their services
# (a temporary /usr/sbin/policy-rc.d denies it if none exists): up starts them itself.
apt_install() {
  if ! can_be_root; then
    die "'${*}' must be installed and this is not root (and sudo -n is unavailable). Run: sudo apt-get install -y --no-install-recommends $*   then run this script again."
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* with your package manager, start it, and run this script again."
  local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\n# temporary, written by potter scripts/services/up\nexit 101\n' > $policy && chmod 755 $policy"
    own_policy=1
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 -q)
  if ((!APT_UPDATED)); then
    log "apt-get update"
    as_root "${apt[@]}" update >&2 || log "apt-get update reported errors; trying the install anyway"
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root "${apt[@]}" install -y --no-install-recommends "$@" </dev/null >&2 || rc=$?
  if ((own_policy)); then as_root rm -f "$policy"; fi
  ((rc == 0)) || die "apt-get install $* failed (exit $rc)"
}
