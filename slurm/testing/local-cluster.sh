#!/usr/bin/env bash
# local-cluster.sh - a throw-away single-node SLURM cluster for tests and CI (Debian 12 / slurm-wlm 22.05).
#
#   slurm/testing/local-cluster.sh start    install (apt) if needed, write the configs, start munged, MariaDB +
#                                           slurmdbd (accounting), slurmctld and slurmd; wait until `srun hostname`
#                                           works
#   slurm/testing/local-cluster.sh stop     cancel the cluster's jobs and stop exactly the daemons `start` started
#                                           (pid files in $STATE_DIR, each checked against its process name)
#   slurm/testing/local-cluster.sh status   which of those daemons run, and `sinfo`
#
# Runs as root (the daemons run as root; any local user can submit jobs afterwards). No systemd and no cgroups are
# needed (proctrack/linuxproc, task/none). See slurm/testing/*.conf.in for the generated configuration and
# ../shared/reference/slurm.md for the reasons behind each setting.
#
# Environment:
#   WITH_DBD=1         1: slurmdbd + MariaDB accounting (sacct works; what real clusters have); 0: no accounting
#                      (then run snakemake with --slurm-status-command squeue, or its status checks never finish)
#   FAKE_GPUS=1        number of fake GPUs on the node (GRES gpu); more than one creates character devices
#                      /dev/motionseg-fakegpuN (removed again by stop)
#   SKIP_INSTALL=0     1: do not run apt-get (packages must be there)
#   STATE_DIR=/var/lib/motionseg-slurm   pid files, slurmctld state, slurmd spool
#   LOG_DIR=/var/log/motionseg-slurm     daemon logs (collect them as CI artefacts on failure)
#   START_TIMEOUT=90   seconds to wait for each daemon / the node to come up
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WITH_DBD=${WITH_DBD:-1}
FAKE_GPUS=${FAKE_GPUS:-1}
SKIP_INSTALL=${SKIP_INSTALL:-0}
STATE_DIR=${STATE_DIR:-/var/lib/motionseg-slurm}
LOG_DIR=${LOG_DIR:-/var/log/motionseg-slurm}
START_TIMEOUT=${START_TIMEOUT:-90}
CLUSTER=ci
MARKER="# motionseg-local-cluster:"
SLURM_ETC=/etc/slurm
HOST=$(hostname -s)

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${secs}s waiting for ${what} (logs: ${LOG_DIR})"
}

# alive PIDFILE NAME: true when PIDFILE names a running process whose command name is NAME.
alive() {
  local f=$1 name=$2 p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] || return 1
  [ "$(ps -o comm= -p "$p" 2>/dev/null)" = "$name" ]
}

