/* guest/vmcore (ds-vmcore.h): QEMU's ELF core layout around our own
 * segment offsets.
 *
 * QEMU 10.0 writes (dump/dump.c, create_vmcore): the ELF header, two
 * section headers (the null one, whose sh_info holds the program header
 * count past PN_XNUM, and .shstrtab), the program headers (PT_NOTE first,
 * then one PT_LOAD per guest_phys_block with p_vaddr = p_paddr since
 * paging is off), the notes, every segment back to back, and the string
 * table last.  We keep that order up to the notes, put the string table
 * right after them, and start each segment at an offset that keeps its
 * pages aligned with the file's blocks.
 */
#include <string.h>

#include "ds-cpustate.h"
#include "ds-elfnote.h"
#include "ds-vmcore.h"
#include "mr-error.h"

#define PT_LOAD 1
#define PT_NOTE 4
#define ET_CORE 4
#define EV_CURRENT 1
#define SHT_STRTAB 3
#define PN_XNUM 0xffff
#define SEGMENT_ALIGN 4096u

static const char shstrtab[] = "\0.shstrtab"; /* 11 bytes with the NUL */

typedef struct {
    guint64 paddr;
    guint64 length;
    MrRamBlock *block;
    guint64 block_offset;
    guint64 file_offset;
} Load;

/* guest_phys_block_add_section(): one block per run that is contiguous in
 * guest-physical memory, in the same memory region and contiguous in it.
 * A RAM block is one memory region, so contiguous block offsets of one
 * block are what QEMU merges. */
static GArray *
merge_ranges(const DsGuestMap *m)
{
    GArray *loads = g_array_new(FALSE, TRUE, sizeof(Load));

    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        Load *last = loads->len ? &g_array_index(loads, Load, loads->len - 1)
                                : NULL;

        if (r->length == 0)
            continue;
        if (last && last->block == r->block &&
            last->paddr + last->length == r->gpa &&
            last->block_offset + last->length == r->block_offset) {
            last->length += r->length;
            continue;
        }
        Load l = { .paddr = r->gpa, .length = r->length, .block = r->block,
                   .block_offset = r->block_offset };
        g_array_append_val(loads, l);
    }
    return loads;
}

/* Whether the map has every range QEMU dumps.  A missing entry is memory
 * the map could not place; only one that says "dumped": false (memory
 * QEMU's dump-guest-memory leaves out anyway: a ROM device such as pflash,
 * which memory_region_is_ram() does not count) keeps the core exact. */
static gboolean
map_complete(const DsGuestMap *m)
{
    json_object *dumped;

    for (size_t i = 0; m->missing && i < json_object_array_length(m->missing);
         i++) {
        json_object *e = json_object_array_get_idx(m->missing, i);
        if (!json_object_object_get_ex(e, "dumped", &dumped) ||
            !json_object_is_type(dumped, json_type_boolean) ||
            json_object_get_boolean(dumped))
            return FALSE;
    }
    return TRUE;
}

/* Every error of ds_vmcore_new starts "guest/vmcore: ", then the file. */
#define PREFIX "guest/vmcore: "

static gboolean
refuse(MrFile *f, GError **err, const char *what)
{
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, MR_NO_OFFSET, "%s", what);
    g_prefix_error(err, PREFIX);
    return FALSE;
}

typedef struct {
    DsElfKind k;
    guint64 ehsize, phentsize, shentsize;
    guint64 shoff, phoff, noteoff, notesz, stroff, header_end;
    guint64 phnum; /* PT_NOTE + loads */
} Layout;

static void
put_word(const Layout *l, guint8 *p, guint64 v)
{
    if (l->k.is64)
        ds_elf_put64(&l->k, p, v);
    else
        ds_elf_put32(&l->k, p, (guint32)v);
}

