"""The odavl-perf policy pack: `pulumi preview --policy-pack policies`. It only lists policies."""

import sys
from pathlib import Path

# The engine runs the pack from this directory; the policies import the project's packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.rules import POLICIES

PolicyPack(name="odavl-perf-policies", policies=POLICIES)
