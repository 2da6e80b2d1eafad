#!/usr/bin/env python3
"""A runner that mounts skips (exit 77, counted as skipped by meson) where
mounting cannot work, instead of failing: run as user nobody (setpriv),
and with /dev/fuse hidden in a mount namespace (unshare -m: a bind mount of
/dev/null over it, and an empty /dev).  Needs root itself, to switch user
and make the namespace.

    test_skips.py --runner tests/fs/test_access.py --mount M --info I --synth S
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for t in ("runner", "mount", "info", "synth"):
        ap.add_argument("--" + t, required=True)
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"):
        print("SKIP: needs root, setpriv and unshare")
        return mountlib.SKIPPED
    # User nobody cannot run a Python kept in root's home (pyenv).
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    runner = [python, os.path.realpath(a.runner), "--mount",
              os.path.realpath(a.mount), "--info", os.path.realpath(a.info),
              "--synth", os.path.realpath(a.synth)]
    cases = [
        ("as user nobody", ["setpriv", "--reuid=nobody", "--regid=nogroup",
                            "--clear-groups", "env", "TMPDIR=/tmp"] + runner),
        ("/dev/fuse not the FUSE device",
         ["unshare", "-m", "sh", "-c", 'mount --bind /dev/null /dev/fuse && exec "$@"',
          "sh"] + runner),
        ("no /dev/fuse", ["unshare", "-m", "sh", "-c",
                          'mount -t tmpfs none /dev && exec "$@"', "sh"] + runner),
    ]
    failed = 0
    for what, argv in cases:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if r.returncode == mountlib.SKIPPED and "SKIP" in r.stdout:
            print("ok   %s: exit 77, %s" % (what, r.stdout.strip()))
        else:
            failed += 1
            print("FAIL %s: exit %d, expected 77\nstdout: %s\nstderr: %s" % (
                what, r.returncode, r.stdout, r.stderr))
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
