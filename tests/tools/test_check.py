#!/usr/bin/env python3
"""mramfs-check on synthetic snapshots (mr-synth) damaged byte by byte at
offsets taken from the layout mr-synth prints, and on one file QEMU wrote.

Pins the exit codes (fsck's: 0 clean, 1 repaired, 4 left unrepaired, 8
operational, 16 usage), what is a problem (stray bitmap bits, an invalid
file) and what is not (stale slots, present pages in holes: warnings), and
that --repair changes only the stray bits' bytes.

Usage: test_check.py --check C --synth S [--make-snapshot M] [NAME-FILTER]
"""
import ctypes
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fs"))
import mountlib  # noqa: E402
from mountlib import Skip, sha256, synth  # noqa: E402

PS = 4096
TMP = None
CHECK = None
MAKE_SNAPSHOT = None

OK, REPAIRED, UNREPAIRED, OPERATIONAL, USAGE = 0, 1, 4, 8, 16


def check(*args, expect=None):
    """Runs mramfs-check; returns (exit status, stdout, stderr)."""
    r = subprocess.run([CHECK, *args], capture_output=True, text=True, timeout=120)
    if expect is not None and r.returncode != expect:
        raise AssertionError("mramfs-check %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
    return r.returncode, r.stdout, r.stderr


def check_json(*args, expect=None):
    status, out, err = check("--json", *args, expect=expect)
    try:
        return status, json.loads(out), err
    except ValueError:
        raise AssertionError("--json printed no JSON:\n%s\nstderr:\n%s" % (out, err))


def path(name):
    return os.path.join(TMP, name)


def make(name, blocks, **spec):
    """A synthetic snapshot; returns (path, layout)."""
    p = path(name)
    spec["blocks"] = blocks
    return p, synth(spec, p)


def patch(p, offset, fn):
    """Replaces the byte at offset with fn(old)."""
    with open(p, "r+b") as f:
        f.seek(offset)
        old = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([fn(old)]))


def read(p, offset, n):
    with open(p, "rb") as f:
        f.seek(offset)
        return f.read(n)


def block(report, name):
    for b in report["blocks"]:
        if b["name"] == name:
            return b
    raise AssertionError("no block %s in %s" % (name, [b["name"] for b in report["blocks"]]))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def punch(p, offset, length):
    fd = os.open(p, os.O_RDWR)
    try:
        if _libc.fallocate(fd, 0x01 | 0x02, offset, length) != 0:  # KEEP_SIZE|PUNCH_HOLE
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)


# A block of 10 pages: its 8-byte bitmap (64-bit host) holds 54 bits past
# the last page, the ones R12 is about.
ROM = {"name": "pc.rom", "size": 10 * PS, "present": [[1, 2], [9, 1]]}
RAM = {"name": "pc.ram", "size": 256 * PS, "present": [[0, 3], [100, 4]]}


def damage_stray(p, layout, idx=1):
    """Sets stray bits of block idx (10 pages, LE): byte 1 holds pages 8-15,
    so 0xfc is pages 10-15; byte 5 holds pages 40-47.  Returns the offsets
    changed and the number of bits set."""
    bm = layout["blocks"][idx]["bitmap_offset"]
    patch(p, bm + 1, lambda b: b | 0xfc)
    patch(p, bm + 5, lambda b: b | 0x81)
    return [bm + 1, bm + 5], 8


# ---------------------------------------------------------------------------


def test_clean_file_exits_0():
    p, _ = make("clean.mig", [RAM, ROM])
    status, out, _ = check(p, expect=OK)
    assert "no problems" in out, out
    assert "problem:" not in out and "warning:" not in out, out
    _, r, _ = check_json(p, expect=OK)
    assert r["valid"] is True and r["error"] is None
    ram, rom = block(r, "pc.ram"), block(r, "pc.rom")
    assert ram["present_pages"] == 7 and rom["present_pages"] == 3, r
    assert ram["stored_bytes"] == 7 * PS and rom["stored_bytes"] == 3 * PS
    assert ram["allocated_bytes"] >= 7 * PS, ram
    for b in (ram, rom):
        assert b["stale_slots"] == 0 and b["present_in_hole"] == 0 and b["stray_bits"] == 0, b
    assert r["problems"] == [] and r["repairs"] == [] and r["warnings"] == []


