#!/usr/bin/env python3
"""The build's defaults are for users, CI's switches are CI's: werror is off
in meson.build's default options (a newer compiler's new warnings must not
break a user's build) and on in scripts/test, which CI runs.

    check_build_defaults.py SOURCE_ROOT
"""
import json
import os
import subprocess
import sys


def main():
    root = sys.argv[1]
    r = subprocess.run(["meson", "introspect", "--buildoptions",
                        os.path.join(root, "meson.build")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        print("meson introspect failed: %s" % r.stderr)
        return 1
    werror = [o["value"] for o in json.loads(r.stdout) if o["name"] == "werror"]
    failed = 0
    if werror != [False]:
        print("FAIL meson.build's default werror is %s, expected false" % werror)
        failed += 1
    with open(os.path.join(root, "scripts", "test")) as f:
        ci = f.read()
    if "-Dwerror=true" not in ci:
        print("FAIL scripts/test (CI) does not build with -Dwerror=true")
        failed += 1
    print("%d passed, %d failed" % (2 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
