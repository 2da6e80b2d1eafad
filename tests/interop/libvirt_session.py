"""A private libvirt for tests: libvirtd in session mode, run by this process
as an unprivileged user, with its sockets, configuration, caches, logs and
domains all under one new directory of $TMPDIR.

PID 1 is not systemd on the test machines, and the system libvirtd (or
virtqemud) must not be touched: a session daemon needs neither.  Its QEMU
runs as that user, without KVM (domains are type 'qemu', TCG).  virsh
reaches it as root through the socket given in the URI.

    lv = libvirt_session.start()          # raises Unavailable with a reason
    try:
        lv.define("dom", memory_mib=64)
        lv.virsh("create", lv.xml_path("dom"), "--paused")
        data = lv.pmemsave("dom", 0x100000, 4096)
    finally:
        lv.stop()
"""

import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from xml.sax.saxutils import escape

VIRSH_TIMEOUT = 60
START_TIMEOUT = 30
# libvirtd exits by itself after this long without clients or domains,
# should this process die without stopping it.
IDLE_EXIT = 300
USER = "nobody"


class Unavailable(Exception):
    """libvirt cannot run here; the message says why (the test skips)."""


class VirshError(Exception):
    pass


def _drop_to(uid, gid):
    def preexec():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        # After setuid, which clears it: libvirtd dies with the test.
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
        os.setsid()
    return preexec


def _searchable_by_others(path):
    """The first ancestor of path that other users cannot enter, or None."""
    p = os.path.abspath(path)
    while True:
        st = os.stat(p)
        if not st.st_mode & 0o001:
            return p
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


