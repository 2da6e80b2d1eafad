"""The one helper module of the Python test runners (tests/fs, tests/tools,
tests/interop, tests/crash, tests/bench): mounting snapshots with
mount.mramfs, synthetic snapshots (mr-synth), the seek walk and the digest
every runner compares with, and the runner itself (main(), run_tests()).

Every mount is undone at the end of its `with` block, also when a test
fails, and every wait has a deadline: a broken daemon fails the test
instead of hanging the suite.  A runner that mounts skips (exit 77, which
meson counts as skipped) where mounting cannot work: not root, or no
usable /dev/fuse.
"""
import argparse
import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

SKIPPED = 77  # meson's exit status for a skipped test


class Tools:
    """Paths of the built commands, given on the test command line."""
    mount = None
    mount_binary = None  # mount.mramfs itself when `mount` is a wrapper
    info = None
    synth = None
    read = None  # mr-read-block


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))


def daemon_pid(mnt):
    """The mount.mramfs daemon serving mnt, from its command line."""
    mnt = os.path.realpath(mnt)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        # argv[0], or a later word when valgrind runs the daemon.
        cmd = next((i for i, a in enumerate(argv) if a.endswith(b"mount.mramfs")), None)
        if cmd is not None and \
                mnt.encode() in [os.path.realpath(a.decode(errors="replace")).encode()
                                 for a in argv[cmd + 1:] if a]:
            return int(pid)
    return None


def process_gone(pid):
    """True once pid has exited.  A zombie counts as gone: it holds no locks
    or files, and this sandbox's init reaps only every second or two."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def unmount(mnt):
    """Unmounts and waits for the daemon to exit: until then it holds the
    snapshot's lock and may still be syncing it."""
    if not is_mounted(mnt):
        return
    pid = daemon_pid(mnt)
    subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
    if is_mounted(mnt):
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
    wait_until(lambda: not is_mounted(mnt), what="unmount of " + mnt)
    if pid:
        wait_until(lambda: process_gone(pid), timeout=30,
                   what="exit of the daemon of " + mnt)


def run_tool(argv, timeout=60, text=False):
    """argv run to its end with its output kept: a CompletedProcess, also
    when it cannot start (127) or runs past timeout (124), so that a
    check fails with what happened rather than an exception."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, text=text, timeout=timeout)
    except OSError as e:
        out = str(e) if text else str(e).encode()
        return subprocess.CompletedProcess(argv, 127, out[:0], out)
    except subprocess.TimeoutExpired:
        out = "timed out after %d s" % timeout
        return subprocess.CompletedProcess(argv, 124, "" if text else b"",
                                           out if text else out.encode())


@contextlib.contextmanager
def mounted(snapshot, options=(), mnt=None):
    """Mounts snapshot with mount.mramfs and yields the mount point."""
    own = mnt is None
    if own:
        mnt = tempfile.mkdtemp(prefix="mramfs-mnt-")
    args = [Tools.mount, snapshot, mnt] + list(options)
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        if own:
            os.rmdir(mnt)
        raise AssertionError("mount.mramfs failed (%d): %s" % (r.returncode, r.stderr))
    try:
        # mount.mramfs returns only once the kernel mount exists.
        assert is_mounted(mnt), "mount.mramfs returned 0 but %s is not mounted" % mnt
        yield mnt
    finally:
        unmount(mnt)
        if own:
            os.rmdir(mnt)


@contextlib.contextmanager
def tmpfs(parent, options):
    """Mounts a tmpfs with these options (a size=, huge=...) in a new
    directory under parent and yields it; unmounts and removes it after."""
    d = tempfile.mkdtemp(prefix="tmpfs-", dir=parent)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", d],
                   check=True, timeout=30)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], timeout=30)
        os.rmdir(d)


def pattern_page(name, page, page_size=4096):
    """The bytes mr-synth writes into present page `page` of block `name`."""
    unit = ("%s:%d;" % (name, page)).encode()
    return (unit * (page_size // len(unit) + 1))[:page_size]


def seek_runs(fd, size):
    """[(data_start, data_end)] of an open file from SEEK_DATA/SEEK_HOLE, as
    cp --sparse walks it; an answer that does not move forward fails."""
    runs, pos = [], 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        if not pos <= data < hole:
            raise AssertionError("SEEK_DATA from 0x%x gave 0x%x, SEEK_HOLE from "
                                 "there 0x%x" % (pos, data, hole))
        runs.append((data, hole))
        pos = hole
    return runs


def sha256(path, skip=()):
    """Digest of a file, with its length; the bytes at the offsets in skip
    count as zeros (what a repair may change)."""
    h = hashlib.sha256()
    skip = sorted(skip)
    done = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hit = [o - done for o in skip if done <= o < done + len(chunk)]
            if hit:
                chunk = bytearray(chunk)
                for o in hit:
                    chunk[o] = 0
            h.update(chunk)
            done += len(chunk)
    return "%s:%d" % (h.hexdigest(), done)


def sparse_sha256(path, chunk=8 << 20):
    """Digest of a file's size, its data extents (offsets and lengths, by
    seek_runs) and their bytes: any write, also of zeros into a hole,
    changes it, and a large sparse file is hashed in the time of its
    data."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        h.update(b"size %d\n" % size)
        for pos, end in seek_runs(fd, size):
            h.update(b"extent %d %d\n" % (pos, end - pos))
            while pos < end:
                data = os.pread(fd, min(chunk, end - pos), pos)
                if not data:
                    break
                h.update(data)
                pos += len(data)
    return h.hexdigest()