def test_stale_slots_counted_and_not_a_problem():
    ram = dict(RAM, stale=[[10, 3], [200, 1]])
    p, layout = make("stale.mig", [ram, ROM])
    status, out, _ = check(p, expect=OK)
    assert "problem:" not in out, out
    _, r, _ = check_json(p, expect=OK)
    assert block(r, "pc.ram")["stale_slots"] == 4, r
    assert "stale_ranges" not in block(r, "pc.ram"), "stale ranges only with --verbose"
    _, r, _ = check_json("--verbose", p, expect=OK)
    po = layout["blocks"][0]["pages_offset"]
    assert block(r, "pc.ram")["stale_ranges"] == [
        {"first_page": 10, "pages": 3, "offset": po + 10 * PS, "length": 3 * PS},
        {"first_page": 200, "pages": 1, "offset": po + 200 * PS, "length": PS}], r
    _, out, _ = check("--verbose", p, expect=OK)
    assert "pages 10-12" in out and "0x%x" % (po + 10 * PS) in out, out


def test_allocated_zero_slot_is_not_stale():
    # An absent page whose slot is allocated but zero (a non-sparse copy,
    # a 1 KiB page in a 4 KiB block) holds no old bytes.
    p, layout = make("zeroslot.mig", [RAM])
    po = layout["blocks"][0]["pages_offset"]
    with open(p, "r+b") as f:
        f.seek(po + 50 * PS)
        f.write(bytes(2 * PS))
    _, r, _ = check_json(p, expect=OK)
    b = block(r, "pc.ram")
    assert b["stale_slots"] == 0 and b["allocated_bytes"] >= 9 * PS, b


def test_present_page_in_a_hole_counted_not_warned():
    # A present page may be a hole: it holds zeros (docs/CRASH-CONSISTENCY.md).
    # The mount punches present pages written wholly zero, and a sparse copy
    # of a zero-page-detection=none file has them: counted, never warned.
    p, layout = make("hole.mig", [RAM, ROM])
    rom = layout["blocks"][1]
    before = sha256(p)
    # Page 4 of pc.rom: bit set, slot never written (a hole).
    patch(p, rom["bitmap_offset"], lambda b: b | 0x10)
    # Page 100 of pc.ram: written, then punched.
    ram = layout["blocks"][0]
    punch(p, ram["pages_offset"] + 100 * PS, PS)
    status, out, _ = check(p, expect=OK)
    slot = rom["pages_offset"] + 4 * PS
    assert "warning:" not in out and "problem:" not in out, out
    assert "no problems (2 RAM blocks, 0 warnings)" in out, out
    _, r, _ = check_json(p, expect=OK)
    assert r["warnings"] == [] and r["problems"] == [], r
    assert block(r, "pc.rom")["present_in_hole"] == 1, r
    assert block(r, "pc.ram")["present_in_hole"] == 1, r
    assert block(r, "pc.rom")["present_in_hole_ranges"] == [
        {"first_page": 4, "pages": 1, "offset": slot, "length": PS}], r
    _, out, _ = check("--verbose", p, expect=OK)
    assert re.search(r"in hole: .*offset 0x%x: ram block \"pc.rom\": page 4 present, "
                     r"no data on disk" % slot, out), out
    assert "0x%x" % (ram["pages_offset"] + 100 * PS) in out, out
    assert sha256(p) != before  # (the damage is there; the check wrote nothing)


