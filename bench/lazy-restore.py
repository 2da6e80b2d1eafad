#!/usr/bin/env python3
"""bench/run row 7: lazy restore against QEMU's normal restore of a file.

    lazy-restore.py make SNAPSHOT RAM_GIB PRESENT_MIB --mount MOUNT.MRAMFS
    lazy-restore.py measure SNAPSHOT normal|lazy [--touch] --mount MOUNT.MRAMFS

make: a QEMU pc guest with RAM_GIB of RAM saved stopped (mapped-ram), then
PRESENT_MIB of pseudo-random pages written from 256 MiB on through a
read-write mount: QEMU loads such a file as any other (tests/interop
test_write_qemu.py).

measure: one restore, caches as the caller left them (bench/run drops
them).  normal: `qemu -M pc -m N -S -global migration.mapped-ram=on
-incoming file:SNAPSHOT`; lazy: mount.mramfs -o ro, then the same machine
with the lines of restore/qemu-args.  Prints "mount_s completed_s touch_s":
the mount (lazy only, else 0), QEMU's launch to the first query-migrate
saying "completed" (polled every 2 ms), and with --touch the time for
QEMU to read every byte of guest RAM (pmemsave of each range of pc.ram to
/dev/null), else 0.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "interop"))
sys.path.insert(0, os.path.join(top, "tests", "fs"))
import qemu_harness as qh  # noqa: E402
import mountlib  # noqa: E402

QEMU = "qemu-system-x86_64"
MiB = 1 << 20


def machine(snapshot):
    ref = qh.read_ram_layout(snapshot)
    ram = next(b for b in ref.blocks if b.name == "pc.ram")
    return ["-M", "pc", "-m", "%dM" % (ram.used_length // MiB)]


def make(a):
    with tempfile.TemporaryDirectory(dir=os.path.dirname(a.snapshot)) as w:
        qh.save_snapshot(QEMU, ["-M", "pc", "-m", "%dG" % a.ram_gib],
                         a.snapshot, w)
        mnt = os.path.join(w, "mnt")
        os.mkdir(mnt)
        with mountlib.mounted(a.snapshot, ["-o", "rw"], mnt=mnt):
            fd = os.open(os.path.join(mnt, "ram", "pc.ram"), os.O_WRONLY)
            buf = bytearray(os.urandom(MiB))
            for i in range(a.present_mib):
                # Every MiB different, none of its pages zero.
                buf[0:8] = (i + 1).to_bytes(8, "little")
                os.pwrite(fd, buf, (256 + i) * MiB)
            os.fsync(fd)
            os.close(fd)


def touch(vm):
    t = time.monotonic()
    for gpa, _, n in vm.memory_map().ranges_of_block("pc.ram"):
        vm.cmd("pmemsave", {"val": gpa, "size": n, "filename": "/dev/null"},
               timeout=1200)
    return time.monotonic() - t


def measure(a):
    args = machine(a.snapshot)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(a.snapshot)) as w:
        if a.kind == "normal":
            extra = ["-global", "migration.mapped-ram=on", "-incoming",
                     qh.file_uri(a.snapshot)]
            with qh.restore_from_args(QEMU, args, extra, w, poll=0.002) as vm:
                print("0 %.3f %.3f" % (vm.load_seconds,
                                       touch(vm) if a.touch else 0))
            return
        mnt = os.path.join(w, "mnt")
        os.mkdir(mnt)
        t0 = time.monotonic()
        with mountlib.mounted(a.snapshot, ["-o", "ro"], mnt=mnt):
            t_mount = time.monotonic() - t0
            with open(os.path.join(mnt, "restore", "qemu-args")) as f:
                extra = f.read().split("\n")[:-1]
            with qh.restore_from_args(QEMU, args, extra, w, poll=0.002) as vm:
                print("%.3f %.3f %.3f" % (t_mount, vm.load_seconds,
                                          touch(vm) if a.touch else 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mount", required=True, help="mount.mramfs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("snapshot")
    m.add_argument("ram_gib", type=int)
    m.add_argument("present_mib", type=int)
    s = sub.add_parser("measure")
    s.add_argument("snapshot")
    s.add_argument("kind", choices=("normal", "lazy"))
    s.add_argument("--touch", action="store_true")
    a = ap.parse_args()
    mountlib.Tools.mount = a.mount
    qh.install_signal_cleanup()
    (make if a.cmd == "make" else measure)(a)


if __name__ == "__main__":
    main()
