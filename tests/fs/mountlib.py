"""Mounting snapshots with mount.mramfs in tests, and synthetic snapshots.

Every mount is undone at the end of its `with` block, also when a test
fails, and every wait has a deadline: a broken daemon fails the test
instead of hanging the suite.
"""
import contextlib
import json
import os
import subprocess
import tempfile
import time


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


def run_script(namespace, prefix):
    """The main() of a mount test script: --mount, --info and --synth (the
    built commands) and an optional NAME-FILTER; runs the module's test_*
    with namespace["TMP"] a scratch directory, removed after."""
    import argparse
    import shutil
    ap = argparse.ArgumentParser()
    for tool in ("mount", "info", "synth"):
        ap.add_argument("--" + tool, required=True)
    ap.add_argument("filter", nargs="?")
    a = ap.parse_args()
    Tools.mount, Tools.info, Tools.synth = (os.path.realpath(a.mount),
                                            os.path.realpath(a.info),
                                            os.path.realpath(a.synth))
    namespace["TMP"] = tempfile.mkdtemp(prefix=prefix)
    try:
        return run_module(namespace, a.filter)
    finally:
        shutil.rmtree(namespace["TMP"], ignore_errors=True)


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
    passed = failed = 0
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
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            import traceback
            print("FAIL %s (%.2fs)" % (case.__name__, time.monotonic() - t0))
            traceback.print_exc()
        else:
            passed += 1
            print("ok   %s (%.2fs)" % (case.__name__, time.monotonic() - t0))
    if vg_dir:
        reports = valgrind_reports(vg_dir)
        for name, text in reports:
            print("FAIL valgrind %s:\n%s" % (name, text))
        print("valgrind: %d processes, %d with errors" % (
            len([n for n in os.listdir(vg_dir) if n.startswith("vg.")]), len(reports)))
        failed += len(reports)
        if not reports:
            import shutil
            shutil.rmtree(vg_dir)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1
