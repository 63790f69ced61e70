"""Entry point `pulumi up` runs (Pulumi.yaml: main: infra/)."""

import sys
from pathlib import Path

# Pulumi runs this file as a script: make the repository's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.program import main

main()
