#!/usr/bin/env python3
"""Hostile snapshots through the mount (issue 6): files built to break the
reader, and snapshot files changed under a running mount.

Every case runs the real mount.mramfs and pins one behaviour:

* a file the format forbids is refused before anything is mounted: exit
  status 1, one line on stderr naming the file, the offset and what was
  expected there, no mount and no daemon left behind;
* a file the format allows, however odd, mounts and reads back exactly;
* a snapshot truncated, replaced or rewritten while mounted never crashes
  the daemon: reads of what is gone fail with EIO (never a short read that
  looks like end of file), writes never extend the file, and the mount
  still unmounts cleanly (mount.mramfs(8), SNAPSHOT CHANGED WHILE MOUNTED);
* a full file system fails writes with ENOSPC and leaves a snapshot that
  mramfs-check finds clean.

Hostile files are mr-synth output patched at offsets taken from its layout
(and mramfs-info's), as tests/format/test-invariants-*.c do in C; the
expected messages match the ones those tests pin.  Daemons that serve a
case run in the foreground (-f) so that their exit status and log (and,
in the sanitizer build, any report) are checked at unmount.

Usage: test_hostile.py --mount M --info I --synth S --read R --check C [FILTER]
"""
import contextlib
import errno
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import (Tools, daemon_pid, expected_block, info_json, is_mounted,  # noqa: E402
                      mounted, pattern_page, read_block, sha256, synth,
                      tmpfs, unmount, wait_until)

PS = 4096
TMP = None
CHECK = None  # mramfs-check

# MappedRamHeader fields (docs/FORMAT.md §9.3), from the header's offset.
HDR_VERSION, HDR_PAGE_SIZE, HDR_BITMAP, HDR_PAGES = 0, 4, 12, 20

