"""A small ELF core reader for the tests: the header, the program headers
and the notes of an ELF32 or ELF64 file of either byte order, as QEMU's
dump-guest-memory and guest/vmcore write them. Standard library only."""

import dataclasses
import struct

PT_LOAD, PT_NOTE = 1, 4

@dataclasses.dataclass
class Phdr:
    type: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: int
    align: int

@dataclasses.dataclass
class Note:
    name: bytes
    type: int
    desc: bytes
    raw: bytes

class ElfCore:
    """The file at path, opened; close() when done."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "rb")
        ident = self.f.read(16)
        if ident[:4] != b"\x7fELF":
            raise ValueError("%s: not ELF" % path)
        self.elfclass = ident[4]
        self.data = ident[5]
        e = "<" if self.data == 1 else ">"
        self.e = e
        if self.elfclass == 2:
            h = struct.unpack(e + "HHIQQQIHHHHHH", self.f.read(48))
        else:
            h = struct.unpack(e + "HHIIIIIHHHHHH", self.f.read(36))
        (self.type, self.machine, self.version, self.entry, self.phoff,
         self.shoff, self.flags, self.ehsize, self.phentsize, self.phnum,
         self.shentsize, self.shnum, self.shstrndx) = h
        self.phdrs = []
        for i in range(self.phnum):
            self.f.seek(self.phoff + i * self.phentsize)
            if self.elfclass == 2:
                t, fl, off, va, pa, fs, ms, al = struct.unpack(e + "IIQQQQQQ", self.f.read(56))
            else:
                t, off, va, pa, fs, ms, fl, al = struct.unpack(e + "IIIIIIII", self.f.read(32))
            self.phdrs.append(Phdr(t, off, va, pa, fs, ms, fl, al))

    def close(self):
        self.f.close()

    @property
    def loads(self):
        return [p for p in self.phdrs if p.type == PT_LOAD]

    def note_bytes(self):
        out = b""
        for p in self.phdrs:
            if p.type == PT_NOTE:
                self.f.seek(p.offset)
                out += self.f.read(p.filesz)
        return out

    def notes(self):
        raw = self.note_bytes()
        out = []
        off = 0
        while off + 12 <= len(raw):
            nsz, dsz, t = struct.unpack(self.e + "III", raw[off:off + 12])
            npad = (nsz + 3) & ~3
            dpad = (dsz + 3) & ~3
            name = raw[off + 12:off + 12 + nsz]
            desc = raw[off + 12 + npad:off + 12 + npad + dsz]
            out.append(Note(name.rstrip(b"\0"), t, desc, raw[off:off + 12 + npad + dpad]))
            off += 12 + npad + dpad
        return out

    def read_segment(self, p, start=0, length=None):
        if length is None:
            length = p.filesz - start
        self.f.seek(p.offset + start)
        return self.f.read(length)
