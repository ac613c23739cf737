#!/usr/bin/env bash
# The README's first command: set up, then de-identify one real GE 3D T1 series.
#
#   bash scripts/demo.sh            # writes ./deid-out and prints veil's summary
#
# The key comes from veil's default config dir (veil creates one on first use); set VEIL_KEY
# (64 hex characters) to use your own. Extra arguments go to `veil deid`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

SERIES="../shared/corpus/dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
if [[ ! -d "$SERIES" ]]; then
    echo "demo: $SERIES not found: the corpus is expected at ../shared/corpus beside the repo" >&2
    exit 1
fi

echo "demo: veil deid $SERIES --out deid-out $*"
.venv/bin/veil deid "$SERIES" --out deid-out "$@"
echo "demo: de-identified files are in $ROOT/deid-out"
