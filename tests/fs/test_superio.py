#!/usr/bin/env python3
"""superio/ and devices/ through a real mount of synthetic snapshots
(mr-synth device sections, no QEMU): superio/pc87312.json read, written,
refused and refreshed, the VIA documents read, a device the view cannot
read shown read-only while the rest is served.  Each write is checked in
the snapshot's own bytes after it; each refusal leaves them identical.

Register values and what they mean are typed in from docs/FORMAT.md §14.1
(PC87312) and §14.2 (VIA), never computed with the code under test.
"""
import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import mounted, sha256, synth  # noqa: E402

TMP = None
RAM = {"name": "simm.0", "size": 1 << 20, "present": [[0, 4]]}
# FER 4f FAR 39 PTR 08 (docs/FORMAT.md §14.1.3): parallel on at 0x3bc irq 7
# (FAR[1:0] = 1), UART1 COM3 (FAR[3:2] = 2, address set 0: 0x3e8 irq 4),
# UART2 COM4 (FAR[5:4] = 3: 0x2e8 irq 3), FDC at 0x3f0, IDE at 0x1f0.
PC87312 = {"kind": "pc87312", "regs": [0x4f, 0x39, 0x08], "selected_index": 1,
           "read_id_step": 2}


def snapshot(name, devices, **spec):
    path = os.path.join(TMP, name)
    layout = synth(dict(spec, machine=spec.get("machine", "40p"), blocks=[RAM],
                        devices=devices), path)
    return path, layout


def pc_regs_offset(layout, index):
    """File offset of FER: the pc87312 body is read_id_step,
    selected_index, FER, FAR, PTR (§14.1.1)."""
    return layout["devices"][index]["body_offset"] + 2


