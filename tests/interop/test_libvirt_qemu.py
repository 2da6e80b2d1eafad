#!/usr/bin/env python3
"""libvirt save images (docs/LIBVIRT.md) against QEMU 10.x and libvirt 11.

  libvirt-sparse   a libvirt header laid out by this test (domain XML, cookie,
                   64 KiB of padding: the stream lands unaligned) before a
                   mapped-ram stream QEMU writes at file:PATH,offset=92+data_len;
                   then every check of test_interop.py (mramfs-info, the
                   mount with and without -o offset, pmemsave of the QEMU
                   that loaded the file), and: the stream is opened where the
                   header says with no warning, mramfs-info names the domain.
  libvirt-refused  what mramfs refuses, each by mramfs-info and mount.mramfs
                   with the file, the offset and what was expected: a raw
                   image (QEMU's plain stream behind a format-0 header); the
                   same stream compressed by gzip, bzip2, xz and zstd behind
                   their headers, and alone; a sparse header over a plain
                   stream; headers that lie about data_len, the version, the
                   cookie or the stream's place, and an unfinished save; a
                   qcow2 image holding an internal `savevm` snapshot.
  libvirt-virsh    a real libvirt: libvirtd (11.x) started by this test in
                   session mode as an unprivileged user, with its sockets,
                   configuration and logs in the test's directory (nothing
                   of the machine's is touched); a small TCG domain with a
                   marker placed in its RAM; `virsh save --image-format
                   sparse`; the mount compared with pmemsave taken before
                   the save; a marker written through a read-write mount of a
                   copy; `virsh restore` of the copy; pmemsave reads both
                   markers back; `virsh save` over the image while it is
                   mounted (the mount notices, then shows the new save or
                   refuses it); a plain `virsh save` (raw) is refused.  Skips (exit 77) with the reason when
                   libvirtd or virsh is missing or libvirtd cannot start.

    test_libvirt_qemu.py --info BUILD/tools/mramfs-info \\
                         --read BUILD/tests/mr-read-block \\
                         --mount BUILD/tools/mount.mramfs --case libvirt-sparse

Needs root and /dev/fuse.  Prints one line per check and ends with
"N passed, N failed"; exits 1 if anything failed.
"""

import bz2
import errno
import gzip
import json
import lzma
import os
import random
import shutil
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness as qh  # noqa: E402
import mount_checks  # noqa: E402
import test_interop as ti  # noqa: E402
import libvirt_session  # noqa: E402

mountlib = mount_checks.mountlib
MiB = ti.MiB
X86 = ti.X86
SKIP = 77

MAGIC = b"LibvirtQemudSave"
PARTIAL = b"LibvirtQemudPart"
HEADER = 92
FORMATS = {"raw": 0, "gzip": 1, "bzip2": 2, "xz": 3, "lzop": 4, "zstd": 5, "sparse": 6}
# libvirt's own padding after the XML and cookie (room for save-image-edit).
PADDING = 64 * 1024


class Skip(Exception):
    pass


def domain_xml(name):
    """A domain XML as libvirt stores it in a save image (the shape, not the
    devices, matters here)."""
    return ("<domain type='qemu'>\n  <name>%s</name>\n"
            "  <uuid>4a9c1c3e-5d0b-4f44-9a51-%012x</uuid>\n"
            "  <memory unit='KiB'>131072</memory>\n"
            "  <os>\n    <type arch='x86_64' machine='pc-i440fx-10.0'>hvm</type>\n"
            "  </os>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64"
            "</emulator>\n  </devices>\n</domain>\n" % (name, random.getrandbits(48)))


COOKIE = "<cookie>\n  <cpu mode='custom' match='exact' check='full'>\n" \
         "    <model fallback='forbid'>qemu64</model>\n  </cpu>\n</cookie>\n"


