"""`python -m ops ephemeral ...` is the same as `python -m ops.ephemeral ...`."""

import sys

from ops import ephemeral

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "ephemeral":
        print("usage: python -m ops ephemeral {run,destroy,cleanup} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(ephemeral.main(sys.argv[2:]))
