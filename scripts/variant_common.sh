# Sourced by scripts/prior_variant.sh and scripts/vqvae_variant.sh: strict mode, the binaries, and
# the study and output folders.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SM_BIN_DIR:-$here/build/bin}"
export OMP_WAIT_POLICY=PASSIVE
# variant_folders STUDY_DIR OUT_DIR FILE...: sets study and out (absolute paths; out is made); the
# study must hold every FILE.
variant_folders() {
  study=$(cd "$1" && pwd); mkdir -p "$2"; out=$(cd "$2" && pwd); shift 2
  local f
  for f in "$@"; do
    [ -s "$study/$f" ] || { echo "$study is not a finished study (no $f)" >&2; exit 1; }
  done
}
