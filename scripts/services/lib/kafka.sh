# shellcheck shell=bash
# Apache Kafka (3.9, KRaft) for the integration tests. Sourced by lib/common.sh.
#
# Default: brokers 127.0.0.1:9092, ONE KRaft broker+controller started by up itself (controller
# listener on 127.0.0.1:9093), loopback only, with Debian's OpenJDK 17. Its jars are Apache Kafka's
# released artifacts from Maven Central, copied by Maven from scripts/services/kafka/pom.xml into
# .cache/services/kafka/<version>/libs (done once; Maven's ~/.m2 keeps the downloads for other
# clones). Data, config, pid and logs live under .cache/services/kafka/.
# POTTER_KAFKA_BROKERS set to anything else ("host:port[,host:port...]"): only checked, never
# installed/started.
# The check speaks Kafka's ApiVersions request over bash's /dev/tcp (no client needed); when the
# repo's node_modules/kafkajs is installed, a metadata request through it must succeed too.

KAFKA_DEFAULT_BROKERS='127.0.0.1:9092'
KAFKA_VERSION=3.9.1
KAFKA_MIN_JAVA=17
KAFKA_CONTROLLER_PORT=9093
# Fixed cluster id (base64url of 16 bytes) for the throw-away log dir formatted by up.
KAFKA_CLUSTER_ID='cG90dGVyS2Fma2FUZXN0MQ'
KAFKA_DIR="$CACHE_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/$KAFKA_VERSION/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_LOGFILE="$KAFKA_DIR/kafka.log"
KAFKA_OUTFILE="$KAFKA_DIR/kafka.out"
KAFKA_POM="$SERVICES_LIB_DIR/../kafka/pom.xml"

kafka_brokers() { printf '%s\n' "${POTTER_KAFKA_BROKERS:-$KAFKA_DEFAULT_BROKERS}"; }
kafka_managed() { [[ -z ${POTTER_KAFKA_BROKERS:-} || $POTTER_KAFKA_BROKERS == "$KAFKA_DEFAULT_BROKERS" ]]; }
kafka_exports() { printf 'export POTTER_KAFKA_BROKERS=%q\n' "$(kafka_brokers)"; }

# kafka_api_versions HOST PORT: sends an ApiVersions v0 request (correlation id 7, client id
# "potter") and succeeds if the answer carries correlation id 7 and error code 0.
kafka_api_versions() {
  local out
  # size 16 | api_key 18 | api_version 0 | correlation_id 7 | client_id "potter"
  # shellcheck disable=SC2016 # $1/$2 belong to the inner bash
  out=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" &&
    printf "\x00\x00\x00\x10\x00\x12\x00\x00\x00\x00\x00\x07\x00\x06potter" >&3 &&
    head -c 10 <&3 | od -An -v -tx1' _ "$1" "$2" 2>/dev/null) || return 1
  out=$(tr -s '[:space:]' ' ' <<<"$out")
  [[ $out == *' 00 00 00 07 00 00' || $out == *' 00 00 00 07 00 00 ' ]]
}