def test_stray_bits_exit_4_without_repair_and_file_untouched():
    p, layout = make("stray.mig", [RAM, ROM])
    offsets, bits = damage_stray(p, layout)
    damaged = sha256(p)
    status, out, _ = check(p, expect=UNREPAIRED)
    assert re.search(r"problem: .*offset 0x%x: ram block \"pc.rom\": %d bitmap bits set beyond"
                     % (offsets[0], bits), out), out
    assert "left unrepaired" in out, out
    _, r, _ = check_json(p, expect=UNREPAIRED)
    assert block(r, "pc.rom")["stray_bits"] == bits and block(r, "pc.ram")["stray_bits"] == 0
    assert r["valid"] is True and len(r["problems"]) == 1 and r["repairs"] == []
    assert sha256(p) == damaged, "a check without --repair wrote to the file"


def test_stray_bits_repaired_and_nothing_else_changes():
    p, layout = make("repair.mig", [RAM, ROM])
    pristine = sha256(p)
    offsets, bits = damage_stray(p, layout)
    old = [read(p, o, 1)[0] for o in offsets]
    rest = sha256(p, skip=offsets)
    st = os.stat(p)
    status, out, _ = check("--repair", p, expect=REPAIRED)
    assert re.search(r"repaired: .*offset 0x%x: ram block \"pc.rom\": cleared %d stray bitmap "
                     r"bits: wrote 5 bytes, %02x 00 00 00 %02x -> 02 00 00 00 00"
                     % (offsets[0], bits, old[0], old[1]), out), out
    # Those bytes now hold only page bits; everything else is as it was.
    assert read(p, offsets[0], 1) == b"\x02" and read(p, offsets[1], 1) == b"\x00"
    assert sha256(p, skip=offsets) == rest
    assert sha256(p) == pristine, "the repair did not restore the undamaged bytes"
    assert os.stat(p).st_size == st.st_size
    status, out, _ = check(p, expect=OK)
    assert "no problems" in out, out


def test_repair_json_reports_old_and_new_bytes():
    p, layout = make("repairjson.mig", [RAM, ROM])
    offsets, bits = damage_stray(p, layout)
    _, r, _ = check_json("--repair", p, expect=REPAIRED)
    assert r["repairs"] == [{"block": "pc.rom", "offset": offsets[0], "length": 5,
                             "old": "fe00000081", "new": "0200000000",
                             "bits_cleared": bits}], r["repairs"]
    assert block(r, "pc.rom")["stray_bits_cleared"] == bits
    assert r["exit_status"] == REPAIRED
    check(p, expect=OK)


def test_stray_bits_of_a_be32_host_bitmap():
    # 32-bit big-endian host: a 4-byte long, page i in byte 3 - i/8 (i <
    # 32): pages 8 and 9 are bits 0-1 of byte 2, bytes 0-1 are all stray.
    p, layout = make("be32.mig", [dict(ROM)], bitmap_order="be32", long_bits=32)
    bm = layout["blocks"][0]["bitmap_offset"]
    assert layout["blocks"][0]["bitmap_size"] == 4
    pristine = sha256(p)
    patch(p, bm + 2, lambda b: b | 0x80)
    patch(p, bm + 0, lambda b: b | 0x01)
    _, r, _ = check_json("--bitmap-order", "be32", p, expect=UNREPAIRED)
    assert block(r, "pc.rom")["stray_bits"] == 2, r
    assert block(r, "pc.rom")["present_pages"] == 3, r
    _, r, _ = check_json("--bitmap-order", "be32", "--repair", p, expect=REPAIRED)
    assert r["repairs"][0]["offset"] == bm and r["repairs"][0]["length"] == 3, r
    assert sha256(p) == pristine
    check("--bitmap-order", "be32", p, expect=OK)


def test_stray_bits_of_a_be64_host_bitmap():
    # 64-bit big-endian host: page i in byte 7 - i/8 (i < 64): pages 8 and
    # 9 are bits 0-1 of byte 6; bytes 0-5 are all stray.
    p, layout = make("be64.mig", [dict(ROM)], bitmap_order="be64", long_bits=64)
    bm = layout["blocks"][0]["bitmap_offset"]
    pristine = sha256(p)
    patch(p, bm + 6, lambda b: b | 0x04)
    patch(p, bm + 1, lambda b: b | 0x10)
    _, r, _ = check_json("--bitmap-order", "be64", p, expect=UNREPAIRED)
    assert block(r, "pc.rom")["stray_bits"] == 2 and block(r, "pc.rom")["present_pages"] == 3, r
    _, r, _ = check_json("--bitmap-order", "be64", "--repair", p, expect=REPAIRED)
    assert r["repairs"][0]["offset"] == bm + 1 and r["repairs"][0]["length"] == 6, r
    assert sha256(p) == pristine
    check("--bitmap-order", "be64", p, expect=OK)