def file_bytes(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def read_json(mnt, rel):
    with open(os.path.join(mnt, rel)) as f:
        return json.load(f)


def write_doc(mnt, rel, text):
    """Writes a document whole and closes it: the close says whether it
    was applied (None) or refused (its errno)."""
    fd = os.open(os.path.join(mnt, rel), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode() if isinstance(text, str) else text)
    finally:
        try:
            os.close(fd)
        except OSError as e:
            return e.errno
    return None


def regs_of(doc):
    r = doc["registers"]
    return (int(r["fer"], 16), int(r["far"], 16), int(r["ptr"], 16),
            r["selected_index"], r["read_id_step"])


def test_pc87312_document_shows_the_registers_and_their_functions():
    path, layout = snapshot("read.mig", [{"kind": "serial"}, PC87312])
    with mounted(path, ["-o", "ro"]) as mnt:
        assert {"devices", "ram", "snapshot.json", "superio"} <= set(os.listdir(mnt))
        assert os.listdir(os.path.join(mnt, "superio")) == ["pc87312.json"]
        doc = read_json(mnt, "superio/pc87312.json")
        assert regs_of(doc) == (0x4f, 0x39, 0x08, 1, 2), doc["registers"]
        assert doc["section"]["registers_offset"] == pc_regs_offset(layout, 1)
        fn = doc["functions"]
        assert fn["parallel"] == {"enabled": True, "iobase": "0x3bc", "irq": 7}, fn
        assert fn["uart1"] == {"enabled": True, "iobase": "0x3e8", "irq": 4}, fn
        assert fn["uart2"] == {"enabled": True, "iobase": "0x2e8", "irq": 3}, fn
        assert fn["fdc"] == {"enabled": True, "iobase": "0x3f0", "irq": 6, "dma": 2}, fn
        assert fn["ide"] == {"enabled": True, "iobase": "0x1f0", "irq": 14}, fn
        dev = read_json(mnt, "devices/pc87312.0.json")
        assert dev["fields"]["regs"]["value"] == [0x4f, 0x39, 0x08], dev
        # Read-only mount: the document cannot be opened for writing.
        try:
            os.open(os.path.join(mnt, "superio/pc87312.json"), os.O_WRONLY)
        except OSError as e:
            assert e.errno == errno.EROFS, e
        else:
            raise AssertionError("superio/pc87312.json opened for writing on a ro mount")


def test_pc87312_written_registers_reach_the_file_and_both_files_refresh():
    path, layout = snapshot("write.mig", [{"kind": "serial"}, PC87312])
    at = pc_regs_offset(layout, 1)
    around = file_bytes(path, at - 2, 5)
    with mounted(path) as mnt:
        assert write_doc(mnt, "superio/pc87312.json", json.dumps(
            {"registers": {"fer": "0x0b", "far": "0x10", "ptr": "0x04",
                           "selected_index": 2, "read_id_step": 0}})) is None
        doc = read_json(mnt, "superio/pc87312.json")
        assert regs_of(doc) == (0x0b, 0x10, 0x04, 2, 0), doc["registers"]
        # FER 0b: parallel, UART1 and FDC on, UART2 and IDE off.
        assert [doc["functions"][k]["enabled"] for k in
                ("parallel", "uart1", "uart2", "fdc", "ide")] == \
            [True, True, False, True, False], doc["functions"]
        dev = read_json(mnt, "devices/pc87312.0.json")
        assert dev["fields"]["regs"]["value"] == [0x0b, 0x10, 0x04], dev["fields"]
        assert dev["fields"]["selected_index"]["value"] == 2
        # Functions in, registers out: UART2 (COM2 since FAR[5:4] = 1)
        # enabled is FER bit 2.
        assert write_doc(mnt, "superio/pc87312.json", json.dumps(
            {"functions": {"uart2": {"enabled": True, "iobase": "0x2f8", "irq": 3}}})) is None
        doc = read_json(mnt, "superio/pc87312.json")
        assert regs_of(doc)[:3] == (0x0f, 0x10, 0x04), doc["registers"]
    # In the file: read_id_step, selected_index, FER, FAR, PTR.
    assert around == bytes([2, 1, 0x4f, 0x39, 0x08]), around.hex()
    assert file_bytes(path, at - 2, 5) == bytes([0, 2, 0x0f, 0x10, 0x04]), \
        file_bytes(path, at - 2, 5).hex()
    info = mountlib.info_json(path)
    assert info["file_size"] == os.path.getsize(path)


def test_pc87312_refused_documents_change_nothing():
    path, layout = snapshot("refuse.mig", [{"kind": "serial"}, PC87312])
    before = sha256(path)
    with mounted(path) as mnt:
        doc_before = read_json(mnt, "superio/pc87312.json")
        for what, text in (
                ("not JSON", "{"),
                ("trailing garbage", '{"registers": {}} x'),
                ("an unknown key", '{"registers": {"fer": 1, "bogus": 2}}'),
                ("a value out of range", '{"registers": {"fer": 256}}'),
                ("a parallel port the chip cannot place",
                 '{"functions": {"parallel": {"iobase": "0x300", "irq": 7}}}'),
                ("registers and functions that disagree",
                 '{"registers": {"fer": "0x00"}, "functions": {"ide": {"iobase": "0x170"}}}'),
                ("another device", '{"device": "vt8231"}')):
            e = write_doc(mnt, "superio/pc87312.json", text)
            assert e == errno.EINVAL, "%s: close() gave %s, expected EINVAL" % (what, e)
            assert read_json(mnt, "superio/pc87312.json") == doc_before, what
        # Neither renamed, truncated in place nor grown: a document is a file
        # of the mount, not of the user.
        for fn in (lambda: os.truncate(os.path.join(mnt, "superio/pc87312.json"), 0),
                   lambda: os.unlink(os.path.join(mnt, "superio/pc87312.json"))):
            try:
                fn()
            except OSError as e:
                assert e.errno in (errno.EPERM, errno.EACCES, errno.EINVAL), e
    assert sha256(path) == before, "a refused document changed the snapshot"


def test_pc87312_registers_across_a_sector_boundary_change_in_parts_or_not():
    # A filler section before the pc87312 puts FER at the last byte of a
    # 512-byte sector and FAR at the first of the next (docs/CRASH-CONSISTENCY.md:
    # a disk writes a sector whole or not at all).
    filler = {"kind": "raw", "idstr": "filler", "desc": {
        "vmsd_name": "filler", "version": 1,
        "fields": [{"name": "data", "type": "buffer", "size": 1}]}, "body_size": 1}
    _, layout = snapshot("probe.mig", [filler, PC87312])
    pad = 1 + (511 - pc_regs_offset(layout, 1)) % 512
    filler["desc"]["fields"][0]["size"] = filler["body_size"] = pad
    path, layout = snapshot("sector.mig", [filler, PC87312])
    at = pc_regs_offset(layout, 1)
    assert at % 512 == 511, at
    before = sha256(path)
    with mounted(path) as mnt:
        e = write_doc(mnt, "superio/pc87312.json",
                      '{"registers": {"fer": "0x4e", "far": "0x38"}}')
        assert e == errno.EOPNOTSUPP, "FER and FAR across a sector: %s" % e
        assert regs_of(read_json(mnt, "superio/pc87312.json"))[:2] == (0x4f, 0x39)
        assert sha256(path) == before, "a refused write changed the snapshot"
        # One at a time, each inside its sector: applied.
        assert write_doc(mnt, "superio/pc87312.json", '{"registers": {"fer": "0x4e"}}') is None
        assert write_doc(mnt, "superio/pc87312.json", '{"registers": {"far": "0x38"}}') is None
        assert regs_of(read_json(mnt, "superio/pc87312.json"))[:2] == (0x4e, 0x38)
    assert file_bytes(path, at, 2) == bytes([0x4e, 0x38])


def test_a_pc87312_the_view_cannot_read_is_shown_read_only_and_the_rest_served():
    path, _ = snapshot("buffer.mig", [{"kind": "serial"}, dict(PC87312, buffer=True)])
    with mounted(path) as mnt:
        doc = read_json(mnt, "superio/pc87312.json")
        assert doc["decoded"] is False and "regs" in doc["reason"], doc
        try:
            os.open(os.path.join(mnt, "superio/pc87312.json"), os.O_WRONLY)
        except OSError as e:
            assert e.errno == errno.EACCES, e
        else:
            raise AssertionError("an undecoded document opened for writing")
        assert read_json(mnt, "devices/serial.0.json")["decoded"] is True
        assert read_json(mnt, "devices/pc87312.0.json")["decoded"] is True
        with open(os.path.join(mnt, "ram/simm.0"), "rb") as f:
            assert f.read(4096) == mountlib.pattern_page("simm.0", 0)


def test_via_documents_show_the_chip_gate_and_children():
    for chip, gate, name in (("vt82c686b", {"0x85": 0x02}, "vt82c686b.json"),
                             ("vt8231", {"0x50": 0x04, "0x55": 0x90}, "vt8231.json")):
        path, _ = snapshot(chip + ".mig", [
            {"kind": "serial", "divider": 12},
            {"kind": "via-isa", "chip": chip, "config": gate}],
            machine="pegasos2" if chip == "vt8231" else "fuloong2e")
        with mounted(path) as mnt:
            assert os.listdir(os.path.join(mnt, "superio")) == [name], chip
            doc = read_json(mnt, "superio/" + name)
            assert doc["chip"] == chip.upper(), doc["chip"]
            assert doc["config_ports_enabled"] is True, (chip, doc["config_ports_gate"])
            assert doc["functions_in_stream"]["serial0"]["baud"] == 115200 // 12
            if chip == "vt8231":
                assert doc["pci_interrupt_routing"]["INTA"] == 9, doc
            assert doc["superio_registers"] is None
            assert doc["assumed"]["migrated"] is False
            try:
                os.open(os.path.join(mnt, "superio/" + name), os.O_WRONLY)
            except OSError as e:
                assert e.errno == errno.EACCES, e
            else:
                raise AssertionError("%s opened for writing" % name)


def main():
    return mountlib.main(globals(), prefix="mramfs-superio-")


if __name__ == "__main__":
    sys.exit(main())
