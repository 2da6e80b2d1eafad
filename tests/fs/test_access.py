#!/usr/bin/env python3
"""Who may read a mount: the modes follow the snapshot's, never wider
(mount.mramfs(8), PERMISSIONS).

Snapshots made with mr-synth are chmod'ed to several modes and mounted
read-only and read-write; the modes of ram/ files, snapshot.json and the
directories are compared with the rule typed in below.  Then user nobody
tries to read through an allow_other mount (setpriv): a 0600 snapshot's
RAM stays closed to it, a 0644 one is open, and uid=, gid= and umask=
open or close it explicitly.

Needs root and /dev/fuse (the mounts, setpriv).
Usage: test_access.py --mount M --info I --synth S [NAME-FILTER]
"""
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import expected_block, mounted, synth  # noqa: E402

TMP = None
BLOCK = {"name": "pc.ram", "size": 1 << 20, "present": [[0, 2], [100, 1]]}


def snapshot(name, mode):
    """A synthetic snapshot owned by root with the given mode."""
    path = os.path.join(TMP, name)
    if not os.path.exists(path):
        synth({"blocks": [BLOCK]}, path)
    os.chown(path, 0, 0)
    os.chmod(path, mode)
    return path


def mount_point():
    """A mount point other users can reach (every parent searchable)."""
    d = tempfile.mkdtemp(prefix="mnt-", dir=TMP)
    os.chmod(d, 0o755)
    return d


def perm(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def as_nobody(*argv):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups", *argv], capture_output=True,
                          timeout=60)


class Read(bytes):
    """What nobody read; printed as its length in failures."""
    def __repr__(self):
        return "<%d bytes read>" % len(self)


def nobody_reads(mnt, rel="ram/pc.ram"):
    """(True, bytes) if user nobody can read the file, else (False, stderr)."""
    r = as_nobody("cat", os.path.join(mnt, rel))
    return (r.returncode == 0, Read(r.stdout) if r.returncode == 0 else r.stderr.decode())


# The rule, typed in: (snapshot mode, rw) -> modes of a RAM block file,
# a read-only JSON file and a directory.
MODES = [
    (0o600, False, 0o400, 0o400, 0o500),
    (0o600, True, 0o600, 0o400, 0o500),
    (0o640, False, 0o440, 0o440, 0o550),
    (0o640, True, 0o640, 0o440, 0o550),
    (0o644, False, 0o444, 0o444, 0o555),
    (0o644, True, 0o644, 0o444, 0o555),
    (0o664, True, 0o664, 0o444, 0o555),
    (0o604, False, 0o404, 0o404, 0o505),
    (0o755, True, 0o644, 0o444, 0o555),  # nothing is executable
]


def test_modes_follow_the_snapshot_mode_never_wider():
    bad = []
    for snap_mode, rw, ram, json_mode, dir_mode in MODES:
        snap = snapshot("modes.mig", snap_mode)
        with mounted(snap, ["-o", "rw" if rw else "ro"], mnt=mount_point()) as mnt:
            got = (perm(os.path.join(mnt, "ram/pc.ram")),
                   perm(os.path.join(mnt, "snapshot.json")),
                   perm(mnt), perm(os.path.join(mnt, "ram")),
                   perm(os.path.join(mnt, "devices")))
            want = (ram, json_mode, dir_mode, dir_mode, dir_mode)
            if got != want:
                bad.append("snapshot 0%o %s: ram, snapshot.json, /, ram/, devices/ "
                           "%s, want %s" % (snap_mode, "rw" if rw else "ro",
                                            " ".join("0%o" % m for m in got),
                                            " ".join("0%o" % m for m in want)))
    assert not bad, "\n".join(bad)


