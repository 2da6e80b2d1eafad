#!/usr/bin/env python3
"""A snapshot changed by another program while it is mounted (mfs-change.c):
rewritten in place with the same layout (the new bytes are served, nothing
stale from the kernel's cache), with another layout or truncated (every
file of the snapshot fails with EIO and .mramfs/log says why), back to the
mount's layout (served again), written slowly (reads fail until the writer
is done, never a mix), deleted or renamed (logged).  The mount's own writes
are not changes.

Usage: test_change.py --mount M --info I --synth S [NAME-FILTER]
"""
import errno
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import (expected_block, mounted, pattern_page,  # noqa: E402
                      synth, wait_until)

PS = 4096
TMP = None

SPEC = {"blocks": [
    {"name": "pc.ram", "size": 4 << 20, "present": [[0, 4], [10, 1], [700, 2]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}
# The same layout, other pages present.
SPEC_SAME = {"blocks": [
    {"name": "pc.ram", "size": 4 << 20, "present": [[0, 2], [20, 1], [800, 2]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 8]]},
]}
# pc.ram twice as large: every offset after it moves.
SPEC_OTHER = {"blocks": [
    {"name": "pc.ram", "size": 8 << 20, "present": [[0, 4]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}
NEW_PAGE0 = b"NEW!" * (PS // 4)


def make(name, spec, page0=None):
    path = os.path.join(TMP, name)
    layout = synth(spec, path)
    if page0 is not None:
        with open(path, "r+b") as f:
            f.seek(layout["blocks"][0]["pages_offset"])
            f.write(page0)
    return path


def expected(spec, page0=None):
    data = bytearray(expected_block(spec["blocks"][0]))
    if page0 is not None:
        data[:PS] = page0
    return bytes(data)


def rewrite_in_place(path, src, chunk=None, pause=0.0, after_first=None):
    """What `virsh save` or cp(1) does over an existing file: O_TRUNC and
    write it all, on the same inode (optionally slowly, in chunks)."""
    ino = os.stat(path).st_ino
    with open(src, "rb") as f:
        data = f.read()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        step = chunk or len(data)
        for i, pos in enumerate(range(0, len(data), step)):
            os.pwrite(fd, data[pos:pos + step], pos)
            if i == 0 and after_first:
                after_first()
            time.sleep(pause)
    finally:
        os.close(fd)
    assert os.stat(path).st_ino == ino


def log_of(mnt):
    with open(os.path.join(mnt, ".mramfs", "log")) as f:
        return f.read()


def stats_of(mnt):
    with open(os.path.join(mnt, ".mramfs", "stats.json")) as f:
        return json.load(f)


def wait_log(mnt, needle, timeout=10.0):
    wait_until(lambda: needle in log_of(mnt), timeout=timeout,
               what="%r in .mramfs/log" % needle)
    return log_of(mnt)


def read_all(path):
    with open(path, "rb", buffering=0) as f:
        return f.read()


def expect_eio(fn, what):
    try:
        fn()
    except OSError as e:
        assert e.errno == errno.EIO, "%s: %s, expected EIO" % (what, e)
    else:
        raise AssertionError("%s: did not fail" % what)


def test_same_layout_rewritten_in_place_shows_the_new_bytes():
    for opts in (["-o", "ro"], ["-o", "rw"], ["-o", "ro,direct_io"],
                 ["-o", "ro,splice"]):
        tag = opts[1]
        path = make("same-%s.mig" % tag, SPEC)
        new = make("same-new-%s.mig" % tag, SPEC_SAME, NEW_PAGE0)
        with mounted(path, opts) as mnt:
            ram = os.path.join(mnt, "ram", "pc.ram")
            # Every page in the kernel's cache first.
            assert read_all(ram) == expected(SPEC), tag
            assert stats_of(mnt)["state"] == "valid"
            rewrite_in_place(path, new)
            log = wait_log(mnt, "validated again after the change: same layout")
            assert "written by another program (pid %d) while mounted" % os.getpid() \
                in log, log
            assert read_all(ram) == expected(SPEC_SAME, NEW_PAGE0), \
                "%s: stale or mixed bytes after the rewrite" % tag
            assert int(os.getxattr(ram, "user.mramfs.present_pages")) == 5
            assert os.stat(ram).st_blocks * 512 == 5 * PS
            with open(os.path.join(mnt, "snapshot.json")) as f:
                assert [b["present_pages"] for b in json.load(f)["ram_blocks"]] == [5, 8]
            with open(os.path.join(mnt, "ram", "pc.bios"), "rb") as f:
                assert f.read() == expected_block(SPEC_SAME["blocks"][1])
            with open(ram, "rb") as f:
                assert os.lseek(f.fileno(), 3 * PS, os.SEEK_DATA) == 20 * PS
            assert stats_of(mnt)["state"] == "valid"
        with open(path, "rb") as a, open(new, "rb") as b:
            assert a.read() == b.read(), "%s: the mount changed the new file" % tag


def via_spec(chip="vt82c686b", divider=12, gate=0x02):
    """A fuloong2e with a VIA south bridge whose document gathers the chip's
    section and the serial port's."""
    return {"machine": "fuloong2e", "blocks": SPEC["blocks"], "devices": [
        {"kind": "serial", "divider": divider},
        {"kind": "via-isa", "chip": chip, "config": {"0x85": gate}}]}


def test_superio_documents_follow_a_same_layout_rewrite():
    path = make("via.mig", via_spec())
    new = make("via-new.mig", via_spec(divider=6, gate=0x00))
    other_chip = make("via-chip.mig", via_spec(chip="vt8231"))
    with mounted(path, ["-o", "ro"]) as mnt:
        doc_path = os.path.join(mnt, "superio", "vt82c686b.json")
        doc = json.loads(read_all(doc_path))
        assert doc["functions_in_stream"]["serial0"]["baud"] == 115200 // 12
        assert doc["config_ports_enabled"] is True
        rewrite_in_place(path, new)
        wait_log(mnt, "same layout, its files show the new bytes")
        doc = json.loads(read_all(doc_path))
        assert doc["functions_in_stream"]["serial0"]["baud"] == 115200 // 6, \
            "superio/ still shows the serial port of the old file"
        assert doc["config_ports_enabled"] is False, doc["config_ports_gate"]
        dev = json.loads(read_all(os.path.join(mnt, "devices", "serial.0.json")))
        assert dev["fields"]["state"]["fields"]["divider"]["value"] == 6
        # Another chip at the same offsets: the file cannot change its
        # name under its readers, it says why instead.
        done = "same layout, its files show the new bytes"
        rewrite_in_place(path, other_chip)
        wait_until(lambda: log_of(mnt).count(done) == 2, timeout=10,
                   what="the second rewrite validated")
        doc = json.loads(read_all(doc_path))
        assert doc["decoded"] is False, doc
        assert "vt8231.json" in doc["reason"] and "mount it again" in doc["reason"], doc
        assert os.listdir(os.path.join(mnt, "superio")) == ["vt82c686b.json"]


def test_other_layout_fails_with_eio_says_why_and_recovers():
    path = make("other.mig", SPEC)
    other = make("other-new.mig", SPEC_OTHER)
    back = make("other-back.mig", SPEC_SAME, NEW_PAGE0)
    with mounted(path, ["-o", "rw"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        assert read_all(ram) == expected(SPEC)
        fd = os.open(ram, os.O_RDWR)
        try:
            rewrite_in_place(path, other)
            log = wait_log(mnt, "validated again after the change: ")
            assert 'rewritten with another layout: ram block "pc.ram": used_length ' \
                '0x400000, now 0x800000' in log, log
            assert "fail with EIO" in log, log
            expect_eio(lambda: os.pread(fd, PS, 0), "read")
            expect_eio(lambda: os.lseek(fd, 0, os.SEEK_DATA), "SEEK_DATA")
            expect_eio(lambda: os.pwrite(fd, b"x" * PS, 0), "write")
            expect_eio(lambda: os.fsync(fd), "fsync")
            expect_eio(lambda: read_all(os.path.join(mnt, "snapshot.json")), "snapshot.json")
            expect_eio(lambda: read_all(os.path.join(mnt, "ram", "pc.bios")), "pc.bios")
            st = stats_of(mnt)
            assert st["state"] == "failed", st["state"]
            # Back to the mount's layout: served again, the new bytes.
            rewrite_in_place(path, back)
            wait_log(mnt, "same layout, its files show the new bytes")
            assert os.pread(fd, PS, 0) == NEW_PAGE0
            assert read_all(ram) == expected(SPEC_SAME, NEW_PAGE0)
        finally:
            os.close(fd)
    with open(path, "rb") as a, open(back, "rb") as b:
        assert a.read() == b.read(), "the refused write reached the file"


def test_truncated_snapshot_fails_with_eio_and_says_why():
    path = make("cut.mig", SPEC)
    with mounted(path, ["-o", "ro"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        assert read_all(ram)[:PS] == pattern_page("pc.ram", 0)
        os.truncate(path, os.path.getsize(path) // 2)
        log = wait_log(mnt, "validated again after the change: ")
        assert "fail with EIO" in log and "%s: offset 0x" % os.path.realpath(path) in log, log
        expect_eio(lambda: read_all(ram), "read of a truncated snapshot")
        assert stats_of(mnt)["state"] == "failed"


def test_reads_fail_while_another_program_writes_never_a_mix():
    path = make("slow.mig", SPEC)
    new = make("slow-new.mig", SPEC_SAME, NEW_PAGE0)
    want_old, want_new = expected(SPEC), expected(SPEC_SAME, NEW_PAGE0)
    with mounted(path, ["-o", "ro"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        assert read_all(ram) == want_old
        seen = {"eio": 0, "new": 0, "bad": []}
        noticed = threading.Event()

        def reader():
            # From the moment the mount has noticed the writer until it is
            # done: EIO, then the new bytes; never the old ones, never a mix.
            while not noticed.is_set():
                time.sleep(0.005)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    data = read_all(ram)
                except OSError as e:
                    if e.errno != errno.EIO:
                        seen["bad"].append(str(e))
                    seen["eio"] += 1
                    time.sleep(0.01)
                    continue
                if data == want_new:
                    seen["new"] += 1
                    return
                seen["bad"].append("a read returned neither EIO nor the new bytes")
                return

        t = threading.Thread(target=reader)
        t.start()
        rewrite_in_place(path, new, chunk=64 << 10, pause=0.02,
                         after_first=lambda: (wait_log(mnt, "written by another program"),
                                              noticed.set()))
        t.join(30)
        assert not seen["bad"], seen["bad"]
        assert seen["eio"] > 0 and seen["new"] == 1, seen


def test_the_mounts_own_writes_are_not_changes():
    path = make("own.mig", SPEC)
    with mounted(path, ["-o", "rw"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        fd = os.open(ram, os.O_RDWR)
        try:
            for page in range(30, 60):
                os.pwrite(fd, bytes([page]) * PS, page * PS)
            os.fsync(fd)
        finally:
            os.close(fd)
        time.sleep(0.6)  # twice the quiet period a change waits for
        log = log_of(mnt)
        assert "another program" not in log, log
        assert stats_of(mnt)["state"] == "valid"
        with open(ram, "rb") as f:
            f.seek(45 * PS)
            assert f.read(PS) == bytes([45]) * PS


def test_deleted_and_renamed_snapshots_are_logged():
    path = make("gone.mig", SPEC)
    moved = os.path.join(TMP, "gone-renamed.mig")
    with mounted(path, ["-o", "ro"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        os.rename(path, moved)
        log = wait_log(mnt, "renamed while mounted")
        assert "%s: renamed while mounted to %s" % (os.path.realpath(path), moved) in log, log
        os.unlink(moved)
        log = wait_log(mnt, "deleted while mounted")
        assert "the mount still shows the deleted file" in log, log
        # Deleting is not writing: the mount still serves it.
        assert read_all(ram) == expected(SPEC)
        assert stats_of(mnt)["state"] == "valid"


def test_nowatch_leaves_the_snapshot_unwatched():
    path = make("nowatch.mig", SPEC)
    new = make("nowatch-new.mig", SPEC_SAME, NEW_PAGE0)
    with mounted(path, ["-o", "ro,nowatch"]) as mnt:
        st = stats_of(mnt)
        assert st["watch"].startswith("none") and st["options"]["watch"] is False, st
        rewrite_in_place(path, new)
        time.sleep(0.6)
        assert "another program" not in log_of(mnt)
        assert stats_of(mnt)["state"] == "valid"


if __name__ == "__main__":
    sys.exit(mountlib.main(globals(), prefix="mramfs-change-"))
