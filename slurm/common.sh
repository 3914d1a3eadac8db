# Shared set-up of the sbatch scripts in this folder (sourced, not submitted).
# QTGJAX_HOME: the qtgjax checkout (default: the folder sbatch was called from).
# VENV: its virtual environment (default: $QTGJAX_HOME/.venv).
# DRY_RUN=1: print the commands instead of running them.
set -euo pipefail
QTGJAX_HOME=${QTGJAX_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
VENV=${VENV:-$QTGJAX_HOME/.venv}
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$QTGJAX_HOME/.jax_cache}
cd "$QTGJAX_HOME"

run() {
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
        printf '%q ' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# The job's main command, exec'd: it becomes the job's process, so scancel's or the time
# limit's SIGTERM reaches it and SLURM waits (KillWait) while it shuts its workers down,
# instead of killing it when the batch shell dies.
run_main() {
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
        run "$@"
    else
        exec "$@"
    fi
}

if [[ "${DRY_RUN:-0}" != 1 ]]; then
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
fi