def synth(spec, path):
    """Writes a synthetic snapshot with mr-synth; returns its layout."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    try:
        r = subprocess.run([Tools.synth, spec_path, path], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("mr-synth: " + r.stderr)
        return json.loads(r.stdout)
    finally:
        os.unlink(spec_path)


def expected_block(block, page_size=4096):
    """Bytes a block of a synth spec must read as: pattern where present,
    zeros elsewhere, stale slots included."""
    present = set()
    for first, count in block.get("present", []):
        present.update(range(first, first + count))
    out = bytearray(block["size"])
    for p in sorted(present):
        if p * page_size < block["size"]:
            out[p * page_size:(p + 1) * page_size] = pattern_page(block["name"], p, page_size)
    return bytes(out)


def present_pages(block):
    present = set()
    for first, count in block.get("present", []):
        present.update(range(first, first + count))
    return present


def info_json(snapshot, *extra):
    r = subprocess.run([Tools.info, "--json", *extra, snapshot], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("mramfs-info failed: " + r.stderr)
    return json.loads(r.stdout)


def read_block(snapshot, name, offset, length):
    """Bytes of RAM block `name` as format/ reads them from the file itself
    (mr-read-block): absent pages as zeros."""
    r = subprocess.run([Tools.read, snapshot, name, str(offset), str(length)],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("mr-read-block %s %s: %s" % (snapshot, name,
                                                          r.stderr.decode(errors="replace")))
    return r.stdout


VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
            "--num-callers=30"]


def run_mounts_under_valgrind(logdir):
    """Makes every mount.mramfs the tests start run under memcheck (the
    daemon too: valgrind follows fork), each process logging to
    logdir/vg.PID.log; --quiet leaves a clean process's log empty."""
    wrapper = os.path.join(logdir, "mount.mramfs")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s --log-file=%s/vg.%%p.log %s \"$@\"\n"
                % (" ".join(VALGRIND), logdir, Tools.mount))
    os.chmod(wrapper, 0o755)
    Tools.mount_binary = Tools.mount
    Tools.mount = wrapper


def valgrind_reports(logdir):
    """The non-empty memcheck logs: (name, text)."""
    out = []
    for name in sorted(os.listdir(logdir)):
        if name.startswith("vg.") and os.path.getsize(os.path.join(logdir, name)):
            with open(os.path.join(logdir, name)) as f:
                out.append((name, f.read()))
    return out


def why_no_mounts():
    """Why this process cannot mount (not root, no usable /dev/fuse), or
    None."""
    if os.geteuid() != 0:
        return "needs root"
    try:
        st = os.stat("/dev/fuse")
    except OSError as e:
        return "no /dev/fuse (%s)" % e.strerror
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (10, 229):
        return "/dev/fuse is not the FUSE device"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return "/dev/fuse: %s" % e.strerror
    return None