static void
write_ehdr(const Layout *l, guint8 *h)
{
    const DsElfKind *k = &l->k;
    guint w = k->is64 ? 8 : 4; /* e_entry, e_phoff, e_shoff widths */
    guint8 *p = h + 24;

    memcpy(h, "\177ELF", 4);
    h[4] = k->is64 ? 2 : 1;        /* EI_CLASS */
    h[5] = k->big_endian ? 2 : 1;  /* EI_DATA */
    h[6] = EV_CURRENT;
    ds_elf_put16(k, h + 16, ET_CORE);
    ds_elf_put16(k, h + 18, k->machine);
    ds_elf_put32(k, h + 20, EV_CURRENT);
    p += w; /* e_entry = 0 */
    put_word(l, p, l->phoff);
    put_word(l, p + w, l->shoff);
    p += 2 * w + 4; /* e_flags = 0 */
    /* QEMU stores sizeof a pointer (8) in e_ehsize; this is the real size. */
    ds_elf_put16(k, p, (guint16)l->ehsize);
    ds_elf_put16(k, p + 2, (guint16)l->phentsize);
    ds_elf_put16(k, p + 4, (guint16)MIN(l->phnum, PN_XNUM));
    ds_elf_put16(k, p + 6, (guint16)l->shentsize);
    ds_elf_put16(k, p + 8, 2);     /* e_shnum */
    ds_elf_put16(k, p + 10, 1);    /* e_shstrndx */
}

static void
write_shdrs(const Layout *l, guint8 *p)
{
    const DsElfKind *k = &l->k;
    guint8 *s1 = p + l->shentsize;

    if (l->phnum >= PN_XNUM)
        ds_elf_put32(k, p + (k->is64 ? 44 : 28), (guint32)l->phnum); /* sh_info */
    ds_elf_put32(k, s1, 1);          /* sh_name: ".shstrtab" */
    ds_elf_put32(k, s1 + 4, SHT_STRTAB);
    if (k->is64) {
        ds_elf_put64(k, s1 + 24, l->stroff);
        ds_elf_put64(k, s1 + 32, sizeof(shstrtab));
    } else {
        ds_elf_put32(k, s1 + 16, (guint32)l->stroff);
        ds_elf_put32(k, s1 + 20, sizeof(shstrtab));
    }
}

static void
write_phdr(const Layout *l, guint8 *p, guint32 type, guint64 offset,
           guint64 addr, guint64 size)
{
    const DsElfKind *k = &l->k;

    ds_elf_put32(k, p, type);
    if (k->is64) { /* p_type p_flags p_offset p_vaddr p_paddr p_filesz ... */
        ds_elf_put64(k, p + 8, offset);
        ds_elf_put64(k, p + 16, addr);
        ds_elf_put64(k, p + 24, addr);
        ds_elf_put64(k, p + 32, size);
        ds_elf_put64(k, p + 40, size);
    } else {       /* p_type p_offset p_vaddr p_paddr p_filesz p_memsz ... */
        ds_elf_put32(k, p + 4, (guint32)offset);
        ds_elf_put32(k, p + 8, (guint32)addr);
        ds_elf_put32(k, p + 12, (guint32)addr);
        ds_elf_put32(k, p + 16, (guint32)size);
        ds_elf_put32(k, p + 20, (guint32)size);
    }
}

/* Segment offsets: after the headers, each one congruent to its block
 * offset modulo SEGMENT_ALIGN, so block pages fall on file blocks. */
static guint64
place_loads(GArray *loads, guint64 start)
{
    guint64 at = start;

    for (guint i = 0; i < loads->len; i++) {
        Load *l = &g_array_index(loads, Load, i);
        guint64 want = l->block_offset % SEGMENT_ALIGN;
        guint64 off = at - at % SEGMENT_ALIGN + want;

        if (off < at)
            off += SEGMENT_ALIGN;
        l->file_offset = off;
        at = off + l->length;
    }
    return at;
}

static GBytes *
build_header(const Layout *l, GArray *loads, GByteArray *notes)
{
    guint8 *h = g_malloc0(l->header_end);
    guint8 *ph = h + l->phoff;

    write_ehdr(l, h);
    write_shdrs(l, h + l->shoff);
    write_phdr(l, ph, PT_NOTE, l->noteoff, 0, l->notesz);
    for (guint i = 0; i < loads->len; i++) {
        const Load *d = &g_array_index(loads, Load, i);
        write_phdr(l, ph + (i + 1) * l->phentsize, PT_LOAD, d->file_offset,
                   d->paddr, d->length);
    }
    memcpy(h + l->noteoff, notes->data, notes->len);
    memcpy(h + l->stroff, shstrtab, sizeof(shstrtab));
    return g_bytes_new_take(h, l->header_end);
}

