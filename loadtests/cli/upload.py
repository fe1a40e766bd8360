"""`python -m loadtests upload FILE... --bucket B --stack S --run-id R`: a run's report files to S3.

The files go under `<prefix><stack>/<run id>/` (`--base-dir` keeps their sub-folders) and the
bucket keeps a `--retention-days` lifecycle rule on the prefix (`loadtests.publish.s3`). The
outcome is printed as JSON (the stack-output form); the exit code is 0 when the files were
uploaded and 2 when the upload failed (the local files are kept either way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from loadtests import exit_codes
from loadtests.publish.s3 import S3Target, upload_report

__all__ = ["add_parser", "run_upload"]


def add_parser(subparsers: Any) -> None:
    """Register `upload` on the `python -m loadtests` parser."""
    parser = subparsers.add_parser(
        "upload",
        help="upload a run's report files to S3",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("files", nargs="+", type=Path, help="report files (results.json, summary.html, ...)")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="load-tests/")
    parser.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint; AWS when omitted")
    parser.add_argument("--region", default=None)
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--base-dir", type=Path, default=None, help="keep paths relative to this folder")
    parser.set_defaults(handler=run_upload)


def run_upload(args: argparse.Namespace) -> int:
    """The `upload` subcommand; prints the outcome as JSON and returns the process exit code."""
    target = S3Target(args.bucket, args.prefix, args.endpoint_url, args.region, args.retention_days)
    outcome = upload_report(args.files, target, stack=args.stack, run_id=args.run_id, base_dir=args.base_dir)
    json.dump(outcome.to_output(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return exit_codes.PASS if outcome.ok else exit_codes.COULD_NOT_RUN
