#!/usr/bin/env python3
"""restore/ of the mount on synthetic snapshots (mr-synth), without QEMU:
lazy.mig is the snapshot but the lazy block's bitmap and pages (one hole),
qemu-args names this mount, which block is lazy by machine type, a stream
offset, a read-write mount whose writes show in lazy.mig at once, and a
mount point QEMU cannot be given.

QEMU loading what restore/ serves is tests/interop/test_lazy_qemu.py.
Usage: test_restore.py --mount M --info I --synth S [NAME-FILTER]
"""
import errno
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import info_json, mounted, synth  # noqa: E402

PS = 4096
TMP = None


def spec(machine, **kw):
    s = {"machine": machine,
         "blocks": [{"name": "pc.ram", "size": 8 << 20,
                     "present": [[0, 3], [100, 2], [2047, 1]],
                     "stale": [[5, 1]]},
                    {"name": "pc.bios", "size": 256 << 10,
                     "present": [[0, 4]], "stale": [[10, 1]]},
                    {"name": "pegasos2.ram", "size": 1 << 20,
                     "present": [[1, 1]]}]}
    s.update(kw)
    return s


def make(name, s):
    path = os.path.join(TMP, name + ".mig")
    synth(s, path)
    return path


def block(doc, name):
    return next(b for b in doc["ram_blocks"] if b["name"] == name)


def read(path, off=0, n=-1):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def args_of(mnt):
    with open(os.path.join(mnt, "restore", "qemu-args")) as f:
        text = f.read()
    assert text.endswith("\n"), repr(text[-20:])
    return text.split("\n")[:-1]


def check_stream(snap, mnt, lazy):
    """lazy.mig == snap outside [bitmap, end of pages) of `lazy` (a block
    record of mramfs-info --json, or None), zeros and one hole inside."""
    mig = os.path.join(mnt, "restore", "lazy.mig")
    want, got = read(snap), read(mig)
    assert len(got) == len(want), (len(got), len(want))
    if lazy is None:
        assert got == want
        return
    a = lazy["bitmap_offset"]
    z = lazy["pages_offset"] + lazy["used_length"]
    assert got[:a] == want[:a] and got[z:] == want[z:]
    assert got[a:z] == bytes(z - a)
    assert want[a:a + lazy["bitmap_size"]] != bytes(lazy["bitmap_size"])
    with open(mig, "rb") as f:
        assert os.lseek(f.fileno(), 0, os.SEEK_HOLE) == a
        assert os.lseek(f.fileno(), a, os.SEEK_DATA) == z
    # st_blocks: everything but the hole is stored.
    assert os.stat(mig).st_blocks * 512 >= len(want) - (z - a)
    assert os.stat(mig).st_blocks * 512 < len(want) - (z - a) + 512


def test_pc_stream_and_args():
    snap = make("pc", spec("pc-i440fx-10.0"))
    doc = info_json(snap)
    ram = block(doc, "pc.ram")
    with mounted(snap, ["-o", "ro"]) as mnt:
        assert sorted(os.listdir(os.path.join(mnt, "restore"))) == \
            ["lazy.mig", "qemu-args"]
        check_stream(snap, mnt, ram)
        mnt = os.path.realpath(mnt)
        assert args_of(mnt) == [
            "-machine", "memory-backend=pc.ram",
            "-object", "memory-backend-file,id=pc.ram,size=%d,mem-path=%s/"
            "ram/pc.ram,share=off,readonly=on,rom=off,"
            "x-use-canonical-path-for-ramblock-id=off" % (8 << 20, mnt),
            "-global", "migration.mapped-ram=on",
            "-incoming", "file:%s/restore/lazy.mig" % mnt]
        for f in ("lazy.mig", "qemu-args"):
            p = os.path.join(mnt, "restore", f)
            assert os.stat(p).st_mode & 0o222 == 0, f
            try:
                open(p, "r+b")
                raise AssertionError("%s opened for writing" % f)
            except OSError as e:
                assert e.errno in (errno.EROFS, errno.EACCES), e


def test_machine_decides_the_lazy_block():
    for machine, lazy in (("pc-q35-9.2", "pc.ram"), ("pegasos2", "pegasos2.ram"),
                          ("40p", None), ("microvm", None)):
        snap = make("m-" + machine, spec(machine))
        doc = info_json(snap)
        with mounted(snap, ["-o", "ro"]) as mnt:
            check_stream(snap, mnt, block(doc, lazy) if lazy else None)
            args = args_of(mnt)
            if lazy:
                assert args[:2] == ["-machine", "memory-backend=" + lazy], args
            else:
                assert args[0] == "-global" and not any(
                    "memory-backend" in a for a in args), (machine, args)


def test_stream_offset_and_capabilities():
    snap = make("offset", spec("pc-i440fx-10.0", stream_offset=0x3000,
                               capabilities=["x-ignore-shared", "mapped-ram"]))
    doc = info_json(snap)
    with mounted(snap, ["-o", "ro"]) as mnt:
        check_stream(snap, mnt, block(doc, "pc.ram"))
        args = args_of(mnt)
        assert args[4:] == ["-global", "migration.x-ignore-shared=on",
                            "-global", "migration.mapped-ram=on", "-incoming",
                            "file:%s/restore/lazy.mig,offset=0x3000"
                            % os.path.realpath(mnt)], args


def test_read_write_mount_shows_writes_in_the_stream():
    """lazy.mig is served uncached on a read-write mount: a page written
    under ram/ (another block's bitmap and page) shows in it at once."""
    snap = make("rw", spec("pc-i440fx-10.0"))
    doc = info_json(snap)
    bios = block(doc, "pc.bios")
    page = 20  # absent in the spec
    with mounted(snap, ["-o", "rw"]) as mnt:
        mig = os.path.join(mnt, "restore", "lazy.mig")
        before = read(mig, bios["bitmap_offset"], 8)
        assert not before[page // 8] >> (page % 8) & 1
        read(mig)  # everything in the kernel's cache, if it kept any
        with open(os.path.join(mnt, "ram", "pc.bios"), "r+b") as f:
            f.seek(page * PS)
            f.write(b"\x5a" * PS)
        after = read(mig, bios["bitmap_offset"], 8)
        assert after[page // 8] >> (page % 8) & 1, (before, after)
        assert read(mig, bios["pages_offset"] + page * PS, PS) == b"\x5a" * PS
        check_stream(snap, mnt, block(doc, "pc.ram"))


def test_mount_point_qemu_cannot_name():
    """With a comma in the mount point, qemu-args fails to read rather
    than read empty (which would start a fresh VM)."""
    snap = make("comma", spec("pc-i440fx-10.0"))
    mnt = tempfile.mkdtemp(prefix="a,b-", dir=TMP)
    with mounted(snap, ["-o", "ro"], mnt=mnt):
        try:
            with open(os.path.join(mnt, "restore", "qemu-args")) as f:
                raise AssertionError("read %r" % f.read())
        except OSError as e:
            assert e.errno == errno.EOPNOTSUPP, e
        assert os.path.getsize(os.path.join(mnt, "restore", "lazy.mig")) == \
            os.path.getsize(snap)


def main():
    return mountlib.main(globals(), prefix="mramfs-restore-test-")


if __name__ == "__main__":
    sys.exit(main())