BASE = {"blocks": [
    {"name": "pc.ram", "size": 1 << 20, "present": [[0, 4], [100, 2], [255, 1]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}


# ---------------------------------------------------------------------------
# Building hostile files

class Snap:
    """A mr-synth file, its spec and its layout (mr-synth's, plus the
    descriptor offsets mramfs-info reports)."""

    def __init__(self, name, spec=None):
        self.spec = spec or BASE
        self.path = os.path.join(TMP, name + ".mig")
        self.layout = synth(self.spec, self.path)
        self._info = None
        # EOF byte, 0x06, be32 length, then the JSON to the end of the file.
        self._vmdesc = self.read(self.layout["eof_offset"] + 6)

    @property
    def info(self):
        """mramfs-info --json of the file as mr-synth wrote it."""
        if self._info is None:
            self._info = info_json(self.path)
        return self._info

    @property
    def blocks(self):
        return self.info["ram_blocks"]

    def block(self, i):
        return self.blocks[i]

    def hdr(self, i):
        return self.blocks[i]["header_offset"]

    def size(self):
        return os.path.getsize(self.path)

    def patch(self, off, data):
        with open(self.path, "r+b") as f:
            f.seek(off)
            f.write(data)

    def be32(self, off, v):
        self.patch(off, struct.pack(">I", v))

    def be64(self, off, v):
        self.patch(off, struct.pack(">Q", v))

    def read(self, off, n=-1):
        """n bytes at off, or all to the end of the file."""
        with open(self.path, "rb") as f:
            f.seek(off)
            return f.read(n)

    def vmdesc(self):
        """The vmdesc JSON mr-synth wrote, parsed (a new copy each time)."""
        return json.loads(self._vmdesc)

    def set_tail(self, sections=b"", vmdesc=None, raw_json=None, length=None):
        """Rewrites everything after the ram END section: device sections
        (bytes), the EOF record and a vmdesc (a dict, or raw JSON bytes;
        `length` overrides its be32 length field)."""
        text = raw_json if raw_json is not None else \
            json.dumps(vmdesc, separators=(",", ":")).encode()
        eof = self.layout["eof_offset"]
        with open(self.path, "r+b") as f:
            f.truncate(eof)
            f.seek(eof)
            f.write(sections + b"\x00\x06" +
                    struct.pack(">I", len(text) if length is None else length) + text)


def sparse_sections(snap, sizes, vmdesc):
    """Device sections "big0", "big1", ... each one buffer field of the
    given size, their bodies left as holes (zeros), then EOF and vmdesc."""
    eof = snap.layout["eof_offset"]
    vmdesc["devices"] = [device_desc(b"big%d" % i, [{"name": "data", "type": "buffer",
                                                      "size": n}])
                         for i, n in enumerate(sizes)]
    text = json.dumps(vmdesc, separators=(",", ":")).encode()
    with open(snap.path, "r+b") as f:
        f.truncate(eof)
        at = eof
        for i, n in enumerate(sizes):
            idstr = b"big%d" % i
            f.seek(at)
            f.write(b"\x04" + struct.pack(">I", 100 + i) + bytes([len(idstr)]) + idstr +
                    struct.pack(">II", 0, 1))
            at = f.tell() + n
            f.seek(at)
            f.write(b"\x7e" + struct.pack(">I", 100 + i))
            at = f.tell()
        f.write(b"\x00\x06" + struct.pack(">I", len(text)) + text)


def full_section(section_id, idstr, body, instance=0, version=1):
    """A FULL device section record with its footer (docs/FORMAT.md §6)."""
    return (b"\x04" + struct.pack(">I", section_id) + bytes([len(idstr)]) + idstr +
            struct.pack(">II", instance, version) + body +
            b"\x7e" + struct.pack(">I", section_id))


def device_desc(idstr, fields, instance=0, version=1, vmsd="dev"):
    return {"name": idstr.decode(), "instance_id": instance, "vmsd_name": vmsd,
            "version": version, "fields": fields}


def u32_field(name="x"):
    return {"name": name, "type": "uint32", "size": 4}


# ---------------------------------------------------------------------------
# Mounting

def new_mnt():
    return tempfile.mkdtemp(prefix="mramfs-mnt-")


def no_sanitizer_report(text, what):
    for needle in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer"):
        assert needle not in text, "%s: sanitizer report:\n%s" % (what, text)


def refused(path, offset, *needles, opts=(), code=1):
    """mount.mramfs refuses path: exit status `code`, exactly one line on
    stderr, "PATH: offset 0xOFFSET: ..." with every needle, and nothing
    mounted or left running.  Returns the line."""
    mnt = new_mnt()
    try:
        r = subprocess.run([Tools.mount, path, mnt, *opts], capture_output=True,
                           text=True, timeout=120)
        no_sanitizer_report(r.stderr, path)
        assert r.returncode == code, "exit status %d, expected %d: %s" % (
            r.returncode, code, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1, "expected one line on stderr, got %r" % lines
        line = lines[0]
        head = "mount.mramfs: %s: " % os.path.realpath(path)
        if offset is not None:
            head += "offset 0x%x: " % offset
        assert line.startswith(head), "%r does not start with %r" % (line, head)
        for n in needles:
            assert n in line, "%r not in %r" % (n, line)
        assert not is_mounted(mnt), "refused but mounted"
        assert daemon_pid(mnt) is None, "a daemon is left running for " + mnt
        assert os.listdir(mnt) == []
        return line
    finally:
        unmount(mnt)
        os.rmdir(mnt)


class Daemon:
    def __init__(self, mnt, proc, log):
        self.mnt, self.proc, self.log_path = mnt, proc, log

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None and is_mounted(self.mnt)

    def path(self, rel):
        return os.path.join(self.mnt, rel)


_serial = [0]


@contextlib.contextmanager
def served(snapshot, opts=()):
    """mount.mramfs in the foreground (-f): yields a Daemon; at the end
    unmounts and checks that the daemon exited 0 with no sanitizer
    report in its log."""
    _serial[0] += 1
    mnt = new_mnt()
    log = os.path.join(TMP, "daemon-%d.log" % _serial[0])
    with open(log, "w") as out:
        p = subprocess.Popen([Tools.mount, snapshot, mnt, "-f", *opts],
                             stdout=out, stderr=out)
    d = Daemon(mnt, p, log)
    try:
        wait_until(lambda: is_mounted(mnt) or p.poll() is not None,
                   timeout=60, what="mount of " + snapshot)
        assert p.poll() is None, "mount.mramfs -f exited %s: %s" % (p.returncode, d.log())
        yield d
    finally:
        unmount(mnt)
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        os.rmdir(mnt)
    text = d.log()
    no_sanitizer_report(text, "daemon of " + snapshot)
    assert rc == 0, "the daemon exited with %d: %s" % (rc, text)


def expect_errno(code, fn, what):
    try:
        r = fn()
    except OSError as e:
        assert e.errno == code, "%s: %s, expected %s" % (what, e, errno.errorcode[code])
        return
    raise AssertionError("%s: returned %r, expected %s" % (
        what, r if not isinstance(r, bytes) else "%d bytes" % len(r),
        errno.errorcode[code]))


def drop_cache(path):
    """Drops the kernel's cached pages of a file of the mount, so that the
    next read goes to the daemon."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def check_reads(mnt, spec):
    """Every block of spec reads back as mr-synth wrote it."""
    for b in spec["blocks"]:
        with open(os.path.join(mnt, "ram", b["name"].lstrip("/")), "rb") as f:
            got = f.read()
        assert got == expected_block(b), "ram/%s differs from its pages" % b["name"]


# ---------------------------------------------------------------------------
# 1. Page areas over other things

def test_1_page_areas_of_two_blocks_overlapping_are_refused():
    s = Snap("overlap")
    # pc.bios's page area moved onto pc.ram's: it then lies before its own
    # header and bitmap (R8/R11).
    s.be64(s.hdr(1) + HDR_PAGES, s.block(0)["pages_offset"])
    refused(s.path, s.hdr(1) + HDR_PAGES, 'ram block "pc.bios"',
            "pages_offset 0x100000 leaves no room for the 8-byte bitmap at 0x%x"
            % s.block(1)["bitmap_offset"])
    # ... and ending inside pc.ram's page area.
    s.be64(s.hdr(1) + HDR_PAGES, s.block(0)["pages_offset"] + (1 << 20) - PS)
    refused(s.path, s.hdr(1) + HDR_PAGES, 'ram block "pc.bios"', "no room")


def test_1_page_area_over_a_header_is_refused():
    s = Snap("over-header")
    # The page of pc.bios's own descriptor and header.
    at = s.hdr(1) // PS * PS
    s.be64(s.hdr(1) + HDR_PAGES, at)
    refused(s.path, s.hdr(1) + HDR_PAGES, 'ram block "pc.bios"',
            "pages_offset 0x%x leaves no room" % at, "overlaps the bitmap or the header")
    # The file header and configuration (page 1 of the file, below 1 MiB).
    s.be64(s.hdr(1) + HDR_PAGES, PS)
    refused(s.path, s.hdr(1) + HDR_PAGES, "pages_offset 0x1000 leaves no room")


def test_1_page_area_over_a_bitmap_is_refused():
    s = Snap("over-bitmap")
    # pc.ram's 32-byte bitmap moved to straddle a page boundary, its page
    # area starting on that boundary.
    s.be64(s.hdr(0) + HDR_BITMAP, 2 * PS - 16)
    s.be64(s.hdr(0) + HDR_PAGES, 2 * PS)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "pc.ram"',
            "pages_offset 0x2000 leaves no room for the 32-byte bitmap at 0x1ff0")


def test_1_page_area_over_the_vmdesc_is_refused():
    s = Snap("over-vmdesc")
    v = s.vmdesc()
    v["pad"] = "v" * (3 * PS)  # a vmdesc longer than a page
    s.set_tail(vmdesc=v)
    vm_at = s.layout["eof_offset"] + 1
    moved = s.block(1)["pages_offset"] + PS
    assert moved + (64 << 10) > vm_at and moved + (64 << 10) <= s.size()
    s.be64(s.hdr(1) + HDR_PAGES, moved)
    refused(s.path, s.hdr(1) + HDR_PAGES, 'ram block "pc.bios"',
            "runs past the start of the vmdesc (0x%x)" % vm_at)


# ---------------------------------------------------------------------------
# 2. Offsets near 2^64

def test_2_pages_offset_near_2_64_is_refused_without_overflow():
    s = Snap("wrap-pages")
    s.be64(s.hdr(0) + HDR_PAGES, 0xfffffffffffff000)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "pc.ram"',
            "pages_offset 0xfffffffffffff000 + used_length 0x100000 runs past "
            "end of file (0x%x)" % s.size())


def test_2_bitmap_and_pages_offsets_near_2_64_are_refused():
    s = Snap("wrap-bitmap")
    # The bitmap alone near 2^64: it lies after the page area.
    s.be64(s.hdr(0) + HDR_BITMAP, 0xffffffffffffffe8)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "pc.ram"',
            "leaves no room for the 32-byte bitmap at 0xffffffffffffffe8")
    # Both: room for the bitmap, but pages_offset + used_length wraps.
    s.be64(s.hdr(0) + HDR_BITMAP, 0xffffffffffffe000)
    s.be64(s.hdr(0) + HDR_PAGES, 0xfffffffffffff000)
    refused(s.path, s.hdr(0) + HDR_PAGES,
            "pages_offset 0xfffffffffffff000 + used_length 0x100000 runs past end of file")


def test_2_used_length_near_2_64_is_refused_without_allocating():
    s = Snap("wrap-length", {"blocks": [{"name": "pc.ram", "size": 64 << 10,
                                          "present": [[0, 1]]}]})
    huge = 0xfffffffffff00000
    s.be64(s.info["ram_section_offset"] + 17, huge | 0x4)  # MEM_SIZE
    s.be64(s.hdr(0) - 8, huge)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "pc.ram"',
            # 2^52 pages: a bitmap of 2^49 bytes, never allocated.
            "leaves no room for the 562949953421280-byte bitmap")


def test_2_lengths_near_2_32_and_stream_offset_near_2_64_are_refused():
    s = Snap("wrap-lengths")
    # The machine name's be32 length (right after the 0x07 byte at 8).
    s.be32(9, 0xffffffff)
    refused(s.path, 9, "machine name length 4294967295, expected 1..256")
    s = Snap("wrap-offset")
    refused(s.path, 0xfffffffffffffff8, "file too short for a migration header",
            opts=["-o", "offset=0xfffffffffffffff8"])
    # The vmdesc's length field claiming 4 GiB: no vmdesc ends the file,
    # so its bytes are junk after the EOF record.
    s.set_tail(vmdesc=s.vmdesc(), length=0xffffffff)
    refused(s.path, s.layout["eof_offset"] + 1, "unexpected bytes after the EOF record")


# ---------------------------------------------------------------------------
# 3. used_length not a page multiple

def test_3_used_length_not_a_page_multiple_is_refused():
    s = Snap("odd-length")
    s.be64(s.hdr(0) - 8, (1 << 20) - 0x800)
    refused(s.path, s.block(0)["desc_offset"], 'ram block "pc.ram"',
            "used_length 0xff800 is not a multiple of the page size 0x1000")


def test_3_header_version_and_page_size_out_of_range_are_refused():
    s = Snap("header-fields")
    s.be32(s.hdr(1) + HDR_VERSION, 2)
    refused(s.path, s.hdr(1), 'ram block "pc.bios"', "mapped-ram header version 2, expected 1")
    s.be32(s.hdr(1) + HDR_VERSION, 1)
    s.be64(s.hdr(1) + HDR_PAGE_SIZE, 0xffffffffffff1000)
    refused(s.path, s.hdr(1) + HDR_PAGE_SIZE, 'ram block "pc.bios"',
            "page size 0xffffffffffff1000, expected a power of two from 1 KiB to 64 KiB")


# ---------------------------------------------------------------------------
# 4. Bitmap past the end of the file

def test_4_bitmap_past_end_of_file_is_refused():
    s = Snap("bitmap-eof", {"blocks": [{"name": "empty", "size": 0},
                                        {"name": "pc.ram", "size": 64 << 10,
                                         "present": [[0, 1]]}]})
    end = s.size()
    past = (end + PS - 1) // PS * PS + PS
    # A block of 0 pages has a 0-byte bitmap: put it (and its page area)
    # past the end of the file.
    s.be64(s.hdr(0) + HDR_BITMAP, past)
    s.be64(s.hdr(0) + HDR_PAGES, past + PS)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "empty"',
            "runs past end of file (0x%x)" % end)
    # The file cut inside the first block's bitmap.
    s = Snap("bitmap-cut")
    with open(s.path, "r+b") as f:
        f.truncate(s.block(0)["bitmap_offset"] + 10)
    refused(s.path, s.hdr(0) + HDR_PAGES, 'ram block "pc.ram"',
            "runs past end of file (0x%x)" % (s.block(0)["bitmap_offset"] + 10))


# ---------------------------------------------------------------------------
# 5. Names and lengths at their limits

def fit(component, room=255):
    """mramfs(5): an escaped name component longer than NAME_MAX keeps its
    first bytes (never half a %XX escape) and ends in "%~" and 32 hex
    digits of its SHA-256."""
    if len(component) <= room:
        return component
    keep = room - 34
    if component[keep - 1] == "%":
        keep -= 1
    elif component[keep - 2] == "%":
        keep -= 2
    return component[:keep] + "%~" + hashlib.sha256(component.encode()).hexdigest()[:32]


def test_5_block_names_of_255_bytes_mount_and_read():
    names = {
        "n" * 255: "n" * 255,
        # Escaped to 765 bytes, then cut (73 whole escapes fit).
        "%" * 255: fit("%25" * 255),
        "%" * 254 + "a": fit("%25" * 254 + "a"),
        "d" * 200 + "/" + "x" * 54: "d" * 200 + "/" + "x" * 54,
        "/" * 255: fit("%2F" * 255),
        # A block whose path is also a directory gets "%file" appended,
        # which must fit as well.
        "%" * 84: fit("%25" * 84, 250) + "%file",
        "%" * 84 + "/r": "%25" * 84 + "/r",
    }
    assert len(fit("%25" * 255)) == 253 and fit("%25" * 255).startswith("%25" * 73 + "%~")
    spec = {"blocks": [{"name": n, "size": 8 << 10, "present": [[i % 2, 1]]}
                       for i, n in enumerate(names)]}
    s = Snap("names-255", spec)
    with served(s.path, ["-o", "ro"]) as d:
        seen = {}
        for root, _, files in os.walk(d.path("ram")):
            for f in files:
                p = os.path.join(root, f)
                assert len(f.encode()) <= 255, "name of %d bytes: %s" % (len(f), f)
                with open(p, "rb") as fh:
                    data = fh.read()
                seen[os.getxattr(p, "user.mramfs.idstr").decode()] = (
                    os.path.relpath(p, d.path("ram")), data)
        assert sorted(seen) == sorted(names), sorted(seen)
        for b in spec["blocks"]:
            path, data = seen[b["name"]]
            assert path == names[b["name"]], (path, names[b["name"]])
            assert data == expected_block(b), b["name"][:20]


def test_5_empty_block_name_is_refused():
    s = Snap("name-0")
    s.patch(s.block(1)["desc_offset"], b"\x00")
    refused(s.path, s.block(1)["desc_offset"], "ram block idstr is empty or not printable")


def test_5_block_names_sharing_a_path_are_refused_with_status_1():
    s = Snap("name-same-path", {"blocks": [{"name": "a/b", "size": PS},
                                           {"name": "a//b", "size": PS}]})
    refused(s.path, s.block(1)["desc_offset"], 'ram block "a//b" maps to the same path')


def test_5_device_section_names_at_their_limits():
    s = Snap("dev-255")
    long_id = b"s" * 255
    pct_id = b"%" * 254 + b"."
    secs = (full_section(100, long_id, b"\x01\x02\x03\x04") +
            full_section(101, pct_id, b"\x05\x06\x07\x08", instance=0xffffffff))
    v = s.vmdesc()
    v["devices"] = [device_desc(long_id, [u32_field()]),
                    device_desc(pct_id, [u32_field()], instance=0xffffffff)]
    s.set_tail(secs, v)
    with served(s.path, ["-o", "ro"]) as d:
        files = sorted(os.listdir(d.path("devices")))
        assert files == sorted([fit("s" * 255, 255 - 7) + ".0.json",
                                fit("%25" * 254 + ".", 255 - 16) + ".4294967295.json"]), files
        got = {}
        for f in files:
            assert len(f.encode()) <= 255, "name of %d bytes" % len(f)
            with open(d.path("devices/" + f)) as fh:
                j = json.load(fh)
            got[j["name"]] = j
        assert got[long_id.decode()]["fields"]["x"]["value"] == 0x01020304
        assert got[pct_id.decode()]["fields"]["x"]["value"] == 0x05060708
        assert got[pct_id.decode()]["instance_id"] == 0xffffffff
    # A section idstr of length 0.
    s.set_tail(full_section(100, b"", b"\x00" * 4), v)
    refused(s.path, s.layout["eof_offset"] + 5, "section 100: idstr is empty")


def test_5_machine_name_and_capability_list_at_their_limits():
    s = Snap("machine-256", dict(BASE, machine="m" * 256))
    with served(s.path, ["-o", "ro"]) as d:
        with open(d.path("snapshot.json")) as f:
            assert json.load(f)["machine"] == "m" * 256
        check_reads(d.mnt, s.spec)
    refused(Snap("machine-257", dict(BASE, machine="m" * 257)).path, 9,
            "machine name length 257, expected 1..256")
    # 64 capabilities, one of them 255 bytes long.
    caps = ["mapped-ram", "x" * 255] + ["x-cap-%d" % i for i in range(62)]
    s = Snap("caps-64", dict(BASE, capabilities=caps))
    with served(s.path, ["-o", "ro"]) as d:
        with open(d.path("snapshot.json")) as f:
            assert json.load(f)["capabilities"] == caps
        check_reads(d.mnt, s.spec)
    s = Snap("caps-empty", dict(BASE, capabilities=["mapped-ram", ""]))
    # 0x07, machine name (be32-counted), subsection 0x05 with its counted
    # name and be32 version, be32 count, then the counted capabilities.
    at = (8 + 1 + 4 + len("pc-i440fx-10.0") + 1 + 1 + len("configuration/capabilities") +
          4 + 4 + 1 + len("mapped-ram"))
    refused(s.path, at, "capability 1: empty or not printable")
    s = Snap("caps-65", dict(BASE, capabilities=caps + ["x-one-more"]))
    line = refused(s.path, None, "configuration lists 65 capabilities, at most 64")
    assert "offset 0x" in line


# ---------------------------------------------------------------------------
# 6. The vmdesc: huge, deeply nested, lying

def test_6_vmdesc_nested_too_deep_is_refused():
    s = Snap("vmdesc-deep")
    depth = 10000
    text = (b'{"page_size":4096,"devices":[],"x":' + b"[" * depth + b"]" * depth + b"}")
    s.set_tail(raw_json=text)
    json_at = s.layout["eof_offset"] + 6
    line = refused(s.path, None, "vmdesc JSON (%d bytes from 0x%x)" % (len(text), json_at),
                   "nesting too deep")
    assert "offset 0x" in line


def test_6_vmdesc_larger_than_its_cap_is_refused():
    s = Snap("vmdesc-huge")
    v = s.vmdesc()
    v["pad"] = "p" * (65 << 20)
    s.set_tail(vmdesc=v)
    refused(s.path, s.layout["eof_offset"] + 1, "unexpected bytes after the EOF record")


def test_6_large_vmdesc_within_its_cap_mounts():
    s = Snap("vmdesc-large")
    v = s.vmdesc()
    v["pad"] = ["%08d" % i for i in range(200000)]  # ~2.4 MB
    s.set_tail(vmdesc=v)
    with served(s.path, ["-o", "ro"]) as d:
        check_reads(d.mnt, s.spec)


def test_6_vmdesc_describing_a_64_gib_section_mounts_it_undecoded():
    s = Snap("vmdesc-64g")
    size = 64 << 30
    sparse_sections(s, [size], s.vmdesc())
    with served(s.path, ["-o", "ro"]) as d:
        with open(d.path("devices/big0.0.json")) as f:
            j = json.load(f)
        assert j["decoded"] is False and j["size"] == size + 23, j
        assert "the section has %d bytes, more than the 16 MiB" % (size + 23) in j["reason"], j
        check_reads(d.mnt, s.spec)


def test_6_device_files_stop_decoding_past_64_mib_of_json():
    s = Snap("vmdesc-budget")
    # Each 15 MiB buffer is 30 MiB of hex digits: three sections pass the
    # 64 MiB, the next ones are listed undecoded.
    sparse_sections(s, [15 << 20] * 5, s.vmdesc())
    with served(s.path, ["-o", "ro"]) as d:
        decoded = []
        for i in range(5):
            with open(d.path("devices/big%d.0.json" % i)) as f:
                j = json.load(f)
            decoded.append(j["decoded"])
            if j["decoded"]:
                assert j["fields"]["data"]["value"] == "00" * (15 << 20)
            else:
                assert "more than 64 MiB of JSON" in j["reason"], j
                assert "fields" not in j
        assert decoded == [True, True, True, False, False], decoded


def test_6_vmdesc_lying_about_sizes_is_refused():
    s = Snap("vmdesc-lies")
    body = b"\x11\x22\x33\x44"
    at = s.layout["eof_offset"]
    body_at = at + 1 + 4 + 1 + 3 + 8
    cases = [
        # A field larger than the body: the walk ends inside the footer.
        ([{"name": "x", "type": "uint64", "size": 8}], body_at + 8,
         "neither a section footer nor a record"),
        # Smaller: the walk ends inside the body.
        ([{"name": "x", "type": "uint16", "size": 2}], body_at + 2,
         "neither a section footer nor a record"),
        # Larger than the whole stream.
        ([{"name": "x", "type": "buffer", "size": 1 << 40}], body_at,
         "runs past the end of the stream"),
        # An array whose length times size overflows 64 bits.
        ([{"name": "x", "type": "uint8", "size": 1 << 32, "array_len": 1 << 33}],
         body_at, "overflows"),
    ]
    for fields, off, needle in cases:
        v = s.vmdesc()
        v["devices"] = [device_desc(b"dev", fields)]
        s.set_tail(full_section(100, b"dev", body), v)
        refused(s.path, off, 'section "dev" (id 100, instance 0)', needle)
    # The vmdesc lists a device the stream does not have.
    v["devices"] = [device_desc(b"dev", [u32_field()]), device_desc(b"dev2", [u32_field()])]
    s.set_tail(full_section(100, b"dev", body), v)
    refused(s.path, None, "the vmdesc lists 2 devices but the stream has 1")


# ---------------------------------------------------------------------------
# 7. The snapshot truncated under the mount
#
# With -o nowatch: what a mount sees when nothing tells it of the change
# (another host cutting a snapshot on NFS), so the read and write paths
# must stand on their own.  A watched mount fails every file with EIO and
# says why (test_change.py).

SPEC7 = {"blocks": [
    {"name": "pc.ram", "size": 8 << 20,
     "present": [[0, 8], [1020, 20], [1500, 1], [2040, 8]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}
CUT_PAGE = 1032  # pc.ram pages from here on are past the new end


def truncated_checks(opts, tag):
    s = Snap("cut-" + tag, SPEC7)
    ram = s.block(0)
    cut = ram["pages_offset"] + CUT_PAGE * PS
    kept = s.read(0, cut)
    want = expected_block(SPEC7["blocks"][0])
    with served(s.path, opts) as d:
        fd = os.open(d.path("ram/pc.ram"), os.O_RDWR)
        bios = os.open(d.path("ram/pc.bios"), os.O_RDONLY)
        try:
            assert os.pread(fd, PS, 0) == want[:PS]
            os.truncate(s.path, cut)
            # Present pages past the end, an absent one, the next block:
            # EIO, never a short read that says end of file.
            for page, n, what in ((1035, 1, "present page past the end"),
                                  (2045, 2, "present pages at the block's end"),
                                  (1500, 1, "lone present page"),
                                  (1600, 1, "absent page past the end")):
                expect_errno(errno.EIO, lambda: os.pread(fd, n * PS, page * PS),
                             "%s: read of %s (page %d)" % (tag, what, page))
            expect_errno(errno.EIO, lambda: os.pread(bios, PS, 0),
                         "%s: read of the next block" % tag)
            # Across the end: through the page cache the kernel returns the
            # pages before the end (as after a disk error), and the next
            # read fails; uncached, the whole read fails.
            at = (CUT_PAGE - 4) * PS
            try:
                got = os.pread(fd, 8 * PS, at)
            except OSError as e:
                assert e.errno == errno.EIO, "%s: read across the end: %s" % (tag, e)
            else:
                assert "direct_io" not in ",".join(opts) and \
                    got == want[at:at + len(got)] and \
                    at + len(got) == CUT_PAGE * PS, \
                    "%s: read across the end returned %d bytes" % (tag, len(got))
                expect_errno(errno.EIO, lambda: os.pread(fd, 4 * PS, CUT_PAGE * PS),
                             "%s: the read after it" % tag)
            # The kernel did not take a short read for the end of file.
            assert os.fstat(fd).st_size == 8 << 20, os.fstat(fd).st_size
            # What is still in the file reads as before.
            for page in (CUT_PAGE - 8, 5, CUT_PAGE - 1, 300):
                assert os.pread(fd, PS, page * PS) == want[page * PS:(page + 1) * PS], \
                    "%s: page %d before the end" % (tag, page)
            # Writes fail, past the end and before it alike, and write
            # nothing: no page, no bitmap word, no byte past the end.
            for page in (1035, 1600, CUT_PAGE - 6, 300):
                expect_errno(errno.EIO, lambda: os.pwrite(fd, b"\xa5" * PS, page * PS),
                             "%s: write to page %d of a truncated snapshot" % (tag, page))
            expect_errno(errno.EIO, lambda: os.fsync(fd), "%s: fsync" % tag)
            assert os.path.getsize(s.path) == cut, "%s: the snapshot grew to %d" % (
                tag, os.path.getsize(s.path))
            assert s.read(0) == kept, "%s: the snapshot changed" % tag
            assert os.pread(fd, PS, (CUT_PAGE - 6) * PS) == \
                want[(CUT_PAGE - 6) * PS:(CUT_PAGE - 5) * PS]
            assert d.alive(), "%s: the daemon died" % tag
        finally:
            os.close(fd)
            os.close(bios)
    log = d.log()
    assert "%s: offset 0x%x: " % (os.path.realpath(s.path), cut) in log and \
        "truncated" in log, "%s: the daemon's log does not say: %s" % (tag, log)


def test_7_truncated_snapshot_copied_reads():
    truncated_checks(["-o", "nowatch"], "copy")


def test_7_truncated_snapshot_daemonized():
    """The same through the detached daemon mount.mramfs normally starts."""
    s = Snap("cut-daemon", SPEC7)
    want = expected_block(SPEC7["blocks"][0])
    with mounted(s.path, ["-o", "nowatch"]) as mnt:
        pid = daemon_pid(mnt)
        with open(os.path.join(mnt, "ram/pc.ram"), "r+b", buffering=0) as f:
            os.truncate(s.path, s.block(0)["pages_offset"] + CUT_PAGE * PS)
            expect_errno(errno.EIO, lambda: os.pread(f.fileno(), PS, 1035 * PS),
                         "read past the end")
            expect_errno(errno.EIO, lambda: os.pwrite(f.fileno(), b"x", 0), "write")
            assert os.pread(f.fileno(), PS, 1024 * PS) == want[1024 * PS:1025 * PS]
        assert pid and daemon_pid(mnt) == pid, "the daemon died"


def test_7_truncated_snapshot_spliced_reads():
    truncated_checks(["-o", "splice,nowatch"], "splice")


def test_7_truncated_snapshot_direct_io():
    truncated_checks(["-o", "direct_io,nowatch"], "direct_io")


# ---------------------------------------------------------------------------
# 8. The snapshot replaced under the mount

SPEC8 = {"machine": "old-machine", "blocks": [
    {"name": "pc.ram", "size": 4 << 20, "present": [[0, 4], [10, 1], [700, 2]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}
# Same layout (same names, sizes and lengths), other pages present.
SPEC8_NEW = {"machine": "new-machine", "blocks": [
    {"name": "pc.ram", "size": 4 << 20, "present": [[0, 2], [20, 1], [800, 2]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 8]]},
]}
NEW_PAGE0 = b"NEW!" * (PS // 4)


def new_snapshot(name):
    """SPEC8_NEW with page 0 of pc.ram overwritten, so that every byte that
    could be read differs from SPEC8's."""
    s = Snap(name, SPEC8_NEW)
    s.patch(s.block(0)["pages_offset"], NEW_PAGE0)
    return s


def flock_free(path):
    """Whether flock(1) could take the snapshot's lock right now."""
    return subprocess.run(["flock", "-n", "-x", path, "true"], timeout=30).returncode == 0


def test_8_renamed_over_the_mount_keeps_serving_the_old_snapshot():
    old = Snap("renamed", SPEC8)
    new = new_snapshot("renamed-new")
    want = expected_block(SPEC8["blocks"][0])
    with served(old.path, ["-o", "rw"]) as d:
        fd = os.open(d.path("ram/pc.ram"), os.O_RDWR)
        held = os.open(old.path, os.O_RDONLY)  # the old file, once renamed over
        try:
            assert os.pread(fd, PS, 0) == want[:PS]
            os.rename(new.path, old.path)
            new_sha = sha256(old.path)
            # Pages not read before, and a page dropped from the cache: the
            # old snapshot, its layout and its bitmap.
            drop_cache(d.path("ram/pc.ram"))
            for page in (0, 1, 10, 700, 701, 20, 800):
                assert os.pread(fd, PS, page * PS) == want[page * PS:(page + 1) * PS], page
            with open(d.path("snapshot.json")) as f:
                assert json.load(f)["machine"] == "old-machine"
            # Writes go to the old file too.
            assert os.pwrite(fd, b"\x5a" * PS, 30 * PS) == PS
            os.fsync(fd)
            assert os.pread(held, PS, old.block(0)["pages_offset"] + 30 * PS) == b"\x5a" * PS
            assert sha256(old.path) == new_sha, "a write through the mount changed the new file"
            # The path names another file now, with a lock of its own.
            with served(old.path, ["-o", "ro"]) as d2:
                with open(d2.path("ram/pc.ram"), "rb") as f:
                    assert f.read(PS) == NEW_PAGE0
            assert d.alive()
        finally:
            os.close(fd)
            os.close(held)
    assert sha256(old.path) == new_sha
    info_json(old.path)


def rewrite_in_place(path, src):
    """What cp(1) does over an existing file: O_TRUNC, then write it all."""
    shutil.copyfile(src, path)


def test_8_rewritten_in_place_unwatched_reads_the_new_bytes_at_the_old_offsets():
    """-o nowatch: the mix of the old model and the new bytes that a
    watched mount never serves (test_change.py), what mount.mramfs(8) warns
    of for nowatch."""
    for opts in (["-o", "ro,nowatch"], ["-o", "rw,nowatch"]):
        tag = opts[1].split(",")[0]
        s = Snap("inplace-" + tag, SPEC8)
        new = new_snapshot("inplace-new-" + tag)
        want = expected_block(SPEC8["blocks"][0])
        ino = os.stat(s.path).st_ino
        with served(s.path, opts) as d:
            assert not flock_free(s.path), "%s: a mount does not hold the lock" % tag
            path = d.path("ram/pc.ram")
            with open(path, "rb", buffering=0) as f:
                assert f.read(PS) == want[:PS]
                rewrite_in_place(s.path, new.path)
                assert os.stat(s.path).st_ino == ino
                drop_cache(path)
                # The old layout and bitmap; the bytes the file has now:
                # page 0 present in both, pages 10 and 700 only in the old
                # bitmap (holes now), 20 and 800 only in the new one.
                for page, data in ((0, NEW_PAGE0), (1, pattern_page("pc.ram", 1)),
                                   (2, bytes(PS)), (10, bytes(PS)), (700, bytes(PS)),
                                   (20, bytes(PS)), (800, bytes(PS))):
                    f.seek(page * PS)
                    assert f.read(PS) == data, "%s: page %d" % (tag, page)
            assert int(os.getxattr(path, "user.mramfs.present_pages")) == 7
            with open(d.path("snapshot.json")) as f:
                assert json.load(f)["machine"] == "old-machine"
            assert d.alive()
        # Unmounting wrote nothing into the new content.
        assert sha256(s.path) == sha256(new.path), "%s: the mount changed the file" % tag
        assert flock_free(s.path)


# ---------------------------------------------------------------------------
# 9. A full file system under the snapshot

def test_9_full_file_system_gives_enospc_and_a_clean_snapshot():
    spec = {"blocks": [{"name": "pc.ram", "size": 32 << 20, "present": [[0, 4], [100, 4]]}]}
    rnd = random.Random(9)
    with tmpfs(TMP, "size=%d" % (1 << 20)) as fsdir:
        path = os.path.join(fsdir, "full.mig")
        synth(spec, path)
        model = bytearray(expected_block(spec["blocks"][0]))
        present = {0, 1, 2, 3, 100, 101, 102, 103}
        with served(path, ["-o", "rw"]) as d:
            fd = os.open(d.path("ram/pc.ram"), os.O_RDWR)
            try:
                # Fill absent pages until the file system is full: each
                # new page needs a block of the sparse file.
                pos, failed = 200 * PS, None
                while failed is None and pos < (32 << 20):
                    chunk = rnd.randbytes(16 * PS)
                    try:
                        n = os.pwrite(fd, chunk, pos)
                    except OSError as e:
                        failed = e
                        break
                    assert n % PS == 0 and n > 0, n
                    model[pos:pos + n] = chunk[:n]
                    present.update(range(pos // PS, (pos + n) // PS))
                    pos += n
                assert failed is not None, "1 MiB of tmpfs took 32 MiB of pages"
                assert failed.errno == errno.ENOSPC, "write into a full file system: %s" % failed
                assert pos > 210 * PS, "only %d pages were written" % (pos // PS - 200)
                # The pages of the failed write read as zeros, everything
                # written before as written; present pages still take writes.
                assert os.pread(fd, 16 * PS, pos) == bytes(16 * PS)
                assert os.pread(fd, pos - 200 * PS, 200 * PS) == model[200 * PS:pos]
                over = rnd.randbytes(PS)
                assert os.pwrite(fd, over, 101 * PS) == PS
                model[101 * PS:102 * PS] = over
                os.fsync(fd)
                assert int(os.getxattr(d.path("ram/pc.ram"),
                                       "user.mramfs.present_pages")) == len(present)
            finally:
                os.close(fd)
        # The file: clean for mramfs-check, its bitmap exactly the pages
        # whose writes succeeded, their data intact.
        r = subprocess.run([CHECK, path], capture_output=True, text=True, timeout=120)
        no_sanitizer_report(r.stdout + r.stderr, "mramfs-check")
        assert r.returncode == 0, "mramfs-check exit %d: %s%s" % (r.returncode, r.stdout,
                                                                  r.stderr)
        assert "no problems (1 RAM blocks, 0 warnings)" in r.stdout, r.stdout
        blk = info_json(path)["ram_blocks"][0]
        assert blk["present_pages"] == len(present), (blk["present_pages"], len(present))
        assert read_block(path, "pc.ram", 0, 32 << 20) == bytes(model)


# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# 10. Bytes of the snapshot never reach a terminal raw: escaped as \xNN in
# every message, log line and text output, and JSON stays valid UTF-8
# (docs/FORMAT.md §8: names from the vmdesc are escaped when it is loaded)

# Retitles an xterm and turns its text red if printed as is.
HOSTILE = "\x1b]0;PWNED\x07\x1b[31m"
HOSTILE_SHOWN = "\\x1b]0;PWNED\\x07\\x1b[31m"


def raw_bytes_safe(data, what):
    """data (bytes a command printed) holds no control byte but newline and
    tab, and is valid UTF-8."""
    text = data.decode("utf-8")  # raises on a flipped byte printed raw
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0]
    assert not bad, "%s: control characters %r reach the terminal: %r" % (
        what, bad, text[:300])
    return text


def tool_output(argv):
    r = subprocess.run(argv, capture_output=True, timeout=120)
    return r.returncode, raw_bytes_safe(r.stdout, " ".join(argv) + " stdout"), \
        raw_bytes_safe(r.stderr, " ".join(argv) + " stderr")


def hostile_out_of_step(name, vmdesc_name_json):
    """One device section "dev" whose vmdesc entry names something else
    (vmdesc_name_json, raw JSON text of the name): "out of step"."""
    s = Snap(name)
    vm = s.vmdesc()
    vm["devices"] = [device_desc(b"dev", [u32_field()])]
    text = json.dumps(vm, separators=(",", ":")).encode()
    text = text.replace(b'"name":"dev"', b'"name":' + vmdesc_name_json, 1)
    s.set_tail(full_section(100, b"dev", b"\x11\x22\x33\x44"), raw_json=text)
    return s


def test_10_a_hostile_device_name_is_escaped_in_every_message():
    for name, raw, shown in (
            ("esc", json.dumps(HOSTILE).encode(), HOSTILE_SHOWN),
            # A flipped byte: not UTF-8 (json-c does not check).
            ("flip", b'"d\xffv"', "d\\xffv")):
        s = hostile_out_of_step("hostile-" + name, raw)
        for argv in ([Tools.info, s.path], [Tools.info, "--json", s.path],
                     [CHECK, s.path]):
            code, out, err = tool_output(argv)
            assert shown in out + err and "out of step" in out + err, (argv, out, err)
            assert code == (4 if argv[0] == CHECK else 1), (argv, code)
        code, out, err = tool_output([CHECK, "--json", s.path])
        report = json.loads(out)
        assert code == 4 and shown in report["error"] and \
            any(shown in p for p in report["problems"]), report
        line = refused(s.path, None, shown, "out of step")
        raw_bytes_safe(line.encode(), "mount.mramfs")


def test_10_hostile_vmdesc_names_in_a_mounted_snapshot_are_escaped():
    """A snapshot that mounts: a field named with the hostile sequence and
    a flipped byte, and a field type so named: the device files and
    mramfs-info --devices are valid JSON, the names escaped."""
    s = Snap("hostile-mount")
    vm = s.vmdesc()
    vm["devices"] = [device_desc(b"dev", [{"name": "a" + HOSTILE, "type": "uint32",
                                           "size": 4}]),
                     device_desc(b"odd", [{"name": "x", "type": HOSTILE + "bad",
                                           "size": 4}])]
    text = json.dumps(vm, separators=(",", ":")).encode()
    # A flipped byte inside a name: "a" of the first field's name.
    text = text.replace(b'"name":"a', b'"name":"\xc3', 1)
    s.set_tail(full_section(100, b"dev", b"\x11\x22\x33\x44") +
               full_section(101, b"odd", b"\x55\x66\x77\x88"), raw_json=text)
    code, out, _ = tool_output([Tools.info, "--devices", s.path])
    devs = json.loads(out)
    assert code == 0 and len(devs) == 2, (code, out)
    assert list(devs[0]["fields"]) == ["\\xc3" + HOSTILE_SHOWN], devs[0]["fields"]
    assert devs[1]["fields"]["x"]["type"] == HOSTILE_SHOWN + "bad", devs[1]
    code, out, _ = tool_output([Tools.info, s.path])
    assert code == 0 and "dev" in out, out
    with served(s.path) as d:
        for rel in ("devices/dev.0.json", "devices/odd.0.json", "snapshot.json"):
            with open(d.path(rel), "rb") as f:
                doc = json.loads(raw_bytes_safe(f.read(), rel))
            if rel == "devices/dev.0.json":
                assert list(doc["fields"]) == ["\\xc3" + HOSTILE_SHOWN], doc
            if rel == "devices/odd.0.json":
                assert doc["fields"]["x"]["type"] == HOSTILE_SHOWN + "bad", doc
    raw_bytes_safe(open(d.log_path, "rb").read(), "the daemon's log")


def test_10_the_daemon_log_escapes_what_it_is_given():
    """The log of the mount (stderr in the foreground; syslog detached goes
    through the same mfs_log()): a document refused for a hostile key
    names the key escaped."""
    s = Snap("hostile-log", dict(BASE, machine="40p", devices=[{"kind": "pc87312"}]))
    with served(s.path) as d:
        fd = os.open(d.path("superio/pc87312.json"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, json.dumps({"registers": {HOSTILE: 1}}).encode())
        expect_errno(errno.EINVAL, lambda: os.close(fd), "a hostile key is refused")
    with open(d.log_path, "rb") as f:
        log = raw_bytes_safe(f.read(), "the daemon's log")
    assert "unknown key" in log and HOSTILE_SHOWN in log, log


def main():
    return mountlib.main(globals(), tools=("mount", "info", "synth", "read", "check"),
                         prefix="mramfs-hostile-")



if __name__ == "__main__":
    sys.exit(main())
