"""Drive QEMU (10.x) to make and load mapped-ram migration files, for tests.

Python 3 standard library only. What it offers:

* QMPClient: a QMP client over a unix socket; events that arrive between
  replies are queued, every read has a deadline.
* QEMU: one QEMU process as a context manager. It is killed on exit, also on
  exceptions; it also dies with the test process (PR_SET_PDEATHSIG), so a test
  runner that SIGKILLs us on timeout leaves no QEMU behind.
* save_snapshot() / restore(): the QMP procedure of docs/FORMAT.md section 15.
* QEMU.dump_headers(): the ELF and program headers of dump-guest-memory
  (paging off), read from a FIFO so that the dump itself costs nothing;
  QEMU.pmemsave_chunks(): pmemsave streamed through a FIFO (no disk).
* QEMU.dump_guest_memory(): QEMU's ELF core streamed through a pipe.
* parse_info_ramblock(), parse_mtree_flat(), MemoryMap: what `info ramblock`
  and `info mtree -f` print, and guest-physical address -> (block, offset).
* read_ram_layout(): a small reference reader for the RAM section of a
  mapped-ram file (docs/FORMAT.md sections 3, 5, 6, 9), so tests can check the file
  without the C tools and cross-check them.

Nothing here knows about the mramfs tools; test_interop.py does.
"""

import contextlib
import ctypes
import dataclasses
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

# Host-side deadline for anything that is "quick" in QEMU (a QMP reply, an HMP
# command, pmemsave of a few hundred MiB).
DEFAULT_TIMEOUT = 30.0
# Deadline for a whole migration (save or load). A 5 GiB mostly-zero guest
# takes a few seconds under TCG on 2 cores.
MIGRATION_TIMEOUT = 120.0
POLL_INTERVAL = 0.05

# sun_path is 108 bytes including the NUL on Linux.
_SUN_PATH_MAX = 107


class HarnessError(Exception):
    """Anything that went wrong while driving QEMU."""


class QMPError(HarnessError):
    """QEMU answered a command with an error object."""

    def __init__(self, command, error):
        self.command = command
        self.error = error
        super().__init__("QMP %s failed: %s: %s" % (
            command, error.get("class", "?"), error.get("desc", error)))


class QMPTimeout(HarnessError):
    pass


class MigrationFailed(HarnessError):
    pass


def _deadline(timeout):
    return time.monotonic() + timeout


def _remaining(deadline):
    return deadline - time.monotonic()


# --------------------------------------------------------------------------
# QMP


