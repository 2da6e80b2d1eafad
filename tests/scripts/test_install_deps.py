#!/usr/bin/env python3
"""scripts/install-deps' decisions, with --dry-run and --sources-only,
against sample os-release files and apt sources directories: which archive
QEMU and libvirt come from, which apt source gets the backports suite (on
its own mirror), that nothing changes twice, and which systems it refuses.

The samples' mirrors are made-up hosts under .invalid: whatever the script
prints as a mirror must have come from the sources it was given.

Usage: test_install_deps.py --script PATH [NAME-FILTER]
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fs"))
from mountlib import run_module  # noqa: E402

SCRIPT = None
TMP = None

OS_RELEASE = {
    "bookworm": '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
''',
    "trixie": '''PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.1
ID=debian
''',
    "sid": '''PRETTY_NAME="Debian GNU/Linux forky/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=forky
ID=debian
''',
    "bullseye": '''PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
VERSION_ID="11"
VERSION_CODENAME=bullseye
ID=debian
''',
    "noble": '''PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
''',
    "plucky": '''PRETTY_NAME="Ubuntu 25.04"
VERSION_ID="25.04"
VERSION_CODENAME=plucky
ID=ubuntu
ID_LIKE=debian
''',
    "jammy": '''PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
''',
    "fedora": '''NAME="Fedora Linux"
VERSION="41 (Workstation Edition)"
ID=fedora
VERSION_ID=41
PRETTY_NAME="Fedora Linux 41 (Workstation Edition)"
''',
    "mint": '''NAME="Linux Mint"
VERSION_ID="22"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 22"
''',
}

BOOKWORM_DEB822 = """Types: deb
# a comment inside the stanza
URIs: http://mirror-a.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror-a.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

BOOKWORM_LIST = """# the installer's sources.list
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror-b.invalid/debian bookworm main non-free-firmware
deb-src http://mirror-b.invalid/debian bookworm main
deb http://mirror-b.invalid/debian-security bookworm-security main
deb http://mirror-b.invalid/debian bookworm-updates main
# deb http://commented.invalid/debian bookworm main
"""