# kafka_metadata BROKERS: a metadata request through the repo's kafkajs (skipped, successfully,
# when node or node_modules/kafkajs is not installed). Sets KAFKA_ERROR on failure.
kafka_metadata() {
  local err rc=0
  command -v node >/dev/null 2>&1 || return 0
  err=$(REPO_ROOT=$REPO_ROOT node -e '
    let kafkajs;
    try {
      kafkajs = require(require.resolve("kafkajs", { paths: [process.env.REPO_ROOT] }));
    } catch {
      process.exit(0);
    }
    const { Kafka, logLevel } = kafkajs;
    const kafka = new Kafka({
      clientId: "potter-services",
      brokers: process.argv[1].split(","),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      requestTimeout: 5000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    admin
      .connect()
      .then(() => admin.describeCluster())
      .then((c) => {
        if (!c.brokers.length || c.controller === null || c.controller < 0) throw new Error("no controller yet");
        return admin.disconnect();
      })
      .catch((e) => {
        console.error(e.message);
        process.exit(1);
      });
  ' "$1" 2>&1 >/dev/null) || rc=$?
  if ((rc != 0)); then KAFKA_ERROR="metadata request failed: ${err:-node exited with code $rc}"; fi
  return "$rc"
}

# kafka_check BROKERS: 0 if the first broker answers ApiVersions and a metadata request works,
# 1 otherwise (KAFKA_ERROR says why).
kafka_check() {
  local first=${1%%,*} host port
  host=${first%:*}
  port=${first##*:}
  if [[ -z $host || ! $port =~ ^[0-9]+$ || $host == "$first" ]]; then
    KAFKA_ERROR="not a host:port list: $1"
    return 1
  fi
  if ! kafka_api_versions "$host" "$port"; then
    if tcp_open "$host" "$port"; then
      KAFKA_ERROR="$host:$port accepts connections but does not answer an ApiVersions request like a Kafka broker"
    else
      KAFKA_ERROR="nothing answers on $host:$port"
    fi
    return 1
  fi
  kafka_metadata "$1"
}

# kafka_our_pid: prints the pid of the broker this script started, if it is still running.
kafka_our_pid() {
  local pid
  [[ -f $KAFKA_PIDFILE ]] || return 1
  pid=$(<"$KAFKA_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_CONFIG" || return 1
  printf '%s\n' "$pid"
}

kafka_java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n 1
}

# kafka_fetch_jars: copies the broker's class path into $KAFKA_LIBS with Maven, unless done before.
kafka_fetch_jars() {
  if [[ -f $KAFKA_LIBS/.complete ]]; then return 0; fi
  if ! command -v mvn >/dev/null 2>&1; then apt_install maven; fi
  local tmp="$KAFKA_LIBS.tmp.$$" started=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "kafka: fetching Apache Kafka $KAFKA_VERSION jars with Maven (org.apache.kafka:kafka_2.13) into ${KAFKA_LIBS#"$REPO_ROOT"/}"
  local mvnlog="$KAFKA_DIR/maven.log"
  if ! mvn -B -Dstyle.color=never -f "$KAFKA_POM" "-Dkafka.version=$KAFKA_VERSION" dependency:copy-dependencies \
    "-DoutputDirectory=$tmp" -DincludeScope=runtime </dev/null >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    grep -E '\[(ERROR|WARNING)\]' "$mvnlog" | tail -n 20 >&2 || tail -n 20 "$mvnlog" >&2
    die "kafka: 'mvn dependency:copy-dependencies' on scripts/services/kafka/pom.xml failed (full output: $mvnlog)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka: Maven did not copy kafka_2.13-$KAFKA_VERSION.jar"
  touch "$tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ready in $((SECONDS - started)) s"
}

kafka_write_config() {
  local host=$1 port=$2
  cat >"$KAFKA_CONFIG" <<EOF
# Written by potter's scripts/services/up: one throw-away KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
# Topics are created explicitly (the adapters use the admin client).
auto.create.topics.enable=false
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
  cat >"$KAFKA_LOG4J" <<EOF
# Quiet: warnings and errors only, plus the broker's start/stop lines.
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$KAFKA_LOGFILE
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

# kafka_ready_or_exited BROKERS PID: true once the broker answers, or once process PID has exited
# (then KAFKA_EXITED=1), so that a broker that fails at start is reported at once.
kafka_ready_or_exited() {
  kafka_check "$1" && return 0
  local state
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$2/stat" 2>/dev/null || true)
  if [[ -z $state || $state == Z || $state == X ]]; then
    KAFKA_EXITED=1
    return 0
  fi
  return 1
}

kafka_up() {
  local brokers rc=0
  brokers=$(kafka_brokers)
  kafka_check "$brokers" || rc=$?
  if ((rc == 0)); then
    log "kafka: ready at $brokers (already running)"
    return 0
  fi
  if ! kafka_managed; then
    die "kafka: POTTER_KAFKA_BROKERS=$brokers is not usable ($KAFKA_ERROR). Start that broker or fix the list yourself (up installs and starts nothing for brokers you set), or unset POTTER_KAFKA_BROKERS to use a local one on $KAFKA_DEFAULT_BROKERS."
  fi
  local host=${KAFKA_DEFAULT_BROKERS%:*} port=${KAFKA_DEFAULT_BROKERS##*:} pid
  if pid=$(kafka_our_pid); then
    # Started by an earlier up and still starting (or stuck): give it the usual time.
    log "kafka: the broker started by up (pid $pid) does not answer yet; waiting"
  else
    if tcp_open "$host" "$port"; then
      die "kafka: something listens on $host:$port but $KAFKA_ERROR. Stop it, or set POTTER_KAFKA_BROKERS to a Kafka broker."
    fi
    if tcp_open "$host" "$KAFKA_CONTROLLER_PORT"; then
      die "kafka: $host:$KAFKA_CONTROLLER_PORT (the test broker's controller listener) is taken by another process. Stop it, or set POTTER_KAFKA_BROKERS to a running Kafka broker."
    fi

    local jv=''
    if command -v java >/dev/null 2>&1; then jv=$(kafka_java_major); fi
    if [[ -z $jv ]] || ((jv < KAFKA_MIN_JAVA)); then
      apt_install openjdk-17-jre-headless
      jv=$(kafka_java_major)
      if [[ -z $jv ]] || ((jv < KAFKA_MIN_JAVA)); then
        die "kafka: Java $KAFKA_MIN_JAVA or newer is needed; 'java -version' says ${jv:-nothing} (select Java 17 with update-alternatives --config java)"
      fi
    fi
    kafka_fetch_jars

    mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
    rm -f "$KAFKA_PIDFILE"
    kafka_write_config "$host" "$port"
    local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
      "-Dlog4j.configuration=file:$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_DIR")
    if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
      log "kafka: formatting the KRaft log dir ${KAFKA_DATA#"$REPO_ROOT"/} (cluster id $KAFKA_CLUSTER_ID)"
      java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
        -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_CONFIG" --ignore-formatted >&2 ||
        die "kafka: kafka-storage format failed for $KAFKA_DATA"
    fi
    log "kafka: starting Kafka $KAFKA_VERSION (KRaft, Java $jv) on $host:$port, controller on $host:$KAFKA_CONTROLLER_PORT (files in ${KAFKA_DIR#"$REPO_ROOT"/})"
    (
      cd "$KAFKA_DIR" || exit 1
      exec setsid java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" \
        </dev/null >"$KAFKA_OUTFILE" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
    state_set kafka.started "$KAFKA_PIDFILE"
  fi
  KAFKA_EXITED=0
  if ! wait_until 90 kafka_ready_or_exited "$brokers" "$pid" || ((KAFKA_EXITED)); then
    [[ -r $KAFKA_OUTFILE ]] && tail -n 20 "$KAFKA_OUTFILE" >&2
    [[ -r $KAFKA_LOGFILE ]] && tail -n 20 "$KAFKA_LOGFILE" >&2
    if ((KAFKA_EXITED)); then
      die "kafka: the broker exited while starting (logs: $KAFKA_OUTFILE, $KAFKA_LOGFILE). Its data is throw-away: if the log dir is the problem, remove ${KAFKA_DATA#"$REPO_ROOT"/} and run up again."
    fi
    die "kafka: not ready on $host:$port after 90 s ($KAFKA_ERROR; logs: $KAFKA_OUTFILE, $KAFKA_LOGFILE)"
  fi
  log "kafka: ready at $brokers (Kafka $KAFKA_VERSION, pid $(kafka_our_pid || echo '?'))"
}

kafka_down() {
  local pid
  if ! pid=$(kafka_our_pid); then
    if [[ -f $KAFKA_PIDFILE ]]; then rm -f "$KAFKA_PIDFILE"; fi
    if [[ -n $(state_get kafka.started) ]]; then
      log "kafka: the broker started by up is no longer running"
    else
      log "kafka: not started by scripts/services/up; leaving it alone"
    fi
    state_unset kafka.started
    return 0
  fi
  log "kafka: stopping the broker (pid $pid; controlled shutdown)"
  kill -TERM "$pid" || die "kafka: cannot signal pid $pid (started by another user?)"
  if ! wait_until 30 eval "! kill -0 $pid 2>/dev/null"; then
    log "kafka: pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_PIDFILE"
  state_unset kafka.started
}

kafka_status() {
  local brokers note='' pid version=-
  brokers=$(kafka_brokers)
  if pid=$(kafka_our_pid); then
    note="  (pid $pid, started by scripts/services/up)"
    version=$KAFKA_VERSION
  fi
  if kafka_check "$brokers"; then
    printf '%-9s %-5s %-8s %s%s\n' kafka up "$version" "$brokers" "$note"
  else
    printf '%-9s %-5s %-8s %s  (%s)\n' kafka down - "$brokers" "$KAFKA_ERROR"
    return 1
  fi
}