class QMPClient:
    """Line-oriented QMP client.

    QEMU writes one JSON object per line ("\\r\\n"); replies carry the "id"
    we sent, events carry "event". Replies are matched by id so that a late
    reply to a timed-out command can never be taken for the answer to the
    next one.
    """

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, alive=None):
        self.path = path
        self.timeout = timeout
        self.events = []
        self.greeting = None
        self._sock = None
        self._buf = b""
        self._next_id = 1
        self._alive = alive or (lambda: True)
        self._connect(timeout)

    def _connect(self, timeout):
        # With server=on,wait=off QEMU creates the socket early but only
        # answers once its main loop runs; a QEMU that fails during startup
        # never answers, hence the liveness callback.
        deadline = _deadline(timeout)
        last = None
        while True:
            if not self._alive():
                raise HarnessError("QEMU exited before its QMP socket %s was "
                                   "ready" % self.path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self._sock = s
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                s.close()
                last = e
            if _remaining(deadline) <= 0:
                raise QMPTimeout("cannot connect to QMP socket %s within %.0f s "
                                 "(%s)" % (self.path, timeout, last))
            time.sleep(POLL_INTERVAL)
        msg = self._read_message(deadline)
        if "QMP" not in msg:
            raise HarnessError("unexpected QMP greeting: %r" % (msg,))
        self.greeting = msg
        self.execute("qmp_capabilities", timeout=_remaining(deadline))

    def close(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _read_message(self, deadline):
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                line = line.strip()
                if not line:
                    continue
                try:
                    return json.loads(line)
                except ValueError as e:
                    raise HarnessError("bad QMP line %r: %s" % (line[:200], e))
            left = _remaining(deadline)
            if left <= 0:
                raise QMPTimeout("no QMP message from %s in time" % self.path)
            if not self._alive():
                raise HarnessError("QEMU exited while a QMP reply was awaited")
            # Short slices so that a QEMU that dies is noticed quickly.
            self._sock.settimeout(min(left, 0.5))
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                raise HarnessError("QMP connection lost: %s" % e)
            if not chunk:
                raise HarnessError("QMP connection closed by QEMU")
            self._buf += chunk

    def execute(self, command, arguments=None, timeout=None, fds=()):
        """Run a QMP command and return its "return" value. fds are passed
        with the command (SCM_RIGHTS), as `getfd` wants."""
        if self._sock is None:
            raise HarnessError("QMP connection is closed")
        deadline = _deadline(self.timeout if timeout is None else timeout)
        cid = "h%d" % self._next_id
        self._next_id += 1
        req = {"execute": command, "id": cid}
        if arguments:
            req["arguments"] = arguments
        self._sock.settimeout(max(_remaining(deadline), 0.1))
        try:
            data = json.dumps(req).encode() + b"\n"
            if fds:
                sent = socket.send_fds(self._sock, [data], list(fds))
                if sent < len(data):
                    self._sock.sendall(data[sent:])
            else:
                self._sock.sendall(data)
        except OSError as e:
            raise HarnessError("QMP %s: cannot send: %s" % (command, e))
        while True:
            try:
                msg = self._read_message(deadline)
            except QMPTimeout:
                raise QMPTimeout("QMP %s: no reply within %.1f s" % (
                    command, self.timeout if timeout is None else timeout))
            if "event" in msg:
                self.events.append(msg)
                continue
            if msg.get("id") != cid:
                continue  # reply to an earlier, timed-out command
            if "error" in msg:
                raise QMPError(command, msg["error"])
            return msg.get("return")

    def poll_events(self):
        """Collect events already sent by QEMU, without waiting."""
        if self._sock is None:
            return list(self.events)
        self._sock.setblocking(False)
        try:
            while True:
                try:
                    chunk = self._sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    break
                self._buf += chunk
        finally:
            self._sock.setblocking(True)
        while b"\n" in self._buf:
            msg = self._read_message(_deadline(0.1))
            if "event" in msg:
                self.events.append(msg)
        return list(self.events)

    def wait_event(self, name, timeout=DEFAULT_TIMEOUT, match=None):
        """Wait for (and consume) an event named name, optionally filtered."""
        deadline = _deadline(timeout)
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name and (match is None or match(ev)):
                    return self.events.pop(i)
            try:
                msg = self._read_message(deadline)
            except QMPTimeout:
                raise QMPTimeout("event %s not seen within %.1f s" % (
                    name, timeout))
            if "event" in msg:
                self.events.append(msg)

    def hmp(self, command_line, timeout=None):
        """human-monitor-command; returns the text QEMU printed."""
        return self.execute("human-monitor-command",
                            {"command-line": command_line}, timeout=timeout)


# --------------------------------------------------------------------------
# One QEMU process

_live_processes = set()


def _pdeathsig():
    # Runs in the child between fork and exec: ask the kernel to SIGKILL
    # QEMU when the test process dies, however it dies.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def kill_all():
    """Kill every QEMU this module started that is still alive."""
    for proc in list(_live_processes):
        _kill_process(proc)


def _kill_process(proc):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    _live_processes.discard(proc)


def install_signal_cleanup():
    """Turn SIGTERM/SIGHUP into SystemExit so that context managers run and
    QEMU is killed when a test runner stops us (meson sends SIGTERM on
    timeout)."""
    def handler(signum, _frame):
        kill_all()
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _short_socket_dir(workdir):
    probe = os.path.join(workdir, "qmp-XXXXXXXX.sock")
    if len(probe.encode()) <= _SUN_PATH_MAX:
        return workdir, False
    return tempfile.mkdtemp(prefix="mrq"), True


class QEMU:
    """One QEMU process with a QMP socket.

    with QEMU("qemu-system-x86_64", ["-M", "pc", "-m", "128"], workdir,
              stopped=True) as vm:
        vm.hmp("info status")

    nodefaults/display_none add "-nodefaults" / "-display none" (the
    default); stopped adds "-S".
    """

    def __init__(self, binary, args, workdir, name="vm", stopped=False,
                 nodefaults=True, display_none=True, timeout=DEFAULT_TIMEOUT):
        self.binary = binary
        self.args = list(args)
        self.workdir = workdir
        self.name = name
        self.timeout = timeout
        self.proc = None
        self.qmp = None
        self._sockdir, self._own_sockdir = _short_socket_dir(workdir)
        self.socket_path = os.path.join(self._sockdir, "qmp-%s.sock" % name)
        self.log_path = os.path.join(workdir, "qemu-%s.log" % name)
        argv = [binary]
        if display_none:
            argv += ["-display", "none"]
        if nodefaults:
            argv += ["-nodefaults"]
        if stopped:
            argv += ["-S"]
        argv += self.args
        argv += ["-qmp", "unix:%s,server=on,wait=off" % self.socket_path]
        self.argv = argv

    # context manager -----------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def start(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        log = open(self.log_path, "wb")
        # meson test sets MALLOC_PERTURB_, which makes glibc fill every
        # allocation: QEMU's dump-guest-memory of a few GiB then takes a
        # minute instead of seconds. QEMU is the oracle, not under test.
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=_pdeathsig, env=env)
        except OSError as e:
            self.kill()
            raise HarnessError("cannot start %s: %s" % (self.binary, e))
        finally:
            log.close()
        _live_processes.add(self.proc)
        try:
            self.qmp = QMPClient(self.socket_path, timeout=self.timeout,
                                 alive=lambda: self.proc.poll() is None)
        except Exception as e:
            self.kill()
            raise HarnessError("%s\n  command: %s\n  QEMU output:\n%s" % (
                e, " ".join(self.argv), self.log_tail()))
        return self

    def kill(self):
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.proc is not None:
            _kill_process(self.proc)
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
        if self._own_sockdir:
            with contextlib.suppress(OSError):
                os.rmdir(self._sockdir)

    def log_tail(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        text = data[-limit:].decode("utf-8", "replace")
        return "    " + text.replace("\n", "\n    ") if text else "    (empty)"

    # conveniences --------------------------------------------------------
    def cmd(self, command, arguments=None, timeout=None):
        try:
            return self.qmp.execute(command, arguments, timeout=timeout)
        except QMPError:
            raise
        except HarnessError as e:
            raise HarnessError("%s\n  QEMU output:\n%s" % (e, self.log_tail()))

    def hmp(self, command_line, timeout=None):
        return self.cmd("human-monitor-command",
                        {"command-line": command_line}, timeout=timeout)

    def status(self):
        """The runstate, e.g. "prelaunch", "paused", "running",
        "postmigrate", "inmigrate"."""
        return self.cmd("query-status")["status"]

    def info_ramblock(self):
        return parse_info_ramblock(self.hmp("info ramblock"))

    def info_mtree_flat(self):
        return self.hmp("info mtree -f")

    def memory_map(self):
        return MemoryMap(self.info_mtree_flat(),
                         [b.name for b in self.info_ramblock()])

    def pmemsave(self, gpa, size, path=None, timeout=None):
        """Guest-physical memory [gpa, gpa+size) as bytes (QMP pmemsave)."""
        own = path is None
        if own:
            fd, path = tempfile.mkstemp(prefix="pmem-", suffix=".bin",
                                        dir=self.workdir)
            os.close(fd)
        try:
            self.cmd("pmemsave", {"val": gpa, "size": size,
                                  "filename": os.path.abspath(path)},
                     timeout=timeout)
            with open(path, "rb") as f:
                data = f.read()
        finally:
            if own:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if len(data) != size:
            raise HarnessError("pmemsave 0x%x+0x%x wrote %d bytes" % (
                gpa, size, len(data)))
        return data

    def _fifo(self, stem):
        """A FIFO in the workdir, opened for reading without blocking, so
        that QEMU's open for writing returns at once. Read it with
        _fifo_read: until a writer comes, a FIFO reads as at its end."""
        path = os.path.join(self.workdir, "%s-%d.fifo" % (stem, os.getpid()))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.mkfifo(path)
        return path, os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def _fifo_read(self, fd, n, deadline):
        """Up to n bytes from the FIFO, b"" once the writer has closed it.
        poll() reports nothing until a writer has come (Linux pipe_poll
        sets POLLHUP only after a writer left), so this waits for QEMU."""
        p = select.poll()
        p.register(fd, select.POLLIN)
        while True:
            left = _remaining(deadline)
            if left <= 0:
                raise HarnessError("no data from QEMU through its FIFO in "
                                   "time")
            if not p.poll(min(left, 0.5) * 1000):
                if self.proc.poll() is not None:
                    raise HarnessError("QEMU exited while writing a FIFO")
                continue
            try:
                return os.read(fd, n)
            except BlockingIOError:
                continue

    def pmemsave_chunks(self, gpa, size, chunk=16 << 20, timeout=None):
        """Yields guest-physical memory [gpa, gpa+size) in pieces of at most
        `chunk` bytes, through a FIFO: nothing is written to disk, so a
        multi-GiB range costs no space. QMP pmemsave runs in a thread while
        this generator reads."""
        timeout = timeout or MIGRATION_TIMEOUT
        path, fd = self._fifo("pmem")
        result = {}

        def save():
            try:
                self.cmd("pmemsave", {"val": gpa, "size": size,
                                      "filename": path}, timeout=timeout)
            except Exception as e:  # reported after the reader is done
                result["error"] = e

        t = threading.Thread(target=save, daemon=True)
        t.start()
        deadline = _deadline(timeout)
        got = 0
        try:
            while got < size:
                want = min(chunk, size - got)
                buf = bytearray()
                while len(buf) < want:
                    b = self._fifo_read(fd, want - len(buf), deadline)
                    if not b:
                        break
                    buf += b
                if not buf:
                    break
                got += len(buf)
                yield bytes(buf)
        finally:
            os.close(fd)
            t.join(timeout)
            with contextlib.suppress(OSError):
                os.unlink(path)
        if "error" in result:
            raise result["error"]
        if got != size:
            raise HarnessError("pmemsave 0x%x+0x%x gave %d bytes" % (
                gpa, size, got))

    def dump_headers(self, timeout=DEFAULT_TIMEOUT):
        """What QMP dump-guest-memory (paging off) writes first: the ELF
        header and program headers, as {"class": 32|64, "big_endian",
        "machine", "type", "loads": [(p_paddr, p_memsz)], "notes":
        [(p_offset, p_filesz)]}. The dump goes to a FIFO of which only the
        headers are read; closing it makes QEMU abandon the rest, so a
        5 GiB guest costs no time or disk."""
        path, fd = self._fifo("dump")
        deadline = _deadline(timeout)
        try:
            self.cmd("dump-guest-memory", {"paging": False,
                                           "protocol": "file:" + path,
                                           "detach": True})

            def need(data, n):
                while len(data) < n:
                    b = self._fifo_read(fd, n - len(data), deadline)
                    if not b:
                        raise HarnessError("dump ended after %d bytes"
                                           % len(data))
                    data += b
                return data
            data = need(b"", 64)
            if data[:4] != b"\x7fELF":
                raise HarnessError("dump does not start with an ELF "
                                   "header: %r" % data[:16])
            cls, big = data[4], data[5] == 2
            e = ">" if big else "<"
            etype, machine = struct.unpack(e + "HH", data[16:20])
            if cls == 2:
                phoff, = struct.unpack(e + "Q", data[32:40])
                phentsize, phnum = struct.unpack(e + "HH", data[54:58])
            else:
                phoff, = struct.unpack(e + "I", data[28:32])
                phentsize, phnum = struct.unpack(e + "HH", data[42:46])
            data = need(data, phoff + phentsize * phnum)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
        deadline = _deadline(timeout)
        while self.cmd("query-dump").get("status") == "active":
            if _remaining(deadline) <= 0:
                raise HarnessError("dump-guest-memory still active")
            time.sleep(POLL_INTERVAL)
        out = {"class": 64 if cls == 2 else 32, "big_endian": big,
               "machine": machine, "type": etype, "loads": [], "notes": []}
        for i in range(phnum):
            ph = data[phoff + i * phentsize:phoff + (i + 1) * phentsize]
            if cls == 2:
                pt, _fl, off, _va, pa, fsz, msz, _al = struct.unpack(
                    e + "IIQQQQQQ", ph[:56])
            else:
                pt, off, _va, pa, fsz, msz, _fl, _al = struct.unpack(
                    e + "IIIIIIII", ph[:32])
            if pt == 1:
                out["loads"].append((pa, msz))
            elif pt == 4:
                out["notes"].append((off, fsz))
        return out

    def read_block(self, memory_map, block, offset, length):
        """Bytes of RAM block [offset, offset+length) read through the
        guest-physical ranges that map it (each byte must be mapped)."""
        out = bytearray()
        pos = offset
        end = offset + length
        while pos < end:
            hit = memory_map.block_to_gpa(block, pos)
            if hit is None:
                raise HarnessError("block %s offset 0x%x is not mapped in the "
                                   "system address space" % (block, pos))
            gpa, avail = hit
            n = min(avail, end - pos)
            out += self.pmemsave(gpa, n)
            pos += n
        return bytes(out)

    def dump_guest_memory(self, consumer, timeout=MIGRATION_TIMEOUT,
                          chunk=1 << 20):
        """dump-guest-memory (paging off, ELF) into a pipe: consumer(data)
        gets the core in order, in chunks (a buffer reused after it
        returns); nothing is written to disk. Raises unless QEMU reports
        the dump completed."""
        rfd, wfd = os.pipe()
        try:
            try:
                self.qmp.execute("getfd", {"fdname": "mrdump"}, fds=[wfd])
            finally:
                os.close(wfd)
            self.cmd("dump-guest-memory", {"paging": False, "detach": True,
                                           "protocol": "fd:mrdump"})
            deadline = _deadline(timeout)
            with contextlib.suppress(OSError):
                fcntl.fcntl(rfd, 1031, chunk)  # F_SETPIPE_SZ
            # One buffer, filled whole before each call: allocating per read
            # costs a memset of each under meson's MALLOC_PERTURB_.
            buf = bytearray(chunk)
            view = memoryview(buf)
            with os.fdopen(rfd, "rb", buffering=0) as r:
                rfd = -1
                eof = False
                while not eof:
                    n = 0
                    while n < chunk:
                        got = r.readinto(view[n:])
                        if not got:
                            eof = True
                            break
                        n += got
                    if n:
                        consumer(buf if n == chunk else bytes(view[:n]))
                    if _remaining(deadline) <= 0:
                        raise HarnessError("dump-guest-memory still writing "
                                           "after %.0f s" % timeout)
        finally:
            if rfd >= 0:
                os.close(rfd)
        while True:
            st = self.cmd("query-dump")
            if st["status"] == "completed":
                return st
            if st["status"] == "failed" or _remaining(deadline) <= 0:
                raise HarnessError("dump-guest-memory: %s\n  QEMU output:\n%s"
                                   % (st, self.log_tail()))
            time.sleep(POLL_INTERVAL)

    def query_migrate(self):
        return self.cmd("query-migrate")

    def wait_migration(self, timeout=MIGRATION_TIMEOUT, what="migration",
                       poll=POLL_INTERVAL):
        """Poll query-migrate (every `poll` s) until "completed"; raise on
        failed/cancelled or at the deadline. Returns the last query-migrate
        result."""
        deadline = _deadline(timeout)
        last = None
        while True:
            last = self.query_migrate()
            st = last.get("status")
            if st == "completed":
                return last
            if st in ("failed", "cancelled"):
                raise MigrationFailed("%s %s: %s\n  QEMU output:\n%s" % (
                    what, st, last.get("error-desc", "(no error-desc)"),
                    self.log_tail()))
            if self.proc.poll() is not None:
                raise MigrationFailed("%s: QEMU exited (status %s) while "
                                      "status was %s\n  QEMU output:\n%s" % (
                                          what, self.proc.returncode, st,
                                          self.log_tail()))
            if _remaining(deadline) <= 0:
                raise MigrationFailed("%s not completed within %.0f s "
                                      "(status %s)" % (what, timeout, st))
            time.sleep(poll)

    def wait_status(self, wanted, timeout=DEFAULT_TIMEOUT):
        deadline = _deadline(timeout)
        while True:
            st = self.status()
            if st in wanted:
                return st
            if _remaining(deadline) <= 0:
                raise HarnessError("runstate %s, expected one of %s" % (
                    st, ", ".join(sorted(wanted))))
            time.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------
# Parsers for HMP output


@dataclasses.dataclass(frozen=True)
class RamBlockInfo:
    name: str
    page_size: int
    offset: int          # ram_addr_t offset: QEMU-internal, not a file offset
    used_length: int
    max_length: int
    readonly: bool


_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
          "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60}


def parse_size(text):
    """QEMU's size_to_str() format: "4 KiB", "2 MiB", "1.50 GiB", "512 B"."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]iB|B)\s*", text)
    if not m:
        raise ValueError("not a QEMU size: %r" % text)
    return int(round(float(m.group(1)) * _UNITS[m.group(2)]))


def parse_info_ramblock(text):
    """Parse HMP `info ramblock`.

    QEMU 10.0.2 prints a right-aligned table:
                  Block Name    PSize              Offset               Used              Total                HVA  RO
                      pc.ram    4 KiB  0x0000000000000000 0x0000000008000000 0x0000000008000000 0x00007f14efe00000  rw
    PSize is human-readable and contains a space ("4 KiB", "2 MiB"), so the
    line is parsed from the right; what is left is the block name (names
    contain '/', ':', '@', '.', never spaces in practice, but the parse does
    not depend on it).
    """
    blocks = []
    row = re.compile(
        r"^\s*(?P<name>\S.*?)\s+(?P<psize>[0-9.]+\s*(?:[KMGTPE]iB|B))\s+"
        r"(?P<offset>0x[0-9a-fA-F]+)\s+(?P<used>0x[0-9a-fA-F]+)\s+"
        r"(?P<total>0x[0-9a-fA-F]+)\s+(?P<hva>0x[0-9a-fA-F]+)"
        r"(?:\s+(?P<ro>r[ow]))?\s*$")
    seen_header = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if "Block Name" in line:
            seen_header = True
            continue
        m = row.match(line)
        if not m:
            raise ValueError("unparsed `info ramblock` line: %r" % line)
        blocks.append(RamBlockInfo(
            name=m.group("name"), page_size=parse_size(m.group("psize")),
            offset=int(m.group("offset"), 16),
            used_length=int(m.group("used"), 16),
            max_length=int(m.group("total"), 16),
            readonly=(m.group("ro") == "ro")))
    if not seen_header and blocks:
        raise ValueError("`info ramblock` output without a header")
    return blocks


@dataclasses.dataclass(frozen=True)
class FlatRange:
    start: int
    end: int             # inclusive, as printed
    priority: int
    kind: str            # "ram", "rom", "i/o", "romd", "ramd", ...
    region: str          # name of the terminal MemoryRegion (aliases resolved)
    region_offset: int   # offset of `start` inside that region
    rest: str            # anything printed after name/offset (owner, ...)

    @property
    def size(self):
        return self.end - self.start + 1


@dataclasses.dataclass
class FlatView:
    address_spaces: list
    root: str
    ranges: list


_FLAT_RANGE = re.compile(
    r"^\s+(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) "
    r"\(prio (?P<prio>-?\d+), (?P<kind>[^)]*)\): (?P<rest>.*)$")


def parse_mtree_flat(text):
    """Parse HMP `info mtree -f` (QEMU 10.0.2).

    The output is a list of flat views, one per distinct root, each headed by
    the address spaces that share it:

        FlatView #1
         AS "memory", root: system
         AS "cpu-memory-0", root: system
         Root memory region: system
          0000000000000000-00000000000bffff (prio 0, ram): pc.ram
          00000000000e0000-00000000000fffff (prio 0, rom): pc.bios @0000000000020000
          0000000100000000-00000001bfffffff (prio 0, ram): pc.ram @0000000080000000

    Ranges are inclusive. The name is the *terminal* region: aliases
    ("ram-above-4g") are already resolved, and " @offset" (omitted when 0)
    is the offset inside that region. With -o, owner/parent info follows;
    other flags (e.g. " [ROM]") may follow too. Region names may contain
    spaces ("vga ioports remapped"), so the name ends at " @" or at the first
    token that looks like annotation.
    """
    views = []
    cur = None
    for line in text.splitlines():
        if line.startswith("FlatView #"):
            cur = FlatView(address_spaces=[], root="", ranges=[])
            views.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r'^\s*AS "(?P<name>[^"]*)", root: (?P<root>.*)$', line)
        if m:
            cur.address_spaces.append(m.group("name"))
            continue
        m = re.match(r"^\s*Root memory region: (?P<root>.*)$", line)
        if m:
            cur.root = m.group("root").strip()
            continue
        m = _FLAT_RANGE.match(line)
        if not m:
            continue
        rest = m.group("rest")
        off = 0
        tail = ""
        at = re.search(r" @([0-9a-f]+)(?=\s|$)", rest)
        if at:
            name = rest[:at.start()]
            off = int(at.group(1), 16)
            tail = rest[at.end():].strip()
        else:
            name = rest
            a = re.search(r"\s(owner|parent):\{|\s\[|\sKVM\b", rest)
            if a:
                name, tail = rest[:a.start()], rest[a.start():].strip()
        cur.ranges.append(FlatRange(
            start=int(m.group("start"), 16), end=int(m.group("end"), 16),
            priority=int(m.group("prio")), kind=m.group("kind").strip(),
            region=name.strip(), region_offset=off, rest=tail))
    return views


def resolve_block_name(region, block_names):
    """RAM block idstr for a MemoryRegion name: the same string for board
    RAM ("pc.ram", "simm.0"), "<qdev path>/<name>" for device regions
    ("pci.0:02.0/vga.vram"). None when unknown or ambiguous."""
    if region in block_names:
        return region
    cands = [b for b in block_names if b.endswith("/" + region)]
    return cands[0] if len(cands) == 1 else None


class MemoryMap:
    """Guest-physical <-> (RAM block, offset) from `info mtree -f`.

    Only the flat view of the address space "memory" (the system bus, what
    pmemsave and the generic loader use) is considered.
    """

    def __init__(self, mtree_text, block_names, address_space="memory"):
        self.block_names = list(block_names)
        views = parse_mtree_flat(mtree_text)
        view = next((v for v in views if address_space in v.address_spaces),
                    None)
        if view is None:
            raise HarnessError("no flat view for address space %r in "
                               "`info mtree -f`" % address_space)
        self.view = view
        # (gpa_start, size, block, block_offset) for RAM/ROM-backed ranges
        self.entries = []
        for r in view.ranges:
            if r.kind.endswith("i/o") or r.kind == "iommu":
                continue
            block = resolve_block_name(r.region, self.block_names)
            if block is None:
                continue
            self.entries.append((r.start, r.size, block, r.region_offset))
        self.entries.sort()

    def gpa_to_block(self, gpa):
        """(block, offset, bytes left in this mapping) or None."""
        for start, size, block, boff in self.entries:
            if start <= gpa < start + size:
                return block, boff + (gpa - start), start + size - gpa
        return None

    def block_to_gpa(self, block, offset):
        """(gpa, bytes left in this mapping) for a block offset, or None.
        When a block is mapped several times the lowest GPA wins."""
        for start, size, b, boff in self.entries:
            if b == block and boff <= offset < boff + size:
                return start + (offset - boff), boff + size - offset
        return None

    def ranges_of_block(self, block):
        """[(gpa, block_offset, length)] for every mapping of block."""
        return [(s, o, n) for s, n, b, o in self.entries if b == block]


@dataclasses.dataclass(frozen=True)
class RomInfo:
    name: str
    addr: int            # None for fw_cfg files and ROMs living in own blocks
    size: int
    mem: str             # "ram" or "rom" when addr is set


def parse_info_roms(text):
    """Parse HMP `info roms`. QEMU 10.0.2 prints one ROM image a line:
        addr=0000000000000000 size=0x000da0 mem=ram name="/usr/share/qemu/vof.bin"
        fw=genroms/kvmvapic.bin size=0x002400 name="kvmvapic.bin"
        /rom@etc/acpi/tables size=0x200000 name="etc/acpi/tables"
    Images with mem=ram are copied into guest RAM at every reset (but not on
    an incoming VM), and -device loader refuses blobs that overlap them."""
    roms = []
    for line in text.splitlines():
        m = re.match(r'^\s*(?:addr=(?P<addr>[0-9a-fA-F]+)\s+)?(?:\S+\s+)?'
                     r'size=0x(?P<size>[0-9a-fA-F]+)'
                     r'(?:\s+mem=(?P<mem>\w+))?\s+name="(?P<name>.*)"\s*$',
                     line)
        if not m:
            continue
        roms.append(RomInfo(
            name=m.group("name"),
            addr=int(m.group("addr"), 16) if m.group("addr") else None,
            size=int(m.group("size"), 16), mem=m.group("mem") or ""))
    return roms


@dataclasses.dataclass
class Probe:
    ramblocks: list
    mtree: str
    roms: list

    def memory_map(self):
        return MemoryMap(self.mtree, [b.name for b in self.ramblocks])


def probe(binary, machine_args, workdir, nodefaults=True, name="probe"):
    """Start the machine stopped and report its RAM blocks, flat memory map
    and ROM images, e.g. to place blobs where RAM really is."""
    with QEMU(binary, machine_args, workdir, name=name, stopped=True,
              nodefaults=nodefaults) as vm:
        return Probe(ramblocks=vm.info_ramblock(),
                     mtree=vm.info_mtree_flat(),
                     roms=parse_info_roms(vm.hmp("info roms")))


# --------------------------------------------------------------------------
# Snapshots


@dataclasses.dataclass
class Blob:
    """Bytes placed at a guest-physical address with -device loader."""
    gpa: int
    data: bytes
    name: str = ""


@dataclasses.dataclass
class Snapshot:
    path: str
    offset: int                    # stream start inside the file (URI offset)
    binary: str
    machine_args: list
    nodefaults: bool
    capabilities: dict
    parameters: dict
    stopped: bool
    blobs: list
    query_migrate: dict            # final query-migrate of the source
    ramblocks: list                # [RamBlockInfo] of the saving VM
    mtree: str                     # `info mtree -f` of the source at the end
    status_before: str             # runstate right before `migrate`
    status_after: str              # runstate after completion
    seconds: float = 0.0

    @property
    def ram_stats(self):
        return self.query_migrate.get("ram", {})

    def memory_map(self):
        return MemoryMap(self.mtree, [b.name for b in self.ramblocks])


def file_uri(path, offset=0):
    uri = "file:" + os.path.abspath(path)
    if offset:
        uri += ",offset=0x%x" % offset
    return uri


def _caps_arg(capabilities):
    return [{"capability": k, "state": bool(v)}
            for k, v in capabilities.items()]


def _blob_args(blobs, workdir, prefix):
    args = []
    for i, b in enumerate(blobs):
        p = os.path.join(workdir, "%s-blob%d.bin" % (prefix, i))
        with open(p, "wb") as f:
            f.write(b.data)
        # force-raw: never try to parse the random bytes as ELF/uImage.
        args += ["-device", "loader,file=%s,addr=0x%x,force-raw=on" % (p, b.gpa)]
    return args


def save_snapshot(binary, machine_args, path, workdir, *, stopped=True,
                  run_seconds=0.7, stop_after_run=False, blobs=(),
                  capabilities=None, parameters=None, offset=0,
                  nodefaults=True, timeout=MIGRATION_TIMEOUT,
                  before_migrate=None, name="save"):
    """Start QEMU, optionally run the guest a little, migrate to a file.

    stopped: the guest never runs (-S, runstate "prelaunch"). Otherwise it
    runs run_seconds and is migrated live, or, with stop_after_run, after a
    `stop` (runstate "paused": guest memory no longer changes).
    capabilities: {"mapped-ram": True, "multifd": True, ...}; mapped-ram is
    on unless explicitly set False. parameters: migrate-set-parameters
    arguments, e.g. {"multifd-channels": 4}. offset: stream start in the
    file (URI ",offset="). before_migrate(vm) runs right before `migrate`.
    """
    caps = {"mapped-ram": True}
    caps.update(capabilities or {})
    params = dict(parameters or {})
    blobs = list(blobs)
    args = list(machine_args) + _blob_args(blobs, workdir, name)
    t0 = time.monotonic()
    with QEMU(binary, args, workdir, name=name, stopped=True,
              nodefaults=nodefaults) as vm:
        # Always started with -S, then `cont` when a running guest is
        # wanted: the guest runs for a controlled time, after the
        # capabilities are set.
        vm.cmd("migrate-set-capabilities",
               {"capabilities": _caps_arg(caps)})
        if params:
            vm.cmd("migrate-set-parameters", params)
        if not stopped:
            vm.cmd("cont")
            vm.wait_status({"running"})
            time.sleep(run_seconds)
            if stop_after_run:
                vm.cmd("stop")
                vm.wait_status({"paused"})
        if before_migrate is not None:
            before_migrate(vm)
        status_before = vm.status()
        vm.cmd("migrate", {"uri": file_uri(path, offset)})
        result = vm.wait_migration(timeout=timeout, what="outgoing migration")
        status_after = vm.status()
        # Read at completion, not at start: the ACPI blobs are resizable
        # blocks (Used < Total) and the PAM windows of pc/q35 change the
        # flat view once firmware ran; the file holds the final state.
        ramblocks = vm.info_ramblock()
        mtree = vm.info_mtree_flat()
    return Snapshot(path=path, offset=offset, binary=binary,
                    machine_args=list(machine_args), nodefaults=nodefaults,
                    capabilities=caps, parameters=params, stopped=stopped,
                    blobs=blobs, query_migrate=result, ramblocks=ramblocks,
                    mtree=mtree, status_before=status_before,
                    status_after=status_after,
                    seconds=time.monotonic() - t0)


class RestoredVM(QEMU):
    """A QEMU that has loaded a snapshot and is paused (see restore())."""
    incoming_result = None
    status_after_load = None
    load_seconds = None  # restore_from_args(): from start to "completed"


# Runstate of an incoming VM started with -S once the load completed, on
# QEMU 10.0.2: the source's runstate travels in the "globalstate" section
# and is restored unless it was "running". So a file saved from a guest that
# never ran (-S) gives "prelaunch", one saved from a running guest gives
# "paused" (no autostart), one saved after `stop` gives "paused". Never
# "postmigrate" (that is the source's state after the save); accepted anyway
# in case a later QEMU sets it.
_LOADED_STATES = {"paused", "prelaunch", "postmigrate"}


@contextlib.contextmanager
def restore(binary, machine_args, path, workdir, *, offset=0,
            capabilities=None, parameters=None, nodefaults=True,
            timeout=MIGRATION_TIMEOUT, name="restore"):
    """Load a mapped-ram file into a fresh QEMU; yield a RestoredVM.

    The machine is started with `-incoming defer` and -S (so the guest never
    runs after the load: with autostart QEMU would resume a guest that was
    running at save time) and without any loader device, so that guest RAM
    content comes only from the file. The VM is killed when the block ends.
    """
    caps = {"mapped-ram": True}
    caps.update(capabilities or {})
    args = list(machine_args) + ["-incoming", "defer"]
    vm = RestoredVM(binary, args, workdir, name=name, stopped=True,
                    nodefaults=nodefaults)
    with vm:
        vm.cmd("migrate-set-capabilities", {"capabilities": _caps_arg(caps)})
        if parameters:
            vm.cmd("migrate-set-parameters", dict(parameters))
        vm.cmd("migrate-incoming", {"uri": file_uri(path, offset)})
        vm.incoming_result = vm.wait_migration(timeout=timeout,
                                               what="incoming migration")
        vm.status_after_load = vm.wait_status(_LOADED_STATES)
        yield vm


def restore_snapshot(snap, workdir, **kw):
    """restore() with the machine, capabilities and parameters of snap."""
    return restore(snap.binary, snap.machine_args, snap.path, workdir,
                   offset=snap.offset, capabilities=snap.capabilities,
                   parameters=snap.parameters, nodefaults=snap.nodefaults,
                   **kw)


@contextlib.contextmanager
def restore_from_args(binary, machine_args, incoming_args, workdir, *,
                      nodefaults=True, timeout=MIGRATION_TIMEOUT,
                      name="restore", poll=POLL_INTERVAL):
    """Load a snapshot named on QEMU's command line rather than through
    QMP: incoming_args carry -incoming file:... and what the load needs
    (-global migration.mapped-ram=on, a memory backend: the lines of an
    mramfs mount's restore/qemu-args). Started with -S; yields a
    RestoredVM whose load_seconds is the time from starting QEMU to the
    first query-migrate that said "completed" (polled every `poll` s)."""
    vm = RestoredVM(binary, list(machine_args) + list(incoming_args),
                    workdir, name=name, stopped=True, nodefaults=nodefaults)
    t0 = time.monotonic()
    with vm:
        vm.incoming_result = vm.wait_migration(timeout=timeout,
                                               what="incoming migration",
                                               poll=poll)
        vm.load_seconds = time.monotonic() - t0
        vm.status_after_load = vm.wait_status(_LOADED_STATES)
        yield vm


# --------------------------------------------------------------------------
# Reference reader for the RAM section of a mapped-ram file


@dataclasses.dataclass
class RefBlock:
    name: str
    used_length: int
    page_size: int
    header_offset: int
    bitmap_offset: int
    bitmap_size: int       # bytes reserved by a 64-bit writer
    pages_offset: int
    mr_addr: int = None    # only with x-ignore-shared
    bitmap: bytes = b""

    @property
    def num_pages(self):
        return self.used_length // self.page_size

    def present(self, page):
        """LSB-first bit order (written on a little-endian host, FORMAT 9.4)."""
        return bool(self.bitmap[page >> 3] >> (page & 7) & 1)

    @property
    def present_pages(self):
        bits = int.from_bytes(self.bitmap, "little")
        return bin(bits & ((1 << self.num_pages) - 1)).count("1")

    def read(self, path, offset, length):
        """Block bytes [offset, offset+length): page data where the bit is
        set, zeros elsewhere (a clear bit's slot may hold stale bytes,
        docs/FORMAT.md 9.9)."""
        if offset < 0 or offset + length > self.used_length:
            raise HarnessError("block %s: 0x%x+0x%x is outside 0x%x bytes" % (
                self.name, offset, length, self.used_length))
        out = bytearray(length)
        ps = self.page_size
        with open(path, "rb") as f:
            pos = offset
            while pos < offset + length:
                page = pos // ps
                stop = min((page + 1) * ps, offset + length)
                if self.present(page):
                    f.seek(self.pages_offset + pos)
                    chunk = f.read(stop - pos)
                    out[pos - offset:pos - offset + len(chunk)] = chunk
                pos = stop
        return bytes(out)


@dataclasses.dataclass
class RefLayout:
    stream_offset: int
    machine: str
    capabilities: list
    blocks: list


MAGIC = b"QEVM\x00\x00\x00\x03"


def find_stream_offset(path, limit=64 << 20):
    """Offset of the first "QEVM" v3 header within the first `limit` bytes."""
    with open(path, "rb") as f:
        data = f.read(limit)
    i = data.find(MAGIC)
    if i < 0:
        raise HarnessError("%s: no QEVM v3 header in the first %d bytes" % (
            path, limit))
    return i


def read_ram_layout(path, offset=0):
    """Decode the configuration record and the RAM START section (docs/FORMAT.md
    sections 3, 5, 6, 9.2-9.4). Stops after the last block descriptor."""
    with open(path, "rb") as f:
        def rd(n):
            b = f.read(n)
            if len(b) != n:
                raise HarnessError("%s: truncated at 0x%x" % (path, f.tell()))
            return b

        def u8():
            return rd(1)[0]

        def be32():
            return struct.unpack(">I", rd(4))[0]

        def be64():
            return struct.unpack(">Q", rd(8))[0]

        def cstr():
            return rd(u8()).decode("latin-1")

        f.seek(offset)
        if rd(8) != MAGIC:
            raise HarnessError("%s: no QEVM v3 header at 0x%x" % (path, offset))
        machine = None
        caps = []
        while True:
            pos = f.tell()
            t = u8()
            if t == 0x07:
                machine = rd(be32()).decode("latin-1")
                while True:
                    peek = f.read(1)
                    if peek != b"\x05":
                        f.seek(-len(peek), os.SEEK_CUR)
                        break
                    sub = cstr()
                    be32()  # subsection version
                    if sub == "configuration/capabilities":
                        caps = [cstr() for _ in range(be32())]
                    elif sub == "configuration/target-page-bits":
                        be32()
                    elif sub == "configuration/uuid":
                        rd(16)
                    else:
                        raise HarnessError("%s: unknown configuration "
                                           "subsection %r" % (path, sub))
            elif t == 0x01:
                be32()
                idstr = cstr()
                be32()
                be32()
                if idstr != "ram":
                    raise HarnessError("%s: section %r before ram at 0x%x; "
                                       "needs the vmdesc to skip" % (
                                           path, idstr, pos))
                break
            elif t == 0x08:
                rd(2)  # command number
                rd(struct.unpack(">H", rd(2))[0])
            else:
                raise HarnessError("%s: record type 0x%02x at 0x%x before the "
                                   "ram section" % (path, t, pos))
        word = be64()
        if not word & 0x4:
            raise HarnessError("%s: ram section does not start with MEM_SIZE"
                               % path)
        total = word & ~0x3ff
        blocks = []
        seen = 0
        ignore_shared = "x-ignore-shared" in caps
        while seen < total:
            name = cstr()
            used = be64()
            mr_addr = be64() if ignore_shared else None
            hdr = f.tell()
            version = be32()
            psize = be64()
            bmoff = be64()
            pgoff = be64()
            if version != 1:
                raise HarnessError("%s: block %s: header version %d" % (
                    path, name, version))
            npages = used // psize
            bmsize = (npages + 63) // 64 * 8
            blk = RefBlock(name=name, used_length=used, page_size=psize,
                           header_offset=hdr, bitmap_offset=bmoff,
                           bitmap_size=bmsize, pages_offset=pgoff,
                           mr_addr=mr_addr)
            if bmoff == 0 and pgoff == 0:
                blk.bitmap = bytes(bmsize)
            else:
                f.seek(bmoff)
                blk.bitmap = rd(bmsize)
                f.seek(pgoff + used)
            blocks.append(blk)
            seen += used
        return RefLayout(stream_offset=offset, machine=machine,
                         capabilities=caps, blocks=blocks)


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512
