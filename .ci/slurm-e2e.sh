#!/usr/bin/env bash
# .ci/slurm-e2e.sh - the demo DAG end to end on a real (throw-away, single-node) SLURM cluster.
#
#   1. starts the cluster of slurm/testing/local-cluster.sh (munge, MariaDB + slurmdbd, slurmctld, slurmd, a fake GPU)
#   2. runs the demo DAG locally with `snakemake --cores 2` (the reference)
#   3. runs it with `snakemake --profile slurm --workflow-profile slurm/testing/profile` and checks
#      (slurm/testing/check_slurm_run.py): every SLURM job completed, GPU rules were submitted to the GPU partition
#      with a gres/gpu request (sacct ReqTRES) and logged the CPU fallback (no real GPU behind the fake one), CPU jobs
#      asked for no GPU, `report` ran locally, and summary.csv equals the reference's
#   4. runs it again with `debug_fail_sequences: [<one sequence>]` (per-sequence groups, so only that sequence fails):
#      expects a non-zero exit, the failing job FAILED twice in sacct (1 + retries), no output of that sequence left
#      behind, and every other sequence's scores (methods without training, and `combine` unless a component is
#      trained) written thanks to keep-going
#   5. stops the cluster (also when anything above fails, if this script started it)
#
# Each run happens in its own copy of the working tree (tracked + untracked, not ignored files) under a temporary
# directory, so the checkout's results/ is never touched. Needs root (the SLURM daemons run as root) and apt access
# unless the packages are installed.
#
# All runs use the shipped demo config/config.yaml in full: every method, a -boot one included, whose training reads
# the masks of a per-sequence method (the path that made "Group score depends on itself", issue 30). In the failure
# scenario no model can train (a sequence is missing), so it costs only the per-sequence methods.
# E2E_CONFIG=slurm/testing/e2e-config.yaml shrinks the demo (one per-sequence and one trained method, 10 training
# iterations) for a quicker check while working on the scripts.
#
# Environment: VENV (default: the active virtual environment, else <repo>/.venv; needs
# snakemake-executor-plugin-slurm), RUN_TIMEOUT (seconds per
# snakemake run, default 2400), KEEP=1 (keep the work directory), MOTIONSEG_SKIP_SLURM_E2E=1 (print SKIPPED, exit 0).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-${VIRTUAL_ENV:-$REPO/.venv}}
SNAKEMAKE=$VENV/bin/snakemake
PY=$VENV/bin/python
CLUSTER=$REPO/slurm/testing/local-cluster.sh
CHECK=$REPO/slurm/testing/check_slurm_run.py
RUN_TIMEOUT=${RUN_TIMEOUT:-2400}
KEEP=${KEEP:-0}
FALLBACK_WARNING="torch sees no usable GPU"
E2E_CONFIG=${E2E_CONFIG:-none}
CONFIG_FILES=(config/config.yaml)
[ "$E2E_CONFIG" = none ] || CONFIG_FILES+=("$E2E_CONFIG")
CONFIG_ARGS=()
[ "$E2E_CONFIG" = none ] || CONFIG_ARGS=(--configfile "${CONFIG_FILES[@]}")

log() { printf '[slurm-e2e] %s\n' "$*" >&2; }

if [ "${MOTIONSEG_SKIP_SLURM_E2E:-0}" = 1 ]; then
  log "SKIPPED (MOTIONSEG_SKIP_SLURM_E2E=1)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { log "ERROR: needs root to run the SLURM daemons (or set MOTIONSEG_SKIP_SLURM_E2E=1)"; exit 1; }
[ -x "$SNAKEMAKE" ] || { log "ERROR: no snakemake in $VENV"; exit 1; }
"$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null ||
  { log "ERROR: snakemake-executor-plugin-slurm is not installed in $VENV (pip install snakemake-executor-plugin-slurm)"; exit 1; }

WORK=$(mktemp -d /tmp/motionseg-slurm-e2e.XXXXXX)
STARTED_CLUSTER=0
declare -A SECS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$STARTED_CLUSTER" = 1 ]; then
    "$CLUSTER" stop || log "WARNING: stopping the cluster failed"
  fi
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc). Kept for inspection: $WORK (snakemake output: *.out; SLURM job logs: */logs/slurm/;" \
      "daemon logs: /var/log/motionseg-slurm/)"
  elif [ "$KEEP" = 1 ]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# copy_tree DEST: the working tree without ignored files (no .venv, results/, logs/, .snakemake/) and without any
