#!/usr/bin/env python3
"""Makes a mapped-ram snapshot with QEMU 10 for the demo: starts a machine
stopped, puts a text marker into its RAM, and migrates it to a file.

    make-snapshot.py [--machine 40p|pc|fuloong2e|pegasos2] OUT.mig
"""
import argparse
import os
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "interop"))
import qemu_harness as qh  # noqa: E402

MARKER = b"mramfs demo: hello from guest RAM at 0x%x\n"

# binary, machine arguments, -nodefaults?, a guest address in plain RAM
MACHINES = {
    # PReP with the PC87312 Super I/O chip.
    "40p": ("qemu-system-ppc", ["-M", "40p", "-m", "64"], False, 0x1000000),
    "pc": ("qemu-system-x86_64", ["-M", "pc", "-m", "128"], True, 0x1000000),
    # VIA VT82C686B south bridge.
    "fuloong2e": ("qemu-system-mips64el", ["-M", "fuloong2e"], False, 0x1000000),
    # VIA VT8231 south bridge.
    "pegasos2": ("qemu-system-ppc", ["-M", "pegasos2", "-m", "256"], False, 0x1000000),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", choices=sorted(MACHINES), default="40p")
    ap.add_argument("out")
    a = ap.parse_args()
    binary, args, nodefaults, gpa = MACHINES[a.machine]
    # Two markers: one inside a page, one across a page boundary.
    blobs = [qh.Blob(gpa, MARKER % gpa, "marker"),
             qh.Blob(gpa + 0x2000 - 20, MARKER % (gpa + 0x2000 - 20), "marker2")]
    with tempfile.TemporaryDirectory(prefix="mramfs-demo-") as work:
        snap = qh.save_snapshot(binary, args, os.path.abspath(a.out), work,
                                blobs=blobs, nodefaults=nodefaults)
    print("%s: %s saved in %.1f s, %d pages written" % (
        a.out, a.machine, snap.seconds, snap.ram_stats.get("normal", 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
