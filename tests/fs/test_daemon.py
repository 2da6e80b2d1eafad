#!/usr/bin/env python3
"""What the mount shows of its daemon and of libvirt's header:

  .mramfs/log         the daemon's messages with their times, also when it
                      runs detached (a write refused with its reason, a
                      snapshot cut under the mount);
  .mramfs/stats.json  requests and bytes per view and per RAM block, lseeks,
                      pages made present and punched, the mount's options,
                      its uptime; counted exactly on a direct_io mount;
  libvirt/            domain.xml and header.json of a libvirt save image
                      (laid out here around a synthetic stream), and empty
                      for a plain migration file.

Usage: test_daemon.py --mount M --info I --synth S [NAME-FILTER]
"""
import json
import os
import re
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import (expected_block, info_json, mounted,  # noqa: E402
                      synth)

PS = 4096
TMP = None
SPEC = {"blocks": [
    {"name": "pc.ram", "size": 4 << 20, "present": [[0, 4], [10, 1], [700, 2]]},
    {"name": "pc.bios", "size": 64 << 10, "present": [[0, 16]]},
]}
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|notice|info|"
                  r"debug): .+$")


def make(name, spec=SPEC):
    path = os.path.join(TMP, name)
    synth(spec, path)
    return path


def read(mnt, rel):
    with open(os.path.join(mnt, rel), "rb") as f:
        return f.read()


def stats(mnt):
    return json.loads(read(mnt, ".mramfs/stats.json"))


def block_stats(st, name):
    return next(b for b in st["ram_blocks"] if b["name"] == name)