class Session:
    def __init__(self, root, uid, gid, libvirtd, virsh, qemu):
        self.root = root
        self.uid = uid
        self.gid = gid
        self.virsh_bin = virsh
        # Short names: QEMU's monitor sockets end up in these directories
        # and a unix socket path has at most 107 bytes.
        self.home = os.path.join(root, "h")
        self.runtime = os.path.join(root, "r")
        self.config = os.path.join(root, "c")
        self.cache = os.path.join(root, "k")
        # The only emulator on libvirtd's PATH: it probes every
        # qemu-system-* it finds, a second or so each.
        self.bindir = os.path.join(root, "bin")
        self.emulator = os.path.join(self.bindir, "qemu-system-x86_64")
        self.socket = os.path.join(self.runtime, "libvirt", "libvirt-sock")
        self.uri = "qemu:///session?socket=" + self.socket
        self.log_path = os.path.join(root, "libvirtd.log")
        self.proc = None
        self.keep = False
        self._libvirtd = libvirtd
        self._qemu = qemu

    # -- files the daemon and its QEMU use ---------------------------------
    def path(self, name):
        return os.path.join(self.root, name)

    def own_file(self, name, data):
        """A file of the session's user (QEMU reads it)."""
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, self.uid, self.gid)
        return p

    def xml_path(self, name):
        return self.path(name + ".xml")

    def define(self, name, memory_mib=64, machine="pc", extra_args=()):
        """Writes a small TCG domain's XML (no disk, no network, no
        balloon); extra_args go on QEMU's command line (libvirt's qemu
        namespace)."""
        args = "".join("    <qemu:arg value='%s'/>\n" % escape(a, {"'": "&apos;"})
                       for a in extra_args)
        xml = ("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
               "  <name>%s</name>\n  <memory unit='MiB'>%d</memory>\n  <vcpu>1</vcpu>\n"
               "  <os><type arch='x86_64' machine='%s'>hvm</type></os>\n"
               "  <devices>\n    <emulator>%s</emulator>\n"
               "    <memballoon model='none'/>\n  </devices>\n"
               "%s</domain>\n" % (escape(name), memory_mib, machine, self.emulator,
                                  "  <qemu:commandline>\n%s  </qemu:commandline>\n" % args
                                  if args else ""))
        with open(self.xml_path(name), "w") as f:
            f.write(xml)
        return self.xml_path(name)

    # -- the daemon ------------------------------------------------------
    def env(self):
        return {"PATH": self.bindir + ":/usr/sbin:/sbin",
                "HOME": self.home, "XDG_RUNTIME_DIR": self.runtime,
                "XDG_CONFIG_HOME": self.config, "XDG_CACHE_HOME": self.cache,
                "XDG_DATA_HOME": os.path.join(self.home, ".local", "share"),
                "LANG": "C"}

    def _start(self):
        for d in (self.home, self.runtime, self.config, self.cache, self.bindir,
                  os.path.join(self.config, "libvirt")):
            os.makedirs(d, exist_ok=True)
        os.symlink(self._qemu, self.emulator)
        # QEMU's output to a file of its own, not through virtlogd (which
        # the session daemon would otherwise start).
        with open(os.path.join(self.config, "libvirt", "qemu.conf"), "w") as f:
            f.write('stdio_handler = "file"\n')
        for dirpath, dirs, files in os.walk(self.root):
            for n in [dirpath] + [os.path.join(dirpath, x) for x in files]:
                os.chown(n, self.uid, self.gid)
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [self._libvirtd, "--timeout", str(IDLE_EXIT)], cwd=self.root,
                env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_drop_to(self.uid, self.gid))
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("libvirtd exited with status %d at start:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            if os.path.exists(self.socket):
                r = self._run_virsh(["version"])
                if r.returncode == 0:
                    return
                last = r.stderr
            time.sleep(0.1)
        raise Unavailable("libvirtd did not answer on %s within %d s: %s\n%s" % (
            self.socket, START_TIMEOUT, last.strip(), self.log_tail()))

    def log_tail(self, limit=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def qemu_logs(self):
        d = os.path.join(self.cache, "libvirt", "qemu", "log")
        out = []
        with contextlib.suppress(OSError):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append("%s:\n%s" % (n, f.read()[-2000:].decode("utf-8", "replace")))
        return "\n".join(out)

    def stop(self):
        """Destroys every domain, kills what is left of their QEMU (by the
        pid files in this session's directory) and stops libvirtd."""
        if self.proc is not None and self.proc.poll() is None:
            r = self._run_virsh(["list", "--name"])
            for dom in r.stdout.split() if r.returncode == 0 else []:
                self._run_virsh(["destroy", dom])
        piddir = os.path.join(self.runtime, "libvirt", "qemu", "run")
        with contextlib.suppress(OSError):
            for n in os.listdir(piddir):
                if n.endswith(".pid") and n != "driver.pid":
                    with contextlib.suppress(OSError, ValueError):
                        with open(os.path.join(piddir, n)) as f:
                            os.kill(int(f.read().strip()), signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- virsh -------------------------------------------------------------
    def _run_virsh(self, args):
        try:
            return subprocess.run([self.virsh_bin, "-q", "-c", self.uri] + list(args),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=VIRSH_TIMEOUT)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", "virsh timed out")

    def virsh(self, *args):
        r = self._run_virsh(args)
        if r.returncode != 0:
            raise VirshError("virsh %s: exit %d: %s\nlibvirtd log:\n%s\n%s" % (
                " ".join(args), r.returncode, r.stderr.strip(), self.log_tail(),
                self.qemu_logs()))
        return r.stdout

    def hmp(self, dom, command):
        return self.virsh("qemu-monitor-command", dom, "--hmp", command)

    def pmemsave(self, dom, gpa, size):
        """Guest-physical [gpa, gpa+size) of a running (or paused) domain."""
        p = self.path("pmemsave-%x.bin" % gpa)
        self.virsh("qemu-monitor-command", dom, json.dumps(
            {"execute": "pmemsave", "arguments": {"val": gpa, "size": size, "filename": p}}))
        try:
            with open(p, "rb") as f:
                data = f.read()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(p)
        if len(data) != size:
            raise VirshError("pmemsave 0x%x+0x%x wrote %d bytes" % (gpa, size, len(data)))
        return data


def start(user=USER):
    """Starts a private libvirtd in a new directory of $TMPDIR (removed by
    stop()); raises Unavailable (with the reason) when it cannot."""
    libvirtd = shutil.which("libvirtd") or (
        "/usr/sbin/libvirtd" if os.access("/usr/sbin/libvirtd", os.X_OK) else None)
    virsh = shutil.which("virsh")
    qemu = shutil.which("qemu-system-x86_64")
    if not libvirtd or not virsh or not qemu:
        raise Unavailable("libvirtd, virsh or qemu-system-x86_64 is not installed "
                          "(scripts/install-deps installs libvirt-daemon, "
                          "libvirt-daemon-driver-qemu and libvirt-clients)")
    if os.geteuid() != 0:
        raise Unavailable("the test runs libvirtd as %s, which needs root" % user)
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise Unavailable("no user %r to run libvirtd as" % user)
    root = tempfile.mkdtemp(prefix="lv")
    if len(root) > 48:
        os.rmdir(root)
        raise Unavailable("%s is too long a directory for QEMU's monitor sockets "
                          "(unix socket paths have at most 107 bytes): set TMPDIR "
                          "to a shorter one" % root)
    os.chmod(root, 0o755)
    blocked = _searchable_by_others(root)
    if blocked:
        os.rmdir(root)
        raise Unavailable("%s cannot be entered by %s, who runs libvirtd" % (blocked, user))
    lv = Session(root, pw.pw_uid, pw.pw_gid, libvirtd, virsh, os.path.realpath(qemu))
    try:
        lv._start()
    except BaseException:
        lv.stop()
        raise
    return lv