def libvirt_header(xml, fmt="sparse", cookie=COOKIE, version=2, was_running=0,
                   data_len=None, magic=MAGIC, cookie_offset=None):
    """libvirt's header, XML, cookie and padding: the 92 + data_len bytes
    that precede QEMU's stream (laid out as qemu_saveimage.c does)."""
    body = xml.encode() + b"\0"
    coff = 0
    if cookie:
        coff = len(body)
        body += cookie.encode() + b"\0"
    if data_len is None:
        data_len = len(body) + PADDING
    if cookie_offset is not None:
        coff = cookie_offset
    code = FORMATS[fmt] if isinstance(fmt, str) else fmt
    hdr = magic + struct.pack("<5I", version, data_len, was_running, code, coff) + bytes(56)
    assert len(hdr) == HEADER
    return hdr + body[:data_len] + bytes(max(0, data_len - len(body)))


def parse_header(path):
    """(data_len, format, stream offset) read from a file with struct, not
    with mramfs."""
    with open(path, "rb") as f:
        hdr = f.read(HEADER)
    version, data_len, was_running, fmt, coff = struct.unpack("<5I", hdr[16:36])
    return dict(magic=hdr[:16], version=version, data_len=data_len,
                was_running=was_running, format=fmt, cookie_offset=coff,
                stream_offset=HEADER + data_len)


# --------------------------------------------------------------------------
# Refusals, as users see them


def run_tool(argv, timeout=60):
    return mountlib.run_tool(argv, timeout, text=True)


def check_refused(checks, tools, workdir, path, what, needles, offset=None):
    """mramfs-info and mount.mramfs both refuse path with exit 1 and one
    message naming the file, the offset (when given) and every needle; the
    mount leaves nothing mounted."""
    want = list(needles)
    if offset is not None:
        want.insert(0, "%s: offset 0x%x: " % (path, offset))
    r = run_tool([tools.info, path])
    msg = r.stderr.strip()
    checks.ok(r.returncode == 1 and all(n in msg for n in want) and not r.stdout,
              "%s: mramfs-info refuses it, naming %s" % (
                  what, "; ".join(n.rstrip(": ") for n in want)),
              "exit %d\nstderr: %s\nstdout: %s" % (r.returncode, msg, r.stdout[:300]))
    mnt = os.path.join(workdir, "mnt-refused")
    os.makedirs(mnt, exist_ok=True)
    r = run_tool([tools.mount, path, mnt])
    mounted = mountlib.is_mounted(mnt)
    if mounted:
        mountlib.unmount(mnt)
    checks.ok(r.returncode == 1 and not mounted and all(n in r.stderr for n in want),
              "%s: mount.mramfs refuses it the same way, nothing mounted" % what,
              "exit %d, mounted %s\nstderr: %s" % (r.returncode, mounted, r.stderr.strip()))
    return msg


def write_file(path, *parts):
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)
    return path