TRIXIE_DEB822 = """Types: deb
URIs: http://mirror-c.invalid/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

NOBLE_DEB822 = """Types: deb
URIs: http://mirror-d.invalid/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
"""


class Sample:
    """An os-release file and an apt directory made for one case."""

    def __init__(self, name, release, sources_list=None, lists=None, deb822=None):
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=TMP)
        self.os_release = os.path.join(self.dir, "os-release")
        with open(self.os_release, "w") as f:
            f.write(OS_RELEASE[release])
        self.apt = os.path.join(self.dir, "apt")
        os.makedirs(os.path.join(self.apt, "sources.list.d"))
        if sources_list is not None:
            self.write("sources.list", sources_list)
        for fname, text in (lists or {}).items():
            self.write(os.path.join("sources.list.d", fname), text)
        for fname, text in (deb822 or {}).items():
            self.write(os.path.join("sources.list.d", fname), text)

    def path(self, rel):
        return os.path.join(self.apt, rel)

    def write(self, rel, text):
        with open(self.path(rel), "w") as f:
            f.write(text)

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def digest(self):
        """Every file under the apt directory, names and bytes."""
        h = hashlib.sha256()
        for root, dirs, files in sorted(os.walk(self.apt)):
            dirs.sort()
            for n in sorted(files):
                p = os.path.join(root, n)
                h.update(p.encode() + b"\0")
                with open(p, "rb") as f:
                    h.update(f.read())
        return h.hexdigest()

    def run(self, *mode, expect=0):
        """Runs the script with /bin/sh (dash on Debian: POSIX sh)."""
        r = subprocess.run(["/bin/sh", SCRIPT, *mode, "--os-release", self.os_release,
                            "--sources-dir", self.apt],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != expect:
            raise AssertionError("install-deps %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
                                 % (" ".join(mode), r.returncode, expect, r.stdout, r.stderr))
        return r.stdout, r.stderr

    def dry_run(self, expect=0):
        """--dry-run, which must leave the apt directory as it was."""
        before = self.digest()
        out, err = self.run("--dry-run", expect=expect)
        assert self.digest() == before, "--dry-run changed %s" % self.apt
        return out, err


def installs(out):
    """The apt-get install command lines a dry run would run."""
    return [line.split("would run: ", 1)[1] for line in out.splitlines()
            if "would run: apt-get install" in line]


def check_backports_installs(out, suite):
    cmds = installs(out)
    assert len(cmds) == 3, out
    assert "-t %s qemu-system-x86 qemu-system-ppc qemu-system-mips qemu-utils" % suite \
        in cmds[1], cmds[1]
    for p in ("libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients"):
        assert " %s/%s" % (p, suite) in cmds[2], cmds[2]
    assert " -t " not in cmds[2], "libvirt with -t would move systemd to backports: " + cmds[2]


def check_main_installs(out):
    cmds = installs(out)
    assert len(cmds) == 3, out
    assert "backports" not in "\n".join(cmds), cmds
    assert "qemu-system-x86" in cmds[1] and "qemu-utils" in cmds[1], cmds
    assert "libvirt-daemon-driver-qemu" in cmds[2] and "libvirt-clients" in cmds[2], cmds
    assert "apt sources: no change" in out, out


def test_bookworm_deb822_gets_backports_in_the_stanza_that_serves_bookworm():
    s = Sample("bw822", "bookworm", deb822={"debian.sources": BOOKWORM_DEB822})
    out, _ = s.dry_run()
    assert "QEMU and libvirt: from bookworm-backports" in out, out
    assert "line 4: - Suites: bookworm bookworm-updates\n" in out, out
    assert "line 4: + Suites: bookworm bookworm-updates bookworm-backports\n" in out, out
    check_backports_installs(out, "bookworm-backports")
    s.run("--sources-only")
    want = BOOKWORM_DEB822.replace("Suites: bookworm bookworm-updates\n",
                                   "Suites: bookworm bookworm-updates bookworm-backports\n")
    got = s.read("sources.list.d/debian.sources")
    assert got == want, "edited file:\n%s\nexpected:\n%s" % (got, want)
    assert os.listdir(s.path("sources.list.d")) == ["debian.sources"]


def test_bookworm_sources_list_gets_a_backports_line_on_its_own_mirror():
    s = Sample("bwlist", "bookworm", sources_list=BOOKWORM_LIST)
    out, _ = s.dry_run()
    new = s.path("sources.list.d/mramfs-backports.list")
    line = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            "http://mirror-b.invalid/debian bookworm-backports main")
    assert "write %s" % new in out, out
    assert "  + %s\n" % line in out, out
    check_backports_installs(out, "bookworm-backports")
    s.run("--sources-only")
    assert s.read("sources.list.d/mramfs-backports.list") == line + "\n"
    assert s.read("sources.list") == BOOKWORM_LIST


def test_bookworm_line_options_with_spaces_are_kept_and_mirrors_listed_once():
    line = "deb [ arch=amd64 signed-by=/k.gpg ] http://m.invalid/d bookworm main\n"
    s = Sample("bwopts", "bookworm", lists={"mirror.list": line, "again.list": line + line})
    s.run("--sources-only")
    assert s.read("sources.list.d/mramfs-backports.list") == \
        "deb [ arch=amd64 signed-by=/k.gpg ] http://m.invalid/d bookworm-backports main\n"


def test_second_run_changes_nothing():
    for kind in ("deb822", "list"):
        if kind == "deb822":
            s = Sample("again822", "bookworm", deb822={"debian.sources": BOOKWORM_DEB822})
        else:
            s = Sample("againlist", "bookworm", sources_list=BOOKWORM_LIST)
        s.run("--sources-only")
        after_first = s.digest()
        out, _ = s.run("--sources-only")
        assert "bookworm-backports is already configured" in out, out
        assert "no change" in out, out
        assert s.digest() == after_first, "the second run changed the sources (%s)" % kind


def test_already_configured_backports_is_left_alone():
    for kind, sample in (
            ("deb822", {"deb822": {"debian.sources": BOOKWORM_DEB822.replace(
                "bookworm bookworm-updates", "bookworm bookworm-updates bookworm-backports")}}),
            ("list", {"sources_list": BOOKWORM_LIST,
                      "lists": {"backports.list":
                                "deb http://elsewhere.invalid/debian bookworm-backports main\n"}})):
        s = Sample("have-" + kind, "bookworm", **sample)
        out, _ = s.dry_run()
        assert re.search(r"bookworm-backports is already configured \(in %s" % re.escape(s.apt),
                         out), out
        assert "+ " not in out, out
        check_backports_installs(out, "bookworm-backports")
        before = s.digest()
        s.run("--sources-only")
        assert s.digest() == before


def test_disabled_or_source_only_stanzas_do_not_count():
    disabled = BOOKWORM_DEB822.replace("Types: deb\n# a comment", "Enabled: no\nTypes: deb\n# a comment")
    src_only = BOOKWORM_DEB822.replace("Types: deb\n# a comment", "Types: deb-src\n# a comment")
    for name, text in (("disabled", disabled), ("srconly", src_only)):
        s = Sample(name, "bookworm", deb822={"debian.sources": text},
                   lists={"old.list": "deb http://mirror-e.invalid/debian bookworm main\n"})
        s.run("--sources-only")
        assert s.read("sources.list.d/debian.sources") == text, name
        assert s.read("sources.list.d/mramfs-backports.list") == \
            "deb http://mirror-e.invalid/debian bookworm-backports main\n", name


def test_bookworm_without_a_source_for_bookworm_is_refused():
    s = Sample("nosrc", "bookworm", lists={"other.list": BOOKWORM_LIST.replace(
        "bookworm main", "bookworm-updates main").replace("deb-src", "# deb-src")})
    out, err = s.dry_run(expect=1)
    assert "no apt source in %s serves bookworm" % s.apt in err, err
    assert not installs(out), out


def test_trixie_takes_everything_from_the_main_archive():
    s = Sample("trixie", "trixie", deb822={"debian.sources": TRIXIE_DEB822})
    out, _ = s.dry_run()
    assert "QEMU and libvirt: from the main archive" in out, out
    check_main_installs(out)
    s.run("--sources-only")
    assert s.read("sources.list.d/debian.sources") == TRIXIE_DEB822


def test_debian_testing_without_version_id_uses_the_main_archive():
    s = Sample("sid", "sid", deb822={"debian.sources": TRIXIE_DEB822})
    out, _ = s.dry_run()
    check_main_installs(out)


def test_ubuntu_noble_and_later_use_the_main_archive():
    for rel in ("noble", "plucky"):
        s = Sample(rel, rel, deb822={"ubuntu.sources": NOBLE_DEB822})
        out, _ = s.dry_run()
        assert "QEMU and libvirt: from the main archive" in out, out
        check_main_installs(out)


def test_too_old_or_unknown_systems_are_refused_with_what_to_install():
    for rel, name in (("jammy", "Ubuntu 22.04.4 LTS"), ("fedora", "Fedora Linux 41"),
                      ("bullseye", "Debian GNU/Linux 11"), ("mint", "Linux Mint 22")):
        s = Sample(rel, rel, deb822={"x.sources": NOBLE_DEB822})
        out, err = s.dry_run(expect=1)
        assert name in err, err
        for need in ("libfuse 3", "glib 2.0", "json-c", "CUnit", "QEMU 9.0 or later",
                     "libvirt 11", "qemu-img"):
            assert need in err, "%s: %r not in:\n%s" % (rel, need, err)
        assert "would run" not in out, out
        out, err = s.run("--sources-only", expect=1)
        assert s.read("sources.list.d/x.sources") == NOBLE_DEB822


def test_bad_arguments_are_refused():
    s = Sample("args", "bookworm")
    for args in (["--bogus"], ["--os-release"]):
        r = subprocess.run(["/bin/sh", SCRIPT, "--dry-run", *args], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2, (args, r)
        assert "Usage: install-deps" in r.stderr, r.stderr
    r = subprocess.run(["/bin/sh", SCRIPT, "--dry-run", "--os-release",
                        os.path.join(s.dir, "missing")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "cannot read" in r.stderr, r


def test_the_script_names_no_host():
    with open(SCRIPT) as f:
        text = f.read()
    hosts = re.findall(r"[a-z]+://[^\s\"']+|\b[a-z0-9-]+\.(?:org|com|net|io)\b", text)
    assert not hosts, "install-deps names hosts: %s" % hosts


def main():
    global SCRIPT, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("only", nargs="?")
    args = ap.parse_args()
    SCRIPT = os.path.abspath(args.script)
    TMP = tempfile.mkdtemp(prefix="install-deps-")
    try:
        return run_module(globals(), args.only)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