def test_log_has_timed_lines_and_is_never_cached():
    path = make("log.mig")
    with mounted(path, ["-o", "ro"]) as mnt:
        text = read(mnt, ".mramfs/log").decode()
        lines = text.splitlines()
        assert lines and all(LINE.match(x) for x in lines), text
        assert "info: %s mounted on %s (read-only)" % (os.path.realpath(path), mnt) \
            in text, text
        # A cut under the mount is logged and the log grows: what it says
        # is read afresh, not from a cached copy of its first read.
        os.truncate(path, os.path.getsize(path) // 2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = read(mnt, ".mramfs/log").decode()
            if "validated again after the change" in now:
                break
            time.sleep(0.05)
        assert len(now) > len(text) and now.startswith(text), now
        assert os.stat(os.path.join(mnt, ".mramfs", "log")).st_size == len(now)


def test_stats_count_requests_and_bytes_per_view_and_block():
    path = make("stats.mig")
    with mounted(path, ["-o", "rw,direct_io"]) as mnt:
        st0 = stats(mnt)
        assert st0["state"] == "valid" and st0["snapshot"] == os.path.realpath(path)
        assert st0["options"]["read_only"] is False and st0["options"]["direct_io"] is True
        assert st0["options"]["max_read"] > 0 and st0["watch"] in ("fanotify", "inotify")
        assert sorted(st0["views"]) == [".mramfs", "devices", "guest", "libvirt", "ram",
                                        "restore", "snapshot.json", "superio"], \
            sorted(st0["views"])
        ram0 = block_stats(st0, "pc.ram")
        assert ram0["reads"] == ram0["writes"] == ram0["lseeks"] == 0, ram0
        assert ram0["present_pages"] == 7
        fd = os.open(os.path.join(mnt, "ram", "pc.ram"), os.O_RDWR)
        try:
            # direct_io: one request per call below max_read.
            for i in range(5):
                assert len(os.pread(fd, 3 * PS, i * 64 * PS)) == 3 * PS
            assert os.lseek(fd, 5 * PS, os.SEEK_DATA) == 10 * PS
            assert os.lseek(fd, 10 * PS, os.SEEK_HOLE) == 11 * PS
            os.pwrite(fd, b"\x11" * PS, 100 * PS)          # absent: made present
            os.pwrite(fd, b"\x22" * 100, 200 * PS + 7)     # absent, partly
            os.pwrite(fd, bytes(PS), 0)                    # present: punched
            os.pwrite(fd, b"\x33" * PS, 1 * PS)            # present: rewritten
            os.fsync(fd)
        finally:
            os.close(fd)
        read(mnt, "snapshot.json")
        st = stats(mnt)
        ram = block_stats(st, "pc.ram")
        assert (ram["reads"], ram["read_bytes"]) == (5, 15 * PS), ram
        assert ram["lseeks"] == 2, ram
        assert (ram["writes"], ram["write_bytes"]) == (4, 3 * PS + 100), ram
        assert ram["pages_made_present"] == 2 and ram["pages_punched"] == 1, ram
        assert ram["present_pages"] == 9, ram
        bios = block_stats(st, "pc.bios")
        assert bios["reads"] == bios["writes"] == 0, bios
        v = st["views"]
        assert (v["ram"]["reads"], v["ram"]["read_bytes"]) == (5, 15 * PS), v["ram"]
        assert v["ram"]["writes"] == 4 and v["ram"]["lseeks"] == 2, v["ram"]
        assert v["snapshot.json"]["reads"] >= 1 and v["snapshot.json"]["read_bytes"] > 0
        assert v[".mramfs"]["reads"] >= 1, v[".mramfs"]
        assert st["uptime_seconds"] > st0["uptime_seconds"] >= 0
        assert st["log_messages"] >= 1


def test_stats_of_a_cached_mount_count_what_reaches_the_daemon():
    path = make("cached.mig")
    with mounted(path, ["-o", "ro"]) as mnt:
        whole = read(mnt, "ram/pc.ram")
        assert whole == expected_block(SPEC["blocks"][0])
        first = block_stats(stats(mnt), "pc.ram")
        assert first["read_bytes"] == len(whole) and first["reads"] >= 1, first
        assert read(mnt, "ram/pc.ram") == whole  # from the kernel's cache
        again = block_stats(stats(mnt), "pc.ram")
        assert again["reads"] == first["reads"], (first, again)
        assert again["pages_made_present"] == 0 and again["pages_punched"] == 0


def libvirt_image(name, xml, data_len=None):
    """A libvirt save image: header, XML, padding, then a synthetic
    mapped-ram stream at 92 + data_len (docs/LIBVIRT.md)."""
    body = xml.encode() + b"\0"
    data_len = data_len or len(body) + 65536
    spec = dict(SPEC, stream_offset=92 + data_len)
    path = make(name, spec)
    hdr = b"LibvirtQemudSave" + struct.pack("<5I", 2, data_len, 1, 6, 0) + bytes(56)
    with open(path, "r+b") as f:
        f.write(hdr + body + bytes(data_len - len(body)))
    return path, data_len


XML = ("<domain type='kvm'>\n  <name>guest &amp; co</name>\n  <uuid>"
       "6e8fb5a4-2f4c-4a44-a3a8-1f4e3c2f0d11</uuid>\n</domain>\n")


def test_libvirt_view_shows_the_domain_xml_and_the_header():
    path, data_len = libvirt_image("lv.img", XML)
    assert info_json(path)["libvirt"]["domain"] == "guest & co"
    with mounted(path, ["-o", "ro"]) as mnt:
        assert sorted(os.listdir(os.path.join(mnt, "libvirt"))) == ["domain.xml",
                                                                   "header.json"]
        assert read(mnt, "libvirt/domain.xml") == XML.encode()
        hdr = json.loads(read(mnt, "libvirt/header.json"))
        assert hdr == {"version": 2, "data_len": data_len, "was_running": 1,
                       "format": "sparse", "cookie_offset": 0,
                       "byte_order": "little-endian", "stream_offset": 92 + data_len,
                       "xml_offset": 92, "xml_length": len(XML),
                       "domain": "guest & co"}, hdr
        assert json.loads(read(mnt, "snapshot.json"))["libvirt"] == hdr
        assert read(mnt, "ram/pc.ram") == expected_block(SPEC["blocks"][0])
        assert "found by searching" not in read(mnt, ".mramfs/log").decode()


def test_libvirt_view_is_empty_without_a_libvirt_header():
    path = make("plain.mig")
    with mounted(path, ["-o", "ro"]) as mnt:
        assert os.listdir(os.path.join(mnt, "libvirt")) == []


def test_libvirt_xml_edited_in_place_is_shown_anew():
    # virsh save-image-edit rewrites the XML inside data_len: same layout.
    path, data_len = libvirt_image("edit.img", XML)
    edited = XML.replace("guest &amp; co", "renamed-guest")
    with mounted(path, ["-o", "ro"]) as mnt:
        assert b"guest &amp; co" in read(mnt, "libvirt/domain.xml")
        with open(path, "r+b") as f:
            f.seek(92)
            f.write(edited.encode() + bytes(len(XML) - len(edited) + 1))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                "same layout" not in read(mnt, ".mramfs/log").decode():
            time.sleep(0.05)
        assert read(mnt, "libvirt/domain.xml") == edited.encode()
        assert json.loads(read(mnt, "libvirt/header.json"))["domain"] == "renamed-guest"


if __name__ == "__main__":
    sys.exit(mountlib.main(globals(), prefix="mramfs-daemon-"))