# virtual environment inside the checkout, ignored or not (e.g. .ci/run's .ci-venv).
copy_tree() {
  mkdir -p "$1"
  local skip='^$' d name
  for d in "$REPO"/*/ "$REPO"/.*/; do
    name=$(basename "$d")
    [ -f "$d/pyvenv.cfg" ] && skip+="|^${name//./\\.}/"
  done
  if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z -co --exclude-standard | { grep -zvE "$skip" || true; } |
      rsync -a --from0 --files-from=- --ignore-missing-args "$REPO/" "$1/"
  else
    rsync -a --exclude .venv --exclude results --exclude logs --exclude .snakemake "$REPO/" "$1/"
  fi
}

# timed NAME COMMAND...: run COMMAND, remember its wall time in SECS[NAME], return its exit status.
timed() {
  local name=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  SECS[$name]=$((SECONDS - t0))
  return $rc
}

# snake DIR OUTFILE ARGS...: snakemake in DIR under a hard timeout (the SLURM plugin can wait forever on a broken
# status command; the first SIGTERM only starts a graceful wait, hence -k).
snake() {
  local dir=$1 out=$2
  shift 2
  (cd "$dir" && timeout -k 30 "$RUN_TIMEOUT" "$SNAKEMAKE" "$@") >"$out" 2>&1
}

if "$CLUSTER" status >/dev/null 2>&1; then
  log "the local cluster is already running: using it and leaving it running"
else
  STARTED_CLUSTER=1
  timed cluster_start "$CLUSTER" start
fi

log "work directory: $WORK"
for d in local slurm fail; do copy_tree "$WORK/$d"; done

log "reference run: snakemake --cores 2"
timed local snake "$WORK/local" "$WORK/local.out" --cores 2 "${CONFIG_ARGS[@]}" ||
  { tail -n 40 "$WORK/local.out"; log "ERROR: the local reference run failed"; exit 1; }

log "SLURM run: snakemake --profile slurm --workflow-profile slurm/testing/profile"
timed slurm snake "$WORK/slurm" "$WORK/slurm.out" --profile slurm --workflow-profile slurm/testing/profile \
  "${CONFIG_ARGS[@]}" ||
  { tail -n 60 "$WORK/slurm.out"; log "ERROR: the SLURM run failed"; exit 1; }
(cd "$WORK/slurm" && "$PY" "$CHECK" success --log "$WORK/slurm.out" --results results \
  --reference "$WORK/local/results" --gpu-rules train train_dul --local-rules report report_semisup \
  --fallback-warning "$FALLBACK_WARNING") || { log "ERROR: checks of the SLURM run failed"; exit 1; }

mapfile -t SEQS < <(find "$WORK/local/results" -path '*/frames/*.npz' -printf '%f\n' | sed 's/\.npz$//' | sort -u)
[ "${#SEQS[@]}" -ge 2 ] || { log "ERROR: the demo needs >= 2 sequences for the failure scenario, found ${SEQS[*]}"; exit 1; }
BAD=${SEQS[1]}
log "failure scenario: debug_fail_sequences=[$BAD], per-sequence groups, keep-going (from the profile)"
rc=0
timed fail snake "$WORK/fail" "$WORK/fail.out" --profile slurm --workflow-profile slurm/testing/profile \
  "${CONFIG_ARGS[@]}" --group-components prep=1 score=1 infer=1 semisup=1 --config "debug_fail_sequences=[$BAD]" || rc=$?
if [ "$rc" = 0 ] || [ "$rc" -ge 124 ]; then
  tail -n 40 "$WORK/fail.out"
  log "ERROR: the failure scenario exited with $rc (expected a job failure, i.e. 1)"
  exit 1
fi
grep -q "Error in group prep\|Error in rule ingest" "$WORK/fail.out" ||
  { log "ERROR: the failing ingest job is not reported"; exit 1; }
(cd "$WORK/fail" && "$PY" "$CHECK" failure --log "$WORK/fail.out" --results results \
  --reference "$WORK/local/results" --bad-sequence "$BAD" --attempts 2 --configfiles "${CONFIG_FILES[@]}") ||
  { log "ERROR: checks of the failure scenario failed"; exit 1; }

n_slurm=$(grep -c "has been submitted with SLURM jobid" "$WORK/slurm.out" || true)
log "PASSED. wall times (s): cluster start ${SECS[cluster_start]:-already up}, local --cores 2 ${SECS[local]}," \
  "SLURM ${SECS[slurm]} ($n_slurm SLURM jobs), failure scenario ${SECS[fail]}"