def case_refused(case, tools, checks, workdir):
    xml = domain_xml("refused-guest")
    machine = ["-M", "pc", "-m", "64"]
    hdr = libvirt_header(xml, "raw")
    offset = len(hdr)

    # A raw image: what `virsh save` writes by default.
    raw = write_file(os.path.join(workdir, "raw.save"), hdr)
    qh.save_snapshot(X86, machine, raw, workdir, capabilities={"mapped-ram": False},
                     offset=offset, name="save-raw")
    with open(raw, "rb") as f:
        checks.ok(f.read(offset) == hdr, "QEMU kept libvirt's header before the plain stream")
        stream = f.read()
    checks.ok(stream.startswith(qh.MAGIC), "the plain stream starts at 92 + data_len "
              "(0x%x)" % offset)
    how = ("--image-format sparse", 'save_image_format = "sparse" in qemu.conf')
    check_refused(checks, tools, workdir, raw, "raw image",
                  ('"raw" format', "record stream") + how, offset=0x1c)

    # The same stream compressed, as libvirt's gzip/bzip2/xz/zstd formats.
    compressors = {
        "gzip": lambda d: gzip.compress(d, compresslevel=1),
        "bzip2": lambda d: bz2.compress(d, compresslevel=1),
        "xz": lambda d: lzma.compress(d, preset=0),
    }
    if shutil.which("zstd"):
        compressors["zstd"] = lambda d: subprocess.run(
            ["zstd", "-1", "-q", "-c"], input=d, capture_output=True, check=True).stdout
    else:
        checks.note("no zstd command: the zstd image is not tried")
    for fmt, squeeze in compressors.items():
        data = squeeze(stream)
        img = write_file(os.path.join(workdir, fmt + ".save"), libvirt_header(xml, fmt), data)
        check_refused(checks, tools, workdir, img, "%s image" % fmt,
                      ('"%s" format' % fmt, "compressed") + how, offset=0x1c)
        alone = write_file(os.path.join(workdir, "stream." + fmt), data)
        check_refused(checks, tools, workdir, alone, "a %s-compressed stream" % fmt,
                      ("%s-compressed data" % fmt, "not a migration stream"), offset=0)
        os.unlink(img)
        os.unlink(alone)

    # A sparse header over the plain stream: refused at its ram section.
    fake = write_file(os.path.join(workdir, "fake-sparse.save"),
                      libvirt_header(xml, "sparse"), stream)
    check_refused(checks, tools, workdir, fake, "sparse header over a plain stream",
                  ("not a mapped-ram file (its pages are a record stream)",))

    # Headers that lie, around a real mapped-ram stream.
    good_hdr = libvirt_header(xml, "sparse")
    good = write_file(os.path.join(workdir, "sparse.save"), good_hdr)
    qh.save_snapshot(X86, machine, good, workdir, offset=len(good_hdr), name="save-sparse")
    size = os.path.getsize(good)
    r = run_tool([tools.info, "--json", good])
    checks.ok(r.returncode == 0 and json.loads(r.stdout)["stream_offset"] == len(good_hdr),
              "the honest header opens (stream at 0x%x)" % len(good_hdr), r.stderr)
    with open(good, "rb") as f:
        tail = f.read()[len(good_hdr):]
    data_len = len(good_hdr) - HEADER
    lies = [
        ("data_len past the end of the file", dict(data_len=size), 0x14,
         ("past the end of the file",)),
        ("data_len one byte short", dict(data_len=data_len - 1), len(good_hdr) - 1,
         ("92 + data_len", 'expected the magic "QEVM"', "found 00 51 45 56")),
        ("data_len one byte long", dict(data_len=data_len + 1), len(good_hdr) + 1,
         ("92 + data_len", 'expected the magic "QEVM"', "found 45 56 4d 00")),
        ("header version 3", dict(version=3), 0x10, ("header version 3", "expected 2")),
        ("header version 1", dict(version=1), 0x10, ("header version 1", "expected 2")),
        ("cookie_offset past data_len", dict(cookie_offset=data_len + 8), 0x20,
         ("cookie_offset",)),
        ("unfinished save", dict(magic=PARTIAL), 0, ("unfinished libvirt save image",)),
        ("format 7", dict(fmt=7), 0x1c, ("save image format 7",)),
    ]
    for what, kw, at, needles in lies:
        kw.setdefault("fmt", "sparse")
        fmt = kw.pop("fmt")
        h = libvirt_header(xml, fmt, **kw)[:HEADER]
        img = write_file(os.path.join(workdir, "lie.save"), h, good_hdr[HEADER:], tail)
        check_refused(checks, tools, workdir, img, what, needles, offset=at)
        os.unlink(img)

    # A qcow2 image holding an internal snapshot: what `savevm` makes.
    disk = os.path.join(workdir, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
    with qh.QEMU(X86, machine + ["-drive", "file=%s,format=qcow2,if=ide" % disk], workdir,
                 name="savevm", stopped=True) as vm:
        out = vm.hmp("savevm mramfs-snap", timeout=60)
        checks.ok(not out.strip(), "savevm made an internal snapshot", out)
    listed = run_tool(["qemu-img", "snapshot", "-l", disk]).stdout
    checks.ok("mramfs-snap" in listed, "qemu-img snapshot -l lists it", listed)
    check_refused(checks, tools, workdir, disk, "qcow2 image with a savevm snapshot",
                  ("a qcow2 disk image", "savevm", "qemu-img snapshot -l"), offset=0)


# --------------------------------------------------------------------------
# A libvirt header around a mapped-ram stream QEMU writes


def case_sparse(case, tools, checks, workdir):
    name = "mramfs-interop-%08x" % random.getrandbits(32)
    hdr = libvirt_header(domain_xml(name), "sparse", was_running=1)
    icase = ti.Case(case.name, case.doc, X86, ["-M", "pc", "-m", "128"], offset=len(hdr),
                    prefix=hdr, capabilities={"multifd": True},
                    parameters={"multifd-channels": 2})
    checks.note("libvirt header: data_len 0x%x, stream at 0x%x (not aligned)" % (
        len(hdr) - HEADER, len(hdr)))
    ti.run_case(icase, tools, checks, workdir)
    path = os.path.join(workdir, case.name + ".mig")
    check_libvirt_info(checks, tools, path, name, parse_header(path))


def check_libvirt_info(checks, tools, path, name, hdr):
    """mramfs-info --json and its table: the domain, the header's fields,
    the stream where the header says and no warning about it."""
    doc = tools.info_json(path, what=" (libvirt image)")
    if doc is None:
        return
    lv = doc.get("libvirt") or {}
    checks.equal(doc.get("stream_offset"), hdr["stream_offset"],
                 "stream_offset == 92 + data_len of the header (0x%x)" % hdr["stream_offset"])
    checks.equal(doc.get("warnings"), [], "no warnings (no search for the magic)")
    checks.equal({k: lv.get(k) for k in ("domain", "format", "data_len", "version",
                                         "was_running", "cookie_offset", "stream_offset")},
                 dict(domain=name, format="sparse", data_len=hdr["data_len"], version=2,
                      was_running=hdr["was_running"], cookie_offset=hdr["cookie_offset"],
                      stream_offset=hdr["stream_offset"]),
                 "mramfs-info --json: libvirt header fields and the domain name")
    r = run_tool([tools.info, path])
    line = 'libvirt:       save image of domain "%s" (format sparse' % name
    checks.ok(r.returncode == 0 and line in r.stdout and "warning" not in r.stdout,
              "mramfs-info names the libvirt domain, no warning", r.stdout[:800] + r.stderr)


# --------------------------------------------------------------------------
# A real libvirt


MARKER_GPA = 0x300000
MARKER2_GPA = 0x500123


def span_bytes(dumps, gpa, n):
    """Bytes [gpa, gpa+n) out of {span start: pmemsave of the span}."""
    for g, d in dumps.items():
        if g <= gpa and gpa + n <= g + len(d):
            return d[gpa - g:gpa - g + n]
    return None


def wait_for_log(mnt, needle, timeout=30.0):
    """.mramfs/log once it holds needle (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(os.path.join(mnt, ".mramfs", "log")) as f:
            log = f.read()
        if needle in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def wait_for_settled(mnt, timeout=30.0):
    """.mramfs/log once the snapshot is no longer being changed: a
    validation logged and no write seen for a second."""
    deadline = time.monotonic() + timeout
    time.sleep(1.0)
    while time.monotonic() < deadline:
        with open(os.path.join(mnt, ".mramfs", "stats.json")) as f:
            state = json.load(f)["state"]
        log = wait_for_log(mnt, "validated again after the change", 1.0)
        if state != "changing" and "validated again after the change" in log:
            return log
        time.sleep(0.1)
    return log


def case_virsh(case, tools, checks, workdir):
    lv = libvirt_session.start()    # raises libvirt_session.Unavailable
    try:
        run_virsh_case(lv, tools, checks, workdir)
    finally:
        lv.stop()


def run_virsh_case(lv, tools, checks, workdir):
    rng = random.Random("mramfs-libvirt")
    name = "mramfs-virsh-%d" % os.getpid()
    marker = b"MRAMFS-LIBVIRT-MARKER-" + rng.randbytes(8).hex().encode() + rng.randbytes(4000)
    blob = lv.own_file("marker.bin", marker)
    lv.define(name, memory_mib=64, extra_args=[
        "-device", "loader,file=%s,addr=0x%x,force-raw=on" % (blob, MARKER_GPA)])
    t = time.monotonic()
    lv.virsh("create", lv.xml_path(name), "--paused")
    checks.note("domain %s created (paused) in %.1f s" % (name, time.monotonic() - t))
    mm = qh.MemoryMap(lv.hmp(name, "info mtree -f"),
                      [b.name for b in qh.parse_info_ramblock(lv.hmp(name, "info ramblock"))])
    spans = mm.ranges_of_block("pc.ram")
    checks.ok(spans, "pc.ram is mapped: %s" % ", ".join(
        "0x%x+0x%x" % (g, n) for g, _, n in spans))
    before = {g: lv.pmemsave(name, g, n) for g, _, n in spans}
    checks.ok(span_bytes(before, MARKER_GPA, len(marker)) == marker,
              "pmemsave finds the marker the loader placed at GPA 0x%x" % MARKER_GPA)

    image = lv.path("saved.img")
    t = time.monotonic()
    lv.virsh("save", name, image, "--image-format", "sparse")
    checks.note("virsh save --image-format sparse: %.1f s, %d bytes, %d allocated" % (
        time.monotonic() - t, os.path.getsize(image), qh.allocated_bytes(image)))
    hdr = parse_header(image)
    checks.ok(hdr["magic"] == MAGIC and hdr["format"] == 6 and hdr["version"] == 2,
              "libvirt wrote a version-2 sparse image (%s)" % {k: hdr[k] for k in (
                  "data_len", "format", "cookie_offset", "stream_offset")})
    check_libvirt_info(checks, tools, image, name, hdr)

    # The read-only mount against pmemsave of the domain before the save.
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt)
    r = run_tool([tools.mount, image, mnt])
    checks.ok(r.returncode == 0 and not r.stderr.strip(),
              "mount.mramfs mounts the libvirt image with no option and no warning",
              "exit %d: %s" % (r.returncode, r.stderr))
    if r.returncode != 0:
        return
    try:
        errs = []
        with open(os.path.join(mnt, "ram", "pc.ram"), "rb") as f:
            for g, off, n in spans:
                got = os.pread(f.fileno(), n, off)
                if got != before[g]:
                    errs.append("GPA 0x%x+0x%x: %s" % (g, n, ti.describe_difference(
                        got, before[g], ("mount", "pmemsave"), off)))
        checks.ok(not errs, "ram/pc.ram == pmemsave before the save, over every mapped "
                  "byte (%d MiB)" % (sum(n for _, _, n in spans) // MiB), "\n".join(errs))
    finally:
        mountlib.unmount(mnt)

    # Write through a read-write mount of a copy, restore the copy.
    copy = lv.path("copy.img")
    subprocess.run(["cp", "--sparse=always", image, copy], check=True)
    block, boff, left = mm.gpa_to_block(MARKER2_GPA)
    marker2 = b"MRAMFS-WRITTEN-THROUGH-THE-MOUNT-" + rng.randbytes(6000)
    checks.ok(block == "pc.ram" and left >= len(marker2),
              "GPA 0x%x is pc.ram+0x%x" % (MARKER2_GPA, boff))
    r = run_tool([tools.mount, copy, mnt, "-o", "rw"])
    checks.ok(r.returncode == 0, "mount.mramfs -o rw mounts the copy", r.stderr)
    if r.returncode != 0:
        return
    try:
        fd = os.open(os.path.join(mnt, "ram", "pc.ram"), os.O_WRONLY)
        try:
            os.pwrite(fd, marker2, boff)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        mountlib.unmount(mnt)
    os.chown(copy, lv.uid, lv.gid)
    r = run_tool([tools.info, "--json", copy])
    checks.ok(r.returncode == 0 and json.loads(r.stdout)["libvirt"]["domain"] == name,
              "after the write the copy is still a libvirt image of %s" % name, r.stderr)
    t = time.monotonic()
    lv.virsh("restore", copy, "--paused")
    checks.note("virsh restore of the copy: %.1f s" % (time.monotonic() - t))
    got2 = lv.pmemsave(name, MARKER2_GPA, len(marker2))
    got1 = lv.pmemsave(name, MARKER_GPA, len(marker))
    checks.ok(got2 == marker2, "the restored domain holds the bytes written through the "
              "mount (pmemsave at GPA 0x%x)" % MARKER2_GPA,
              ti.describe_difference(got2, marker2, ("pmemsave", "written")))
    checks.ok(got1 == marker, "and the loader's marker at GPA 0x%x" % MARKER_GPA)

    # `virsh save` over the image while it is mounted rewrites the same
    # inode: the mount must notice, then show the new save or refuse it
    # (another layout), never the old bytes or a mix.
    r = run_tool([tools.mount, image, mnt, "-o", "ro"])
    checks.ok(r.returncode == 0, "the first image mounted again", r.stderr)
    if r.returncode != 0:
        return
    try:
        ram = os.path.join(mnt, "ram", "pc.ram")
        with open(ram, "rb") as f:
            checks.ok(os.pread(f.fileno(), len(marker2), boff) != marker2,
                      "before: the first save does not hold the written bytes")
        t = time.monotonic()
        lv.virsh("save", name, image, "--image-format", "sparse")
        checks.note("virsh save over the mounted image: %.1f s" % (time.monotonic() - t))
        # libvirt writes its header, then QEMU the stream: the mount may
        # validate the half-written file in between (and refuse it); what
        # counts is the last validation, after the save.
        log = wait_for_settled(mnt)
        checks.ok("written by another program" in log,
                  "the mount noticed libvirt rewriting the image", log[-2000:])
        last = [x for x in log.splitlines() if "validated again after the change" in x][-1:]
        checks.note("last validation: %s" % (last[0] if last else "none"))
        if last and "same layout" in last[0]:
            with open(ram, "rb") as f:
                got = os.pread(f.fileno(), len(marker2), boff)
            checks.ok(got == marker2, "same layout: the mount shows the new save "
                      "(the bytes written through the copy's mount, restored and "
                      "saved again)")
        else:
            try:
                with open(ram, "rb") as f:
                    os.pread(f.fileno(), 4096, boff)
                failed = None
            except OSError as e:
                failed = e.errno
            checks.ok(failed == errno.EIO and last and "another layout" in last[0],
                      "another layout: reads fail with EIO and the log says why",
                      "errno %s\n%s" % (failed, log[-2000:]))
    finally:
        mountlib.unmount(mnt)
    lv.virsh("restore", image, "--paused")

    # What a plain `virsh save` writes (libvirt's raw format) is refused
    # with how to save a readable image.
    raw = lv.path("raw.img")
    lv.virsh("save", name, raw)
    hdr = parse_header(raw)
    checks.equal(hdr["format"], 0, "virsh save without --image-format writes the raw format")
    check_refused(checks, tools, workdir, raw, "virsh save (raw)",
                  ('"raw" format', "--image-format sparse"), offset=0x1c)


# --------------------------------------------------------------------------


CASES = [
    ti.Case("libvirt-sparse", "a libvirt header before a mapped-ram stream QEMU wrote at "
            "92 + data_len (multifd, 2 channels)", X86, []),
    ti.Case("libvirt-refused", "raw and compressed libvirt images, lying headers, a "
            "qcow2 image with a savevm snapshot", X86, []),
    ti.Case("libvirt-virsh", "libvirtd started by the test: virsh save --image-format "
            "sparse, mount, write, virsh restore", X86, []),
]
RUN = {"libvirt-sparse": case_sparse, "libvirt-refused": case_refused,
       "libvirt-virsh": case_virsh}


def main(argv=None):
    ap, args, cases = ti.case_arguments(__doc__, CASES, argv)
    if cases is None:
        return 0
    if not (args.info and args.read and args.mount):
        ap.error("give --info, --read and --mount")
    qh.install_signal_cleanup()
    checks = ti.Checks()
    tools = ti.Tools(args.info, args.read, checks, mount=args.mount)
    mountlib.Tools.mount = args.mount
    skipped = []

    def run(case, workdir):
        try:
            RUN[case.name](case, tools, checks, workdir)
        except libvirt_session.Unavailable as e:
            print("# SKIP %s: %s" % (case.name, e))
            skipped.append(case.name)

    status = ti.run_cases(cases, checks, args.keep, "mramfs-libvirt-", run)
    if status == 0 and skipped and len(skipped) == len(cases):
        return SKIP
    return status


if __name__ == "__main__":
    sys.exit(main())