def skip_without_mounts():
    """SKIPPED, said on stdout, where why_no_mounts(); else None."""
    why = why_no_mounts()
    if why is None:
        return None
    print("SKIP: %s: the mount tests cannot run" % why)
    return SKIPPED


class Skip(Exception):
    """Raised by a case that cannot run here (no QEMU, say)."""


def main(namespace, tools=("mount", "info", "synth"), options=(), cases=None,
         mounts=True, prefix="mramfs-test-", tmp_mode=None, tmp_in=None):
    """A runner's main(): --TOOL paths into Tools (and the module's global
    TOOL_UPPER for tools Tools has no slot for), each of options (name,
    help) into the module's global NAME_UPPER, a scratch directory in the
    module's TMP (below the directory option tmp_in names, if any), then
    its cases (cases, or every test_* function in name order; a trailing
    argument runs those whose name contains it).  With mounts, skips (77)
    where mounting cannot work."""
    ap = argparse.ArgumentParser(description=(namespace.get("__doc__") or "").split("\n\n")[0])
    for t in tools:
        ap.add_argument("--" + t, required=True)
    for name, help_text in options:
        ap.add_argument("--" + name, help=help_text)
    ap.add_argument("filter", nargs="?")
    a = ap.parse_args()
    if mounts:
        skipped = skip_without_mounts()
        if skipped is not None:
            return skipped
    for t in tools:
        path = os.path.realpath(getattr(a, t.replace("-", "_")))
        if hasattr(Tools, t):
            setattr(Tools, t, path)
        else:
            namespace[t.replace("-", "_").upper()] = path
    for name, _ in options:
        v = getattr(a, name.replace("-", "_"))
        namespace[name.replace("-", "_").upper()] = os.path.realpath(v) if v else None
    tmp = tempfile.mkdtemp(prefix=prefix, dir=namespace[tmp_in.upper()] if tmp_in else None)
    if tmp_mode is not None:
        os.chmod(tmp, tmp_mode)
    namespace["TMP"] = tmp
    try:
        if cases is None:
            return run_module(namespace, a.filter)
        return run_tests(cases, [a.filter] if a.filter else [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_module(namespace, only=None):
    """run_tests() on the test_* functions of a test module's globals(), in
    name order; only: run those whose name contains it."""
    cases = [v for k, v in sorted(namespace.items())
             if k.startswith("test_") and callable(v)]
    return run_tests(cases, [only] if only else [])


def run_tests(cases, argv):
    """A minimal runner: runs each case, prints its result and the closing
    'N passed, N failed' line CI reads.  Returns the exit status.

    With MRAMFS_VALGRIND=1 in the environment, every mount runs under
    valgrind's memcheck, and any error or definite leak it reports fails
    the run."""
    passed = failed = skipped = 0
    only = argv[0] if argv else None
    vg_dir = None
    if os.environ.get("MRAMFS_VALGRIND") == "1":
        vg_dir = tempfile.mkdtemp(prefix="mramfs-valgrind-")
        run_mounts_under_valgrind(vg_dir)
    for case in cases:
        if only and only not in case.__name__:
            continue
        t0 = time.monotonic()
        try:
            case()
        except Skip as e:
            skipped += 1
            print("skip %s: %s" % (case.__name__, e))
        except Exception:  # noqa: BLE001 - every failure is reported
            failed += 1
            print("FAIL %s (%.2fs)" % (case.__name__, time.monotonic() - t0))
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print("ok   %s (%.2fs)" % (case.__name__, time.monotonic() - t0))
        sys.stdout.flush()
    if vg_dir:
        reports = valgrind_reports(vg_dir)
        for name, text in reports:
            print("FAIL valgrind %s:\n%s" % (name, text))
        print("valgrind: %d processes, %d with errors" % (
            len([n for n in os.listdir(vg_dir) if n.startswith("vg.")]), len(reports)))
        failed += len(reports)
        if not reports:
            shutil.rmtree(vg_dir)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1