# render TEMPLATE DEST: substitute the @VARS@ of a template; never overwrite a file that is not ours.
render() {
  local src=$1 dest=$2 text
  if [ -e "$dest" ] && ! head -n 1 "$dest" | grep -qF "$MARKER"; then
    die "$dest exists and was not written by this script (first line lacks '$MARKER'); refusing to overwrite it"
  fi
  text=$(<"$src")
  text=${text//@CLUSTER@/$CLUSTER}
  text=${text//@HOST@/$HOST}
  text=${text//@NCPU@/$NCPU}
  text=${text//@MEM_MB@/$MEM_MB}
  text=${text//@FAKE_GPUS@/$FAKE_GPUS}
  text=${text//@GPU_FILES@/$GPU_FILES}
  text=${text//@STATE_DIR@/$STATE_DIR}
  text=${text//@LOG_DIR@/$LOG_DIR}
  text=${text//@ACCOUNTING@/$ACCOUNTING}
  printf '%s\n' "$text" >"$dest"
}

install_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge)
  [ "$WITH_DBD" = 1 ] && pkgs+=(slurmdbd mariadb-server)
  local missing=()
  local p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$SKIP_INSTALL" = 1 ] && die "SKIP_INSTALL=1 but packages are missing: ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_munge() {
  if alive "$STATE_DIR/munged.pid" munged; then log "munged already running (ours)"; return 0; fi
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "a munged not started by this script is running: using it, and stop will leave it alone"
    return 0
  fi
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  # munged forks; as user munge it cannot write into $STATE_DIR, so its own pid file is copied there
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  wait_for "$START_TIMEOUT" munged sh -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$STATE_DIR/munged.pid"
}

start_mariadb() {
  if alive "$STATE_DIR/mariadbd.pid" mariadbd; then log "mariadbd already running (ours)"; return 0; fi
  if mariadb -e 'select 1' >/dev/null 2>&1; then
    log "a MariaDB not started by this script is running: using it, and stop will leave it alone"
  else
    install -d -o mysql -g mysql /run/mysqld
    nohup /usr/sbin/mariadbd --user=mysql >"$LOG_DIR/mariadb.out" 2>&1 &
    echo $! >"$STATE_DIR/mariadbd.pid"
    wait_for "$START_TIMEOUT" MariaDB mariadb -e 'select 1'
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'ci-only';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
  render "$HERE/slurmdbd.conf.in" "$SLURM_ETC/slurmdbd.conf"
  chmod 600 "$SLURM_ETC/slurmdbd.conf"
  if alive "$STATE_DIR/slurmdbd.pid" slurmdbd; then log "slurmdbd already running (ours)"; return 0; fi
  /usr/sbin/slurmdbd
  wait_for "$START_TIMEOUT" slurmdbd sacctmgr -n list cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
}

node_idle() {
  local state
  state=$(sinfo -h -n "$HOST" -o %T | head -n 1)
  [ "$state" = idle ] || [ "$state" = mixed ] || [ "$state" = allocated ]
}

fake_gpu_files() {
  if [ "$FAKE_GPUS" = 1 ]; then
    GPU_FILES=/dev/null
    return 0
  fi
  local i
  for ((i = 0; i < FAKE_GPUS; i++)); do
    [ -e "/dev/motionseg-fakegpu$i" ] || mknod -m 666 "/dev/motionseg-fakegpu$i" c 1 3
  done
  GPU_FILES="/dev/motionseg-fakegpu[0-$((FAKE_GPUS - 1))]"
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "start must run as root (the SLURM daemons run as root); try sudo $0 start"
  [[ $FAKE_GPUS =~ ^[1-9][0-9]*$ ]] || die "FAKE_GPUS must be a positive integer, got '$FAKE_GPUS'"
  local t0=$SECONDS
  install_packages
  install -d -m 0755 "$STATE_DIR" "$LOG_DIR" "$SLURM_ETC" "$STATE_DIR/slurmctld.state" "$STATE_DIR/slurmd.spool"
  NCPU=$(nproc)
  MEM_MB=$(($(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 * 80 / 100))
  fake_gpu_files
  if [ "$WITH_DBD" = 1 ]; then
    ACCOUNTING="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
# keep the sbatch --comment (the snakemake plugin writes rule_<rule>_wildcards_<values> there) for sacct
AccountingStoreFlags=job_comment"
  else
    ACCOUNTING="# no accounting: sacct fails, use --slurm-status-command squeue
AccountingStorageType=accounting_storage/none"
  fi
  echo "$WITH_DBD" >"$STATE_DIR/with_dbd"
  # slurm.conf first: the client commands (sacctmgr included) read it
  render "$HERE/slurm.conf.in" "$SLURM_ETC/slurm.conf"
  render "$HERE/gres.conf.in" "$SLURM_ETC/gres.conf"
  start_munge
  if [ "$WITH_DBD" = 1 ]; then
    start_mariadb
    start_slurmdbd
  fi
  if alive "$STATE_DIR/slurmctld.pid" slurmctld; then
    log "slurmctld already running (ours): reconfiguring"
    scontrol reconfigure
  else
    /usr/sbin/slurmctld
  fi
  wait_for "$START_TIMEOUT" slurmctld scontrol ping
  if alive "$STATE_DIR/slurmd.pid" slurmd; then log "slurmd already running (ours)"; else /usr/sbin/slurmd; fi
  wait_for "$START_TIMEOUT" "node $HOST to become idle" node_idle
  sinfo
  timeout 60 srun -t 1 hostname >/dev/null || die "srun hostname failed (logs: $LOG_DIR)"
  log "cluster '$CLUSTER' up in $((SECONDS - t0)) s: node $HOST, $NCPU CPUs, ${MEM_MB} MB, $FAKE_GPUS fake GPU(s)," \
    "accounting $([ "$WITH_DBD" = 1 ] && echo on || echo off)"
}

# stop_one PIDFILE NAME: stop the process named by PIDFILE if it is NAME; SIGKILL after 20 s.
stop_one() {
  local f=$1 name=$2 p i
  [ -e "$f" ] || return 0
  if alive "$f" "$name"; then
    p=$(cat "$f")
    kill "$p"
    for ((i = 0; i < 40; i++)); do
      [ "$(ps -o comm= -p "$p" 2>/dev/null)" = "$name" ] || break
      sleep 0.5
    done
    if [ "$(ps -o comm= -p "$p" 2>/dev/null)" = "$name" ]; then
      log "$name ($p) ignored SIGTERM for 20 s: SIGKILL"
      kill -9 "$p"
    fi
    log "stopped $name ($p)"
  fi
  rm -f "$f"
}

cancel_jobs() {
  alive "$STATE_DIR/slurmctld.pid" slurmctld || return 0
  local jobs i
  jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  [ -n "${jobs// /}" ] || return 0
  log "cancelling jobs: $jobs"
  # shellcheck disable=SC2086
  scancel $jobs || true
  for ((i = 0; i < 30; i++)); do
    [ -z "$(squeue -h -t running,completing -o %A 2>/dev/null)" ] && return 0
    sleep 1
  done
  log "jobs still running after 30 s; stopping the daemons anyway"
}

cmd_stop() {
  [ "$(id -u)" = 0 ] || die "stop must run as root; try sudo $0 stop"
  [ -d "$STATE_DIR" ] || { log "nothing to stop ($STATE_DIR does not exist)"; return 0; }
  cancel_jobs
  stop_one "$STATE_DIR/slurmd.pid" slurmd
  stop_one "$STATE_DIR/slurmctld.pid" slurmctld
  stop_one "$STATE_DIR/slurmdbd.pid" slurmdbd
  stop_one "$STATE_DIR/mariadbd.pid" mariadbd
  stop_one "$STATE_DIR/munged.pid" munged
  local f
  for f in /dev/motionseg-fakegpu*; do [ -c "$f" ] && rm -f "$f"; done
  log "stopped"
}

cmd_status() {
  local rc=0 d
  for d in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$STATE_DIR/$d.pid" "$d"; then
      printf '%-10s running (pid %s)\n' "$d" "$(cat "$STATE_DIR/$d.pid")"
    else
      printf '%-10s not running (or not started by this script)\n' "$d"
      case $d in slurmctld | slurmd) rc=1 ;; esac
    fi
  done
  if [ $rc = 0 ]; then sinfo || rc=1; fi
  return $rc
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