static GByteArray *
all_notes(MrFile *f, const DsGuestMap *m, const DsElfKind *k, GArray *cpus,
          GError **err)
{
    GByteArray *notes = ds_elf_cpu_notes(k, (DsCpu *)cpus->data, cpus->len);
    g_autoptr(GBytes) guest = NULL;

    if (!ds_vmcore_guest_note(f, m, k, &guest, err)) {
        g_byte_array_unref(notes);
        return NULL;
    }
    if (guest) {
        gsize n;
        const guint8 *p = g_bytes_get_data(guest, &n);
        g_byte_array_append(notes, p, (guint)n);
    }
    return notes;
}

MrVfile *
ds_vmcore_new(MrFile *f, const DsGuestMap *m, GError **err)
{
    g_autoptr(GArray) loads = NULL;
    g_autoptr(GArray) cpus = NULL;
    g_autoptr(GByteArray) notes = NULL;
    g_autoptr(GBytes) header = NULL;
    g_autoptr(MrVfile) v = NULL;
    Layout l = { 0 };
    guint64 end;

    if (!map_complete(m)) {
        refuse(f, err, "the guest-physical map leaves ranges out (see "
               "guest/memmap.json \"missing\"), so the core would lack "
               "segments QEMU's has");
        return NULL;
    }
    loads = merge_ranges(m);
    if (loads->len == 0) {
        refuse(f, err, "no guest memory is mapped (QEMU: \"dump: no guest "
               "memory to dump\")");
        return NULL;
    }
    for (guint i = 0; i < loads->len; i++) {
        const Load *d = &g_array_index(loads, Load, i);
        if (!d->block->stored) {
            g_autofree char *what = g_strdup_printf(
                "ram block \"%s\" (guest-physical 0x%" G_GINT64_MODIFIER "x) "
                "is not in the file (x-ignore-shared): its bytes are unknown",
                d->block->idstr, d->paddr);
            refuse(f, err, what);
            return NULL;
        }
    }
    cpus = ds_cpus_read(f, err);
    if (cpus == NULL) {
        g_prefix_error(err, PREFIX);
        return NULL;
    }
    const Load *top = &g_array_index(loads, Load, loads->len - 1);
    l.k = ds_elf_kind((DsCpu *)cpus->data, cpus->len, top->paddr + top->length);
    notes = all_notes(f, m, &l.k, cpus, err);
    if (notes == NULL) {
        g_prefix_error(err, PREFIX);
        return NULL;
    }

    l.ehsize = l.k.is64 ? 64 : 52;
    l.shentsize = l.k.is64 ? 64 : 40;
    l.phentsize = l.k.is64 ? 56 : 32;
    l.phnum = 1 + (guint64)loads->len;
    l.shoff = l.ehsize;
    l.phoff = l.shoff + 2 * l.shentsize;
    l.noteoff = l.phoff + l.phnum * l.phentsize;
    l.notesz = notes->len;
    l.stroff = l.noteoff + l.notesz;
    l.header_end = l.stroff + sizeof(shstrtab);
    end = place_loads(loads, l.header_end);
    if (!l.k.is64 && end > G_MAXUINT32) {
        refuse(f, err, "the core is an ELF32 file (as QEMU's is) but its "
               "segments would pass 4 GiB of file offsets");
        return NULL;
    }

    header = build_header(&l, loads, notes);
    v = mr_vfile_new(f);
    if (!mr_vfile_add_bytes(v, 0, header, err))
        return NULL;
    for (guint i = 0; i < loads->len; i++) {
        const Load *d = &g_array_index(loads, Load, i);
        if (!mr_vfile_add_block(v, d->file_offset, d->block, d->block_offset,
                                d->length, err)) {
            g_prefix_error(err, PREFIX);
            return NULL;
        }
    }
    if (!mr_vfile_set_size(v, end, err))
        return NULL;
    return g_steal_pointer(&v);
}

MrVfile *
ds_vmcore_offer(MrFile *f, const DsGuestMap *m, json_object **status)
{
    g_autoptr(GError) err = NULL;
    MrVfile *v = ds_vmcore_new(f, m, &err);

    *status = json_object_new_object();
    json_object_object_add(*status, "offered", json_object_new_boolean(v != NULL));
    if (v == NULL)
        json_object_object_add(*status, "why", json_object_new_string(
            g_str_has_prefix(err->message, PREFIX)
                ? err->message + strlen(PREFIX) : err->message));
    return v;
}
