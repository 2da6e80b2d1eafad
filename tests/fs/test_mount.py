#!/usr/bin/env python3
"""Read-only mount tests on synthetic snapshots (mr-synth): the tree and its
names, byte-exact reads, SEEK_DATA/SEEK_HOLE, sparse copies, grep,
concurrency, the command line of mount.mramfs and unmounting.

The same behaviours on QEMU-written files are in tests/interop.
Usage: test_mount.py --mount M --info I --synth S [NAME-FILTER]
"""
import contextlib
import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import (Tools, daemon_pid, expected_block, info_json, is_mounted,  # noqa: E402
                      mounted, pattern_page, present_pages, process_gone,
                      seek_runs, synth, unmount, wait_until)

PS = 4096
TMP = None

# Names chosen to exercise every escape rule of mramfs(5).
SPEC = {
    "blocks": [
        {"name": "pc.ram", "size": 8 << 20,
         "present": [[0, 3], [63, 2], [64 + 62, 5], [1000, 1], [2047, 1]],
         "stale": [[3, 2], [500, 1]]},
        {"name": "/rom@etc/acpi/tables", "size": 128 << 10, "present": [[0, 2]]},
        {"name": "pci.0:02.0/vga.vram", "size": 1 << 20, "present": [[255, 1]]},
        {"name": "pci.0:02.0", "size": 64 << 10, "present": [[1, 1]]},
        {"name": "odd/../x%y/.", "size": 4096, "present": [[0, 1]]},
        {"name": "empty", "size": 256 << 10},
        {"name": "full", "size": 64 << 10, "present": [[0, 16]]},
    ]
}
PATHS = {
    "pc.ram": "ram/pc.ram",
    "/rom@etc/acpi/tables": "ram/rom@etc/acpi/tables",
    "pci.0:02.0/vga.vram": "ram/pci.0:02.0/vga.vram",
    "pci.0:02.0": "ram/pci.0:02.0%file",
    "odd/../x%y/.": "ram/odd/%2E%2E/x%25y/%2E",
    "empty": "ram/empty",
    "full": "ram/full",
}


def snapshot():
    path = os.path.join(TMP, "synth.mig")
    if not os.path.exists(path):
        synth(SPEC, path)
    return path


def block_spec(name):
    return next(b for b in SPEC["blocks"] if b["name"] == name)


def test_tree_names_and_xattrs():
    with mounted(snapshot()) as mnt:
        found = set()
        for root, dirs, files in os.walk(os.path.join(mnt, "ram")):
            for f in files:
                found.add(os.path.relpath(os.path.join(root, f), mnt))
        assert found == set(PATHS.values()), "tree: %s" % sorted(found)
        for name, rel in PATHS.items():
            p = os.path.join(mnt, rel)
            assert os.getxattr(p, "user.mramfs.idstr").decode() == name, rel
            b = block_spec(name)
            assert int(os.getxattr(p, "user.mramfs.used_length")) == b["size"]
            assert int(os.getxattr(p, "user.mramfs.page_size")) == PS
            assert int(os.getxattr(p, "user.mramfs.present_pages")) == len(present_pages(b))
            names = os.listxattr(p)
            assert "user.mramfs.pages_offset" in names, names
        assert sorted(os.listdir(mnt)) == [".mramfs", "devices", "guest", "libvirt", "ram", "restore",
                                           "snapshot.json", "superio"]


def test_snapshot_json_is_mramfs_info():
    snap = snapshot()
    with mounted(snap) as mnt:
        with open(os.path.join(mnt, "snapshot.json")) as f:
            shown = json.load(f)
    assert shown == info_json(os.path.realpath(snap)), "snapshot.json differs"


def test_reads_are_byte_exact_and_stale_slots_read_zero():
    # Every reply path: copied (default), spliced, and uncached.
    for opts in ([], ["-o", "splice"], ["-o", "direct_io"], ["-s"]):
        with mounted(snapshot(), opts) as mnt:
            for name, rel in PATHS.items():
                with open(os.path.join(mnt, rel), "rb") as f:
                    data = f.read()
                want = expected_block(block_spec(name))
                assert data == want, "%s differs from its pages (%s)" % (rel, opts)
    with mounted(snapshot()) as mnt:
        # pc.ram pages 3,4 and 500 hold "STALE!" in the file, bit clear.
        with open(os.path.join(mnt, "ram/pc.ram"), "rb") as f:
            f.seek(3 * PS)
            assert f.read(2 * PS) == bytes(2 * PS)
            f.seek(500 * PS)
            assert f.read(PS) == bytes(PS)
    with open(snapshot(), "rb") as raw:
        assert b"STALE!" in raw.read(), "the synthetic file lacks its stale slots"