def test_repair_with_nothing_to_repair_changes_nothing():
    p, _ = make("norepair.mig", [RAM, dict(ROM, stale=[[3, 1]])])
    before = sha256(p)
    _, r, _ = check_json("--repair", p, expect=OK)
    assert r["repairs"] == []
    assert sha256(p) == before


def test_repair_refused_while_the_snapshot_is_locked():
    # A mount holds flock(2) on the snapshot (shared read-only, exclusive
    # read-write): its bitmap is in its memory, so no repair under it.
    p, layout = make("locked.mig", [RAM, ROM])
    damage_stray(p, layout)
    damaged = sha256(p)
    with open(p, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        status, out, err = check("--repair", p)
    assert status == UNREPAIRED | OPERATIONAL, (status, out, err)
    assert "in use" in err, err
    assert sha256(p) == damaged


def test_multifd_flush_records_are_a_problem_left_unrepaired():
    """QEMU refuses a mapped-ram stream with MULTIFD_FLUSH records, and
    removing records is no safe repair: exit 4, with or without --repair,
    and the file is not touched."""
    p, _ = make("flush.mig", [RAM], parts=1, multifd_flushes=2)
    before = sha256(p)
    for extra in ([], ["--repair"]):
        status, out, _ = check(p, *extra, expect=UNREPAIRED)
        assert "MULTIFD_FLUSH" in out and "problem:" in out, out
    assert sha256(p) == before, "the file changed"


def test_invalid_file_exit_4_with_its_message():
    p, layout = make("invalid.mig", [RAM, ROM])
    hdr = layout["blocks"][0]["header_offset"]
    # pages_offset (header + 20) off by one: not page aligned (R9).
    patch(p, hdr + 27, lambda b: b | 0x01)
    before = sha256(p)
    status, out, _ = check(p, expect=UNREPAIRED)
    msg = "offset 0x%x: ram block \"pc.ram\": pages_offset 0x100001 is not page aligned" % (hdr + 20)
    assert msg in out, out
    assert "not a valid mapped-ram file" in out, out
    _, r, _ = check_json(p, expect=UNREPAIRED)
    assert r["valid"] is False and msg in r["error"] and r["blocks"] == [], r
    # Refused for repair, untouched.
    status, out, _ = check("--repair", p, expect=UNREPAIRED)
    assert "not repaired" in out, out
    assert sha256(p) == before


def test_truncated_file_is_invalid_not_operational():
    p, layout = make("trunc.mig", [RAM, ROM])
    os.truncate(p, layout["blocks"][1]["pages_offset"] + 5 * PS)
    status, out, _ = check(p, expect=UNREPAIRED)
    assert "problem:" in out, out


def test_missing_file_exit_8():
    status, out, err = check(path("does-not-exist.mig"), expect=OPERATIONAL)
    assert "No such file" in err, err
    _, r, _ = check_json(path("does-not-exist.mig"), expect=OPERATIONAL)
    assert r["valid"] is None and "No such file" in r["error"], r
    check(TMP, expect=OPERATIONAL)  # a directory


def test_usage_errors_exit_16():
    p, _ = make("usage.mig", [RAM])
    for args in (["--no-such-option", p], [], [p, p], ["--offset", "zz", p],
                 ["--bitmap-order", "middle", p]):
        status, out, err = check(*args, expect=USAGE)
        assert err.startswith("mramfs-check: "), err
        assert out == "", out


def test_json_shape():
    p, layout = make("shape.mig", [dict(RAM, stale=[[7, 1]]), ROM])
    damage_stray(p, layout)
    _, r, _ = check_json("--verbose", p, expect=UNREPAIRED)
    assert set(r) == {"file", "valid", "error", "exit_status", "blocks", "warnings",
                      "problems", "repairs"}, sorted(r)
    assert r["file"] == p and r["exit_status"] == UNREPAIRED
    ints = ["num_pages", "present_pages", "stored_bytes", "allocated_bytes", "stale_slots",
            "present_in_hole", "stray_bits", "stray_bits_cleared", "bitmap_offset",
            "bitmap_size", "pages_offset"]
    for b in r["blocks"]:
        assert isinstance(b["name"], str) and isinstance(b["stored"], bool)
        for k in ints:
            assert isinstance(b[k], int) and not isinstance(b[k], bool), (k, b)
        assert isinstance(b["present_in_hole_ranges"], list)
        assert isinstance(b["stale_ranges"], list)
    assert [b["name"] for b in r["blocks"]] == ["pc.ram", "pc.rom"]
    assert block(r, "pc.rom")["bitmap_offset"] == layout["blocks"][1]["bitmap_offset"]
    assert block(r, "pc.rom")["num_pages"] == 10
    assert all(isinstance(w, str) for w in r["warnings"] + r["problems"])
    assert isinstance(r["repairs"], list)


def test_quiet_prints_only_problems_and_repairs():
    p, layout = make("quiet.mig", [RAM, ROM])
    _, out, err = check("--quiet", p, expect=OK)
    assert out == "" and err == "", (out, err)
    damage_stray(p, layout)
    _, out, _ = check("--quiet", p, expect=UNREPAIRED)
    assert [l.split(":")[0] for l in out.splitlines()] == ["problem"], out
    _, out, _ = check("--quiet", "--repair", p, expect=REPAIRED)
    assert [l.split(":")[0] for l in out.splitlines()] == ["problem", "repaired"], out


def test_progress_only_on_request_when_stderr_is_not_a_tty():
    p, _ = make("progress.mig", [RAM, ROM])
    _, _, err = check(p, expect=OK)
    assert err == "", err
    _, _, err = check("--progress", p, expect=OK)
    lines = err.splitlines()
    assert lines and all(l.startswith("mramfs-check: ") and "%" in l for l in lines), err
    assert lines[-1].startswith("mramfs-check: 100%"), err


def test_stream_at_an_offset():
    p, layout = make("offset.mig", [RAM, ROM], stream_offset=0x3000)
    _, r, _ = check_json("--offset", "0x3000", p, expect=OK)
    assert r["warnings"] == [], r
    _, r, _ = check_json(p, expect=OK)  # found by searching: a warning
    assert any("stream starts at 0x3000" in w for w in r["warnings"]), r


def test_qemu_written_file_is_clean():
    if MAKE_SNAPSHOT is None or shutil.which("qemu-system-x86_64") is None:
        raise Skip("no qemu-system-x86_64 or --make-snapshot")
    p = path("qemu-pc.mig")
    r = subprocess.run([sys.executable, MAKE_SNAPSHOT, "--machine", "pc", p],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    status, rep, err = check_json(p, expect=OK)
    assert rep["valid"] is True and rep["problems"] == [], rep
    assert len(rep["blocks"]) >= 5, rep
    for b in rep["blocks"]:
        assert b["present_in_hole"] == 0, b
        assert b["stray_bits"] == 0, b
    # Every present page is allocated (QEMU writes each one).
    assert sum(b["present_pages"] for b in rep["blocks"]) > 0
    for b in rep["blocks"]:
        assert b["allocated_bytes"] >= b["stored_bytes"], b
    status, out, _ = check(p, expect=OK)
    assert "no problems" in out, out


def main():
    return mountlib.main(globals(), tools=("check", "synth"),
                         options=[("make-snapshot", "examples/make-snapshot.py")],
                         mounts=False, prefix="mramfs-check-")


if __name__ == "__main__":
    sys.exit(main())
