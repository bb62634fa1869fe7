#!/usr/bin/env bash
# Install the Debian 12 packages for a single-node Slurm cluster with accounting
# (used by the Slurm test harness testing/slurm/, i.e. the real-Slurm tests in tests/slurm,
# and by developers).
#
#   sudo bash scripts/slurm/install.sh            # or as root in CI
#
# - non-interactive, no service is started: a /usr/sbin/policy-rc.d that exits 101
#   is put in place for the install and the one we found (if any) is put back after;
# - idempotent: when every package is already installed it does nothing at all
#   (no apt-get update, no network);
# - packages: slurmctld slurmd slurm-client slurmdbd munge mariadb-server
#   plus slurmrestd slurm-wlm-jwt-plugin for the REST client.
#   Set REGNEKRAFT_SLURM_NO_REST=1 to leave out the REST packages.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
if [[ "${REGNEKRAFT_SLURM_NO_REST:-0}" != "1" ]]; then
    PACKAGES+=(slurmrestd slurm-wlm-jwt-plugin)
fi

log() { echo "[slurm-install] $*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    log "all packages present: ${PACKAGES[*]}"
    exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
    log "must run as root to install: ${missing[*]}"
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    log "apt-get not found: not a Debian system; install ${missing[*]} by hand"
    exit 1
fi

POLICY=/usr/sbin/policy-rc.d
BACKUP=""
if [[ -e "$POLICY" ]]; then
    BACKUP="$(mktemp)"
    cp -p "$POLICY" "$BACKUP"
fi
restore_policy() {
    if [[ -n "$BACKUP" ]]; then
        cp -p "$BACKUP" "$POLICY"; rm -f "$BACKUP"
    else
        rm -f "$POLICY"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# written by regnekraft scripts/slurm/install.sh: start no service\nexit 101\n' > "$POLICY"
chmod 0755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive
log "installing: ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"
log "done"
