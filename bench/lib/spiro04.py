"""Drives the original Python spiro-deploy 0.4 the way its CLI does, minus the upload.

    python spiro04.py --out FILE [spiro-deploy 0.4 arguments...]

Parses the arguments with the original's own argparse, builds the bundle with its own
`TarballBuilder` exactly as `spirodeploy.cli.main` does (the whole bundle in a BytesIO), and
writes that buffer to FILE instead of POSTing it. Run it from the project directory, as the
original expects. For the upload job the benchmark runs the original's real `spiro-deploy`
entry point instead.
"""
import os
import sys

from spirodeploy.builder import TarballBuilder
from spirodeploy.cli import build_argparse


def main(argv):
    if len(argv) < 2 or argv[0] != "--out":
        sys.exit("usage: spiro04.py --out FILE [spiro-deploy 0.4 arguments...]")
    out, argv = argv[1], argv[2:]
    args = build_argparse().parse_args(argv)
    # Mirrors spirodeploy.cli.main up to the upload.
    with TarballBuilder() as builder:
        try:
            builder.add_gitcommit()
        except FileNotFoundError:
            print("Warning: No git binary", file=sys.stderr, flush=True)
        if os.path.exists("_salt"):
            builder.add_saltdir("_salt")
        for a in args.artifact:
            builder.add_artifact(a, a)
        if args.include_source is not ...:
            builder.add_source(args.include_source)
    with open(out, "wb") as f:
        f.write(builder.buffer.getbuffer())


if __name__ == "__main__":
    main(sys.argv[1:])
