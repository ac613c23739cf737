"""Refresh veil's copies of the standard tables (see src/veil/standard/data/SOURCES.md).

python scripts/regenerate_standard.py [--standard ../shared/standard]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "veil" / "standard" / "data"
COPIES = {
    "confidentiality_profile_attributes.json": "confidentiality_profile_attributes.json",
    "safe_private_attributes_E.3.10-1_older_edition.csv": "safe_private_attributes.csv",
    "LICENSE-innolitics-dicom-standard.txt": "LICENSE-innolitics-dicom-standard.txt",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--standard", type=Path, default=ROOT.parent / "shared" / "standard")
    args = parser.parse_args()
    for source, target in COPIES.items():
        shutil.copyfile(args.standard / source, DATA / target)
        print(f"copied {source} -> {target}")
    for script in ("generate_iod_types.py", "generate_iod_top_level_types.py"):
        status = subprocess.call([sys.executable, str(ROOT / "scripts" / script)])
        if status:
            return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