def test_other_users_cannot_read_a_0600_snapshot_through_allow_other():
    for rw in ("ro", "rw"):
        snap = snapshot("secret.mig", 0o600)
        with mounted(snap, ["-o", rw + ",allow_other"], mnt=mount_point()) as mnt:
            ok, why = nobody_reads(mnt)
            assert not ok and "Permission denied" in why, \
                "%s: nobody read ram/pc.ram of a 0600 snapshot: %r" % (rw, why)
            ok, why = nobody_reads(mnt, "snapshot.json")
            assert not ok, "%s: nobody read snapshot.json of a 0600 snapshot" % rw
            r = as_nobody("ls", mnt)
            assert r.returncode != 0, "%s: nobody listed the mount's root" % rw
            r = as_nobody("sh", "-c", "echo x > %s/ram/pc.ram" % mnt)
            assert r.returncode != 0, "%s: nobody wrote ram/pc.ram" % rw
            # root still reads it.
            with open(os.path.join(mnt, "ram/pc.ram"), "rb") as f:
                assert f.read() == expected_block(BLOCK)


def test_other_users_read_a_0644_snapshot_through_allow_other():
    snap = snapshot("public.mig", 0o644)
    with mounted(snap, ["-o", "ro,allow_other"], mnt=mount_point()) as mnt:
        ok, data = nobody_reads(mnt)
        assert ok and data == expected_block(BLOCK), \
            "nobody cannot read ram/pc.ram of a 0644 snapshot: %r" % (data,)
        ok, data = nobody_reads(mnt, "snapshot.json")
        assert ok and b'"pc.ram"' in data, data
        # Readable, not writable.
        r = as_nobody("sh", "-c", "echo x > %s/ram/pc.ram" % mnt)
        assert r.returncode != 0, "nobody wrote a read-only mount"
    with mounted(snap, ["-o", "rw,allow_other"], mnt=mount_point()) as mnt:
        r = as_nobody("sh", "-c", "printf x | dd of=%s/ram/pc.ram conv=notrunc "
                      "status=none" % mnt)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, \
            "nobody wrote ram/pc.ram of a 0644 snapshot: %r" % (r.stderr,)


def test_uid_gid_and_umask_open_or_close_access_explicitly():
    nobody, nogroup = 65534, 65534
    cases = [
        # (snapshot mode, options, ram mode, dir mode, nobody reads)
        (0o600, "uid=%d" % nobody, 0o400, 0o500, True),
        (0o640, "gid=%d" % nogroup, 0o440, 0o550, True),
        (0o600, "gid=%d" % nogroup, 0o400, 0o500, False),
        (0o600, "umask=022", 0o444, 0o555, True),
        (0o644, "umask=077", 0o400, 0o500, False),
        (0o644, "umask=027,gid=%d" % nogroup, 0o440, 0o550, True),
    ]
    bad = []
    for snap_mode, opts, ram, dir_mode, reads in cases:
        snap = snapshot("explicit.mig", snap_mode)
        with mounted(snap, ["-o", "ro,allow_other," + opts], mnt=mount_point()) as mnt:
            st = os.stat(os.path.join(mnt, "ram/pc.ram"))
            got = (stat.S_IMODE(st.st_mode), perm(os.path.join(mnt, "ram")))
            ok, _ = nobody_reads(mnt)
            if got != (ram, dir_mode) or ok != reads:
                bad.append("snapshot 0%o -o %s: ram 0%o ram/ 0%o, nobody reads %s; "
                           "want 0%o 0%o %s" % (snap_mode, opts, got[0], got[1], ok,
                                                ram, dir_mode, reads))
            if "uid=" in opts and st.st_uid != nobody:
                bad.append("-o %s: owner %d" % (opts, st.st_uid))
            if "gid=" in opts and st.st_gid != nogroup:
                bad.append("-o %s: group %d" % (opts, st.st_gid))
    assert not bad, "\n".join(bad)


def main():
    # Other users must reach the mount points: only the mounts decide.
    return mountlib.main(globals(), prefix="mramfs-access-", tmp_mode=0o755)



if __name__ == "__main__":
    sys.exit(main())