def test_unaligned_reads_across_runs():
    want = expected_block(block_spec("pc.ram"))
    rnd = random.Random(7)
    with mounted(snapshot()) as mnt:
        fd = os.open(os.path.join(mnt, "ram/pc.ram"), os.O_RDONLY)
        try:
            for _ in range(300):
                off = rnd.randrange(0, len(want))
                n = rnd.choice([1, 17, 4095, 4096, 4097, 70000, 1 << 20, 3 << 20])
                got = os.pread(fd, n, off)
                assert got == want[off:off + n], "pread(%d, %d)" % (n, off)
            assert os.pread(fd, 10, len(want)) == b""
            assert os.pread(fd, 10, len(want) - 3) == want[-3:]
        finally:
            os.close(fd)


def bitmap_runs(present, size):
    runs = []
    for p in sorted(present):
        if runs and runs[-1][1] == p * PS:
            runs[-1] = (runs[-1][0], (p + 1) * PS)
        else:
            runs.append((p * PS, (p + 1) * PS))
    return [(a, min(b, size)) for a, b in runs]


def test_seek_data_hole_follow_the_bitmap():
    with mounted(snapshot()) as mnt:
        for name, rel in PATHS.items():
            b = block_spec(name)
            fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
            try:
                assert seek_runs(fd, b["size"]) == bitmap_runs(present_pages(b), b["size"]), rel
                # A hole at EOF; ENXIO at or past EOF.
                for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                    for off in (b["size"], b["size"] + 1, 1 << 62):
                        try:
                            os.lseek(fd, off, whence)
                            raise AssertionError("%s: lseek(%d) succeeded" % (rel, off))
                        except OSError as e:
                            assert e.errno == errno.ENXIO, (rel, off, e)
                if present_pages(b):
                    last = b["size"] - 1
                    assert os.lseek(fd, 0, os.SEEK_HOLE) <= b["size"]
                    if (last // PS) in present_pages(b):
                        assert os.lseek(fd, last, os.SEEK_HOLE) == b["size"]
                # Inside a page: data starts where asked.
                pc = sorted(present_pages(b))
                if pc:
                    off = pc[0] * PS + 123
                    assert os.lseek(fd, off, os.SEEK_DATA) == off
            finally:
                os.close(fd)


def test_stat_sizes_blocks_times_and_stable_inodes():
    snap = snapshot()
    st_snap = os.stat(snap)
    inodes = []
    for _ in range(2):
        with mounted(snap, ["-o", "ro"]) as mnt:
            cur = {}
            for name, rel in PATHS.items():
                st = os.stat(os.path.join(mnt, rel))
                b = block_spec(name)
                assert st.st_size == b["size"], rel
                assert st.st_blocks * 512 == len(present_pages(b)) * PS, rel
                assert st.st_mtime_ns == st_snap.st_mtime_ns, rel
                assert st.st_uid == st_snap.st_uid and st.st_gid == st_snap.st_gid
                assert st.st_mode & 0o777 == 0o444, oct(st.st_mode)
                cur[rel] = st.st_ino
            cur["ram"] = os.stat(os.path.join(mnt, "ram")).st_ino
            inodes.append(cur)
            du = subprocess.run(["du", "-B1", "--apparent-size", "-s",
                                 os.path.join(mnt, "ram/pc.ram")],
                                capture_output=True, text=True, check=True)
            assert int(du.stdout.split()[0]) == 8 << 20
            du = subprocess.run(["du", "-B1", "-s", os.path.join(mnt, "ram/pc.ram")],
                                capture_output=True, text=True, check=True)
            assert int(du.stdout.split()[0]) == len(present_pages(block_spec("pc.ram"))) * PS
    assert inodes[0] == inodes[1], "inode numbers changed across mounts"


def test_sparse_copies_keep_only_present_pages():
    b = block_spec("pc.ram")
    want = expected_block(b)
    with mounted(snapshot()) as mnt:
        src = os.path.join(mnt, "ram/pc.ram")
        for tool, args in (("cp", ["cp", "--sparse=always", src]),
                           ("dd", ["dd", "if=" + src, "bs=1M", "conv=sparse", "status=none"]),
                           ("rsync", ["rsync", "-S", src])):
            dst = os.path.join(TMP, "copy-" + tool)
            if tool == "dd":
                args = args + ["of=" + dst]
            else:
                args = args + [dst]
            subprocess.run(args, check=True, timeout=120)
            with open(dst, "rb") as f:
                assert f.read() == want, tool + " copy differs"
            alloc = os.stat(dst).st_blocks * 512
            # dd conv=sparse works per 1 MiB block; cp and rsync per page.
            limit = len(present_pages(b)) * PS if tool != "dd" else 5 << 20
            assert alloc <= limit, "%s copy allocates %d bytes" % (tool, alloc)
            if tool == "cp":
                assert alloc == len(present_pages(b)) * PS, alloc
            os.unlink(dst)
        tar = os.path.join(TMP, "b.tar")
        subprocess.run(["tar", "-S", "-cf", tar, "-C", os.path.dirname(src), "pc.ram"],
                       check=True, timeout=120)
        assert os.path.getsize(tar) < 1 << 20, "tar -S stored holes"
        os.unlink(tar)


def test_grep_finds_strings_across_page_boundaries():
    with mounted(snapshot()) as mnt:
        f = os.path.join(mnt, "ram/pc.ram")
        # Page 63 ends with "pc.ram:63;" cut short, page 64 starts "pc.ram:64;".
        tail = pattern_page("pc.ram", 63)[-6:]
        needle = tail + b"pc.ram:64;"
        r = subprocess.run(["grep", "-c", "-a", "-F", needle.decode(), f],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "1", (needle, r.stdout)
        r = subprocess.run(["grep", "-boa", "-F", needle.decode(), f],
                           capture_output=True, text=True, timeout=60)
        assert r.stdout.split(":")[0] == str(64 * PS - 6), r.stdout
        r = subprocess.run(["grep", "-c", "-a", "STALE", f], capture_output=True,
                           text=True, timeout=60)
        assert r.stdout.strip() == "0", "stale slot bytes visible through the mount"


def test_many_concurrent_readers():
    want = expected_block(block_spec("pc.ram"))
    errors = []
    with mounted(snapshot()) as mnt:
        path = os.path.join(mnt, "ram/pc.ram")

        def reader(seed):
            rnd = random.Random(seed)
            try:
                with open(path, "rb", buffering=0) as f:
                    for _ in range(200):
                        off = rnd.randrange(0, len(want))
                        n = rnd.randrange(1, 1 << 20)
                        f.seek(off)
                        if f.read(n) != want[off:off + n]:
                            errors.append("thread %d: mismatch at %d+%d" % (seed, off, n))
                            return
            except Exception as e:  # noqa: BLE001
                errors.append("thread %d: %r" % (seed, e))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a reader hung"
    assert not errors, errors[:3]


def test_writes_fail_with_erofs():
    with mounted(snapshot(), ["-o", "ro"]) as mnt:
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            try:
                os.close(os.open(os.path.join(mnt, "ram/pc.ram"), flags))
                raise AssertionError("open for writing succeeded")
            except OSError as e:
                assert e.errno == errno.EROFS, e
        for op in (lambda: os.mkdir(os.path.join(mnt, "ram/x")),
                   lambda: os.unlink(os.path.join(mnt, "ram/pc.ram")),
                   lambda: os.truncate(os.path.join(mnt, "ram/pc.ram"), 0),
                   lambda: os.setxattr(os.path.join(mnt, "ram/pc.ram"), "user.x", b"1")):
            try:
                op()
                raise AssertionError("a write operation succeeded")
            except OSError as e:
                assert e.errno == errno.EROFS, e


def test_invalid_file_is_refused_with_its_message():
    bad = os.path.join(TMP, "bad.mig")
    layout = synth({"blocks": [{"name": "pc.ram", "size": 1 << 20, "present": [[0, 1]]}]}, bad)
    # Make pages_offset point past the end of the file.
    with open(bad, "r+b") as f:
        f.seek(layout["blocks"][0]["header_offset"] + 20)
        f.write((1 << 40).to_bytes(8, "big"))
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    try:
        r = subprocess.run([Tools.mount, bad, mnt], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r
        assert not is_mounted(mnt)
        line = r.stderr.strip()
        assert "\n" not in line and bad in line and "offset 0x" in line and \
            "pc.ram" in line and "past end of file" in line, line
        r = subprocess.run([Tools.mount, os.path.join(TMP, "missing.mig"), mnt],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "missing.mig" in r.stderr, r
    finally:
        os.rmdir(mnt)


def test_command_line():
    snap = snapshot()
    for args, code in (([], 2), (["--help"], 0), (["--version"], 0),
                       ([snap, "/nonexistent-dir", "-o", "bogus"], 2),
                       ([snap, "/nonexistent-dir", "-o", "umask=9"], 2),
                       ([snap, "/nonexistent-dir", "-x"], 2),
                       ([snap, "/nonexistent-dir"], 3)):
        r = subprocess.run([Tools.mount] + args, capture_output=True, text=True, timeout=30)
        assert r.returncode == code, (args, r.returncode, r.stderr)
    r = subprocess.run([Tools.mount, "--help"], capture_output=True, text=True)
    assert "offset=" in r.stdout and "uid=" in r.stdout
    with mounted(snap, ["-o", "ro,uid=1234,gid=4321,umask=027,nosuid,noatime"]) as mnt:
        st = os.stat(os.path.join(mnt, "ram/pc.ram"))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 4321, 0o440), st
        st = os.stat(os.path.join(mnt, "ram"))
        assert st.st_mode & 0o777 == 0o550, oct(st.st_mode)
        opts = next(l.split()[5] for l in open("/proc/self/mountinfo")
                    if l.split()[4] == os.path.realpath(mnt))
        assert "nosuid" in opts and "noatime" in opts and "ro" in opts.split(","), opts


def test_stream_offset_option():
    snap = os.path.join(TMP, "offset.mig")
    synth({"stream_offset": 0x3000,
           "blocks": [{"name": "pc.ram", "size": 1 << 20, "present": [[2, 1]]}]}, snap)
    for opts in (["-o", "offset=0x3000"], []):
        with mounted(snap, opts) as mnt:
            with open(os.path.join(mnt, "ram/pc.ram"), "rb") as f:
                f.seek(2 * PS)
                assert f.read(PS) == pattern_page("pc.ram", 2)
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    try:
        r = subprocess.run([Tools.mount, snap, mnt, "-o", "offset=0x2000"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "QEVM" in r.stderr, r.stderr
    finally:
        os.rmdir(mnt)


def test_mount_helper_and_fstab():
    """mount -t fuse.mramfs and an fstab line go through mount.fuse.mramfs."""
    helper = "/sbin/mount.fuse.mramfs"
    made = False
    if not os.path.exists(helper):
        # mount(8) runs the helper by its name: it must be the binary.
        os.symlink(os.path.realpath(Tools.mount_binary or Tools.mount), helper)
        made = True
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    fstab = os.path.join(TMP, "fstab")
    snap = os.path.realpath(snapshot())
    try:
        subprocess.run(["mount", "-t", "fuse.mramfs", "-o", "ro,nodev", snap, mnt],
                       check=True, timeout=30, capture_output=True)
        assert is_mounted(mnt)
        assert os.path.getsize(os.path.join(mnt, "ram/pc.ram")) == 8 << 20
        unmount(mnt)
        with open(fstab, "w") as f:
            f.write("%s %s fuse.mramfs ro,noauto,x-systemd.automount,allow_other 0 0\n"
                    % (snap, mnt))
        subprocess.run(["mount", "-T", fstab, mnt], check=True, timeout=30,
                       capture_output=True)
        assert is_mounted(mnt)
        assert os.path.exists(os.path.join(mnt, "snapshot.json"))
        # `mount -f` only pretends.
        unmount(mnt)
        subprocess.run(["mount", "-f", "-t", "fuse.mramfs", snap, mnt], check=True,
                       timeout=30, capture_output=True)
        assert not is_mounted(mnt)
    finally:
        unmount(mnt)
        os.rmdir(mnt)
        if made:
            os.unlink(helper)


def test_unmount_paths():
    snap = snapshot()
    # fusermount3 -u and umount end the daemon.
    for cmd in (["fusermount3", "-u"], ["umount"]):
        mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
        try:
            subprocess.run([Tools.mount, snap, mnt], check=True, timeout=30)
            pid = daemon_pid(mnt)
            assert pid, "no daemon for " + mnt
            subprocess.run(cmd + [mnt], check=True, timeout=30)
            wait_until(lambda: process_gone(pid), what="daemon exit")
        finally:
            unmount(mnt)
            os.rmdir(mnt)
    # SIGTERM unmounts.
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    try:
        subprocess.run([Tools.mount, snap, mnt], check=True, timeout=30)
        pid = daemon_pid(mnt)
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not is_mounted(mnt), what="unmount on SIGTERM")
        wait_until(lambda: process_gone(pid), what="daemon exit")
    finally:
        unmount(mnt)
        os.rmdir(mnt)
    # A lazy unmount while a reader holds a file: the reader keeps reading,
    # the daemon exits when it closes.
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    want = expected_block(block_spec("pc.ram"))
    try:
        subprocess.run([Tools.mount, snap, mnt], check=True, timeout=30)
        pid = daemon_pid(mnt)
        f = open(os.path.join(mnt, "ram/pc.ram"), "rb", buffering=0)
        r = subprocess.run(["umount", mnt], capture_output=True, timeout=30)
        assert r.returncode != 0 and is_mounted(mnt), "umount of a busy mount succeeded"
        subprocess.run(["umount", "-l", mnt], check=True, timeout=30)
        assert not is_mounted(mnt)
        f.seek(63 * PS)
        assert f.read(3 * PS) == want[63 * PS:66 * PS]
        f.close()
        wait_until(lambda: process_gone(pid), what="daemon exit after close")
    finally:
        unmount(mnt)
        os.rmdir(mnt)
    # SIGTERM while a reader holds a file: the reader gets an error, not a hang.
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    try:
        subprocess.run([Tools.mount, snap, mnt], check=True, timeout=30)
        pid = daemon_pid(mnt)
        f = open(os.path.join(mnt, "ram/pc.ram"), "rb", buffering=0)
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: process_gone(pid), what="daemon exit")
        try:
            f.seek(1000 * PS)
            f.read(PS)
        except OSError as e:
            assert e.errno in (errno.ENOTCONN, errno.EIO, errno.ENODEV), e
        f.close()
    finally:
        unmount(mnt)
        os.rmdir(mnt)


def read_bytes_of(pid):
    """Bytes the process has read with read/pread (rchar of /proc/PID/io)."""
    with open("/proc/%d/io" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


@contextlib.contextmanager
def foreground_mount(path):
    """Mounts path with -f and yields (mount point, daemon pid): in the
    foreground the process that opens the snapshot serves it, so its rchar
    counts what mounting read."""
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-", dir=TMP)
    proc = subprocess.Popen([Tools.mount, path, mnt, "-o", "ro", "-f"],
                            stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: is_mounted(mnt), timeout=60, what="the foreground mount")
        yield mnt, proc.pid
    finally:
        unmount(mnt)
        proc.wait(timeout=60)
        os.rmdir(mnt)


def test_huge_snapshot_reads_bitmaps_on_demand():
    # 1 TiB of guest RAM: a 32 MiB bitmap that mounting must not read.
    tib, gib = 1 << 40, 1 << 30
    far = 400 * gib // PS
    path = os.path.join(TMP, "huge.mig")
    synth({"blocks": [{"name": "pc.ram", "size": tib,
                       "present": [[0, 2], [far, 3], [tib // PS - 1, 1]]}]}, path)
    bitmap = tib // PS // 8
    # What a mount of a small snapshot reads (libraries, and under valgrind
    # its debug info) is the baseline.
    with foreground_mount(snapshot()) as (mnt, pid):
        baseline = read_bytes_of(pid)
    try:
        with foreground_mount(path) as (mnt, pid):
            at_mount = read_bytes_of(pid)
            assert at_mount - baseline < bitmap // 8, \
                "mounting read %d bytes, a small snapshot %d" % (at_mount, baseline)
            assert os.listdir(os.path.join(mnt, "ram")) == ["pc.ram"]
            assert read_bytes_of(pid) - at_mount < (1 << 20)
            st = os.stat(os.path.join(mnt, "ram", "pc.ram"))
            # Counting the present pages (st_blocks) reads the bitmap, once.
            assert st.st_blocks == 6 * PS // 512, st.st_blocks
            counted = read_bytes_of(pid)
            assert counted - at_mount >= bitmap - 32768, (counted, at_mount)
            with open(os.path.join(mnt, "ram", "pc.ram"), "rb") as f:
                assert os.pread(f.fileno(), PS, far * PS + PS) == \
                    pattern_page("pc.ram", far + 1)
                assert os.pread(f.fileno(), 1 << 20, 200 * gib) == bytes(1 << 20)
                assert os.lseek(f.fileno(), 5 * PS, os.SEEK_DATA) == far * PS
                assert os.lseek(f.fileno(), (far + 3) * PS, os.SEEK_DATA) == tib - PS
            os.stat(os.path.join(mnt, "ram", "pc.ram"))
            # Chunks are kept: nothing more of the bitmap was read.
            assert read_bytes_of(pid) - counted < bitmap // 4, \
                (read_bytes_of(pid), counted)
            with open(os.path.join(mnt, "snapshot.json")) as f:
                assert json.load(f)["ram_blocks"][0]["present_pages"] == 6
    finally:
        os.unlink(path)


def test_bitmap_cut_under_the_mount_fails_reads_with_eio():
    # 2 GiB: two bitmap chunks, of which mounting reads only the second.
    # Cut the file inside the first before anything looks at the block:
    # reads must fail with EIO, not return zeros from a bitmap never read,
    # and the daemon serves the rest and unmounts.  -o nowatch: what a
    # mount sees when nothing tells it of the change (another host cutting
    # a snapshot on NFS); watched, the whole mount fails (test_change.py).
    gib = 1 << 30
    path = os.path.join(TMP, "cut.mig")
    layout = synth({"blocks": [{"name": "pc.ram", "size": 2 * gib,
                                "present": [[5, 1], [gib // PS + 7, 1]]}]}, path)
    blk = layout["blocks"][0]
    try:
        with mounted(path, ["-o", "ro,nowatch"]) as mnt:
            os.truncate(path, blk["bitmap_offset"] + 100)
            with open(os.path.join(mnt, "ram", "pc.ram"), "rb", buffering=0) as f:
                for off in (0, 5 * PS, gib + 7 * PS, 2 * gib - PS):
                    try:
                        os.pread(f.fileno(), PS, off)
                    except OSError as e:
                        assert e.errno == errno.EIO, (off, e)
                    else:
                        raise AssertionError("read at %#x did not fail" % off)
                try:
                    os.lseek(f.fileno(), 0, os.SEEK_DATA)
                except OSError as e:
                    assert e.errno == errno.EIO, e
                else:
                    raise AssertionError("SEEK_DATA did not fail")
            with open(os.path.join(mnt, "snapshot.json")) as f:
                assert json.load(f)["ram_blocks"][0]["name"] == "pc.ram"
    finally:
        os.unlink(path)


def test_root_widens_the_mounts_readahead_to_max_read():
    # mfs-session.c finds the mount's device in /proc/self/mountinfo.
    if os.geteuid() != 0:
        return
    with mounted(snapshot()) as mnt:
        st = os.stat(mnt)
        bdi = "/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(st.st_dev),
                                                      os.minor(st.st_dev))
        with open(bdi) as f:
            kb = int(f.read())
        with open(os.path.join(mnt, ".mramfs", "stats.json")) as f:
            max_read = json.load(f)["options"]["max_read"]
        assert kb == max_read // 1024, "%s: %d KiB, max_read %d" % (bdi, kb, max_read)


def test_foreground_and_single_thread_modes():
    snap = snapshot()
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    try:
        p = subprocess.Popen([Tools.mount, snap, mnt, "-f", "-s"], stderr=subprocess.PIPE)
        wait_until(lambda: is_mounted(mnt), what="foreground mount")
        with open(os.path.join(mnt, "ram/full"), "rb") as f:
            assert f.read() == expected_block(block_spec("full"))
        subprocess.run(["fusermount3", "-u", mnt], check=True, timeout=30)
        assert p.wait(30) == 0
    finally:
        unmount(mnt)
        os.rmdir(mnt)


def test_foreground_mount_fails_when_its_session_loop_fails():
    """mount.mramfs -f serves until unmount; when the session loop itself
    fails, that is an error: exit status 3 and a message, never 0, and the
    mount is gone.  The loop is made to fail for real: libfuse cannot start
    its first worker thread when FUSE_THREAD_STACK asks for a 2 GB stack
    under a 1 GB address-space limit (the mount itself needs far less).
    Not under valgrind or AddressSanitizer, which need more address space
    than that."""
    snap = snapshot()
    mount = Tools.mount_binary or Tools.mount
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    env = dict(os.environ, FUSE_THREAD_STACK=str(2000 * 1000 * 1000))
    try:
        r = subprocess.run(["prlimit", "--as=%d" % (1000 * 1000 * 1000), mount,
                            snap, mnt, "-f"], env=env, capture_output=True,
                           text=True, timeout=60)
        if "AddressSanitizer" in r.stderr and "ulimit -v" in r.stderr:
            print("    skipped: AddressSanitizer cannot run under an "
                  "address-space limit")
            return
        assert r.returncode == 3 and "serving the mount failed" in r.stderr, \
            "exit %d, stderr %r" % (r.returncode, r.stderr)
        assert not is_mounted(mnt), "the failed mount was left mounted"
    finally:
        unmount(mnt)
        os.rmdir(mnt)


@contextlib.contextmanager
def fuse_connections():
    """/sys/fs/fuse/connections, mounted for the test if it was not."""
    where = "/sys/fs/fuse/connections"
    mounted_here = False
    if not is_mounted(where):
        r = subprocess.run(["mount", "-t", "fusectl", "fusectl", where],
                           capture_output=True, text=True)
        if r.returncode != 0:
            yield None, r.stderr.strip()
            return
        mounted_here = True
    try:
        yield where, None
    finally:
        if mounted_here:
            subprocess.run(["umount", where], check=False)


def abort_connection(conns, mnt):
    with open(os.path.join(conns, str(os.minor(os.stat(mnt).st_dev)),
                           "abort"), "w") as f:
        f.write("1")


def test_an_aborted_connection_is_an_error_and_leaves_no_dead_mount():
    """An admin aborts a connection through fusectl (a hung daemon, say):
    libfuse ends its loop as after an unmount, but the mount stays, every
    access failing with ENOTCONN.  mount.mramfs -f says so and exits 3, and
    neither it nor a daemon in the background leaves the dead mount."""
    snap = snapshot()
    mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    p = None
    with fuse_connections() as (conns, why):
        if conns is None:
            print("    skipped: cannot mount fusectl: %s" % why)
            os.rmdir(mnt)
            return
        try:
            p = subprocess.Popen([Tools.mount, snap, mnt, "-f"],
                                 stderr=subprocess.PIPE, text=True)
            wait_until(lambda: is_mounted(mnt), what="foreground mount")
            with open(os.path.join(mnt, "ram/full"), "rb") as f:
                assert f.read(4096) == expected_block(block_spec("full"))[:4096]
            abort_connection(conns, mnt)
            code = p.wait(60)
            err = p.stderr.read()
            assert code == 3 and "connection was aborted" in err, \
                "exit %d, stderr %r" % (code, err)
            assert not is_mounted(mnt), "the dead mount was left"
            # In the background: the daemon goes, and the mount with it.
            subprocess.run([Tools.mount, snap, mnt], check=True, timeout=60)
            pid = daemon_pid(mnt)
            abort_connection(conns, mnt)
            wait_until(lambda: not is_mounted(mnt), timeout=30,
                       what="the aborted mount to go")
            wait_until(lambda: mountlib.process_gone(pid), timeout=30,
                       what="the daemon to exit")
        finally:
            if p and p.poll() is None:
                p.kill()
                p.wait()
            unmount(mnt)
            os.rmdir(mnt)


def test_foreground_mount_on_a_relative_path_is_unmounted_at_sigterm():
    """libfuse changes to / even in the foreground and unmounts by the path
    it mounted: a relative mount point must still be unmounted."""
    snap = snapshot()
    parent = tempfile.mkdtemp(prefix="mramfs-rel-")
    mnt = os.path.join(parent, "m")
    os.mkdir(mnt)
    p = None
    try:
        p = subprocess.Popen([Tools.mount, snap, "m", "-f"], cwd=parent,
                             stderr=subprocess.PIPE, text=True)
        wait_until(lambda: is_mounted(mnt), what="foreground mount")
        p.send_signal(signal.SIGTERM)
        code = p.wait(60)
        err = p.stderr.read()
        assert code == 0 and not is_mounted(mnt), \
            "exit %d, still mounted %s, stderr %r" % (code, is_mounted(mnt), err)
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        unmount(mnt)
        os.rmdir(mnt)
        os.rmdir(parent)


def main():
    return mountlib.main(globals(), prefix="mramfs-test-")



if __name__ == "__main__":
    sys.exit(main())
