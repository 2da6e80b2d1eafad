/* ds_vmcore_new (ds-vmcore.h) on snapshots made with mr-writer around a
 * hand-written 32-bit PowerPC "cpu" section: the ELF32 layout (header,
 * section and program headers, PowerPC notes at their offsets), segments
 * merged as QEMU merges guest_phys_blocks and placed so absent pages stay
 * holes, the byte order chosen by MSR[ILE], and every refusal with its
 * reason.  The byte values are typed in from the ELF specification and
 * target/ppc/arch_dump.c's layout (docs/VMCORE.md); the QEMU interop test
 * compares whole cores with dump-guest-memory. */
#include <string.h>

#include "ds-vmcore.h"
#include "dst-helpers.h"

#define MSR 0x2030u
#define MSR_ILE 0x10000u

/* ---- a PowerPC CPU section ------------------------------------------- */

typedef struct {
    const char *skip;     /* a field left out of desc and body */
    guint msr_size;       /* 4, or another size to be refused */
    guint gpr_size;       /* 4 (ppc), 8 (ppc64: refused) */
    guint32 msr;
} PpcSpec;

static void
put_be(GByteArray *b, guint64 v, guint size)
{
    for (guint i = 0; i < size; i++) {
        guint8 c = (guint8)(v >> (8 * (size - 1 - i)));
        g_byte_array_append(b, &c, 1);
    }
}

/* desc and body of a cpu section, fields in vmstate_ppc_cpu's names. */
static void
ppc_section(const PpcSpec *s, GString *desc, GByteArray *body)
{
    struct { const char *name; guint n, size; } f[] = {
        { "env.gpr", 32, s->gpr_size }, { "env.crf", 8, 4 },
        { "env.nip", 1, 4 }, { "env.spr", 1024, 4 },
        { "env.spe_acc", 1, 8 }, { "env.msr", 1, s->msr_size },
    };
    gboolean first = TRUE;

    g_string_append(desc, "{\"vmsd_name\":\"cpu\",\"version\":5,\"fields\":[");
    for (guint i = 0; i < G_N_ELEMENTS(f); i++) {
        if (s->skip && g_str_equal(s->skip, f[i].name))
            continue;
        g_string_append_printf(desc, "%s{\"name\":\"%s\",%s\"type\":\"%s\","
                               "\"size\":%u}", first ? "" : ",", f[i].name,
                               f[i].n > 1 ? (f[i].n == 8 ? "\"array_len\":8,"
                                            : f[i].n == 32 ? "\"array_len\":32,"
                                            : "\"array_len\":1024,") : "",
                               f[i].size == 8 ? "uint64" : "uint32", f[i].size);
        first = FALSE;
        for (guint k = 0; k < f[i].n; k++) {
            guint64 v = 0;
            if (i == 0)
                v = 0x100 + k;                 /* gpr */
            else if (i == 1)
                v = k + 1;                     /* crf: 1..8 */
            else if (i == 2)
                v = 0xfff00100;                /* nip */
            else if (i == 3)
                v = k == 1 ? 0xe00c0000 : k == 8 ? 0x1234 : k == 9 ? 0x5678 : 0;
            else if (i == 4)
                v = G_GUINT64_CONSTANT(0x1122334455667788);
            else
                v = s->msr;
            put_be(body, v, f[i].size);
        }
    }
    g_string_append(desc, "]}");
}

static char *
write_snapshot(const char *name, const PpcSpec *s, const char *idstr,
               gboolean vmdesc)
{
    g_autoptr(GString) desc = g_string_new(NULL);
    g_autoptr(GByteArray) body = g_byte_array_new();
    DstDevice dev;

    ppc_section(s, desc, body);
    dev = (DstDevice){ idstr, 0, 5, desc->str, body->data, body->len };
    return dst_write(name, "40p", &dev, 1, vmdesc, NULL);
}

/* ---- a map over the writer's 64 KiB block "ram" (page 1 present) ----- */

static DsGuestMap *
map_new(MrFile *f, const guint64 (*r)[3], guint n)
{
    DsGuestMap *m = g_new0(DsGuestMap, 1);

    m->ranges = g_array_new(FALSE, TRUE, sizeof(DsGuestRange));
    m->missing = json_object_new_array();
    for (guint i = 0; i < n; i++) {
        DsGuestRange g = { .gpa = r[i][0], .block_offset = r[i][1],
                           .length = r[i][2], .kind = DS_RANGE_RAM,
                           .block = mr_file_find_block(f, "ram") };
        g_array_append_val(m->ranges, g);
    }
    return m;
}

static void
map_free(DsGuestMap *m)
{
    g_array_unref(m->ranges);
    json_object_put(m->missing);
    g_free(m);
}

static const guint64 three_ranges[][3] = {
    { 0x0, 0x0, 0x8000 },          /* merged with the next: one PT_LOAD */
    { 0x8000, 0x8000, 0x8000 },
    { 0xfff00000, 0x1000, 0x1000 }, /* the present page again, elsewhere */
};

static guint64
be_at(const guint8 *p, guint size)
{
    guint64 v = 0;

    for (guint i = 0; i < size; i++)
        v = v << 8 | p[i];
    return v;
}

static guint64
le_at(const guint8 *p, guint size)
{
    guint64 v = 0;

    for (guint i = size; i > 0; i--)
        v = v << 8 | p[i - 1];
    return v;
}

static void
read_all(MrVfile *v, guint8 *buf, guint64 off, gsize len)
{
    g_autoptr(GError) err = NULL;
    gsize got = 0;

    MRT_CHECK(mr_vfile_read(v, buf, off, len, &got, &err) && got == len,
              "read 0x%" G_GINT64_MODIFIER "x+%zu: %s", off, len,
              err ? err->message : "short");
}

/* ---- the layout ------------------------------------------------------- */

static void
test_ppc32_big_endian_core_layout_and_notes(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR };
    g_autofree char *path = write_snapshot("ppc-be.mig", &s, "cpu", TRUE);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    DsGuestMap *m = map_new(f, three_ranges, 3);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = ds_vmcore_new(f, m, &err);
    guint8 h[2048], page[4096];
    guint64 off1, off2, data;
    static const guint8 ident[16] = { 0x7f, 'E', 'L', 'F', 1, 2, 1 };

    MRT_CHECK(v != NULL, "a core: %s", err ? err->message : "");
    if (v == NULL)
        goto out;
    read_all(v, h, 0, sizeof(h));
    MRT_CHECK(memcmp(h, ident, 16) == 0, "ELF32, big-endian, version 1");
    MRT_CHECK_U64(be_at(h + 16, 2), 4);      /* ET_CORE */
    MRT_CHECK_U64(be_at(h + 18, 2), 20);     /* EM_PPC */
    MRT_CHECK_U64(be_at(h + 28, 4), 132);    /* e_phoff: after 2 shdrs */
    MRT_CHECK_U64(be_at(h + 32, 4), 52);     /* e_shoff */
    MRT_CHECK_U64(be_at(h + 40, 2), 52);     /* e_ehsize */
    MRT_CHECK_U64(be_at(h + 42, 2), 32);     /* e_phentsize */
    MRT_CHECK_U64(be_at(h + 44, 2), 3);      /* PT_NOTE + 2 PT_LOADs */
    MRT_CHECK_U64(be_at(h + 46, 2), 40);     /* e_shentsize */
    MRT_CHECK_U64(be_at(h + 48, 2), 2);
    MRT_CHECK_U64(be_at(h + 50, 2), 1);
    /* .shstrtab's header: name 1, SHT_STRTAB, its 11 bytes. */
    MRT_CHECK_U64(be_at(h + 92, 4), 1);
    MRT_CHECK_U64(be_at(h + 96, 4), 3);
    MRT_CHECK_U64(be_at(h + 112, 4), 11);
    MRT_CHECK(memcmp(h + be_at(h + 108, 4), "\0.shstrtab", 11) == 0,
              "the string table where its header says");
    /* PT_NOTE: 5 notes of 20-byte heads: 328 + 260 + 544 + 256 + 140. */
    MRT_CHECK_U64(be_at(h + 132, 4), 4);
    MRT_CHECK_U64(be_at(h + 136, 4), 228);
    MRT_CHECK_U64(be_at(h + 148, 4), 1628);
    /* PT_LOADs: the two contiguous ranges are one; vaddr = paddr. */
    MRT_CHECK_U64(be_at(h + 164, 4), 1);
    MRT_CHECK_U64(be_at(h + 172, 4), 0);
    MRT_CHECK_U64(be_at(h + 176, 4), 0);
    MRT_CHECK_U64(be_at(h + 180, 4), 0x10000);
    MRT_CHECK_U64(be_at(h + 184, 4), 0x10000);
    MRT_CHECK_U64(be_at(h + 196, 4), 1);
    MRT_CHECK_U64(be_at(h + 204, 4), 0xfff00000);
    MRT_CHECK_U64(be_at(h + 208, 4), 0xfff00000);
    MRT_CHECK_U64(be_at(h + 212, 4), 0x1000);
    off1 = be_at(h + 168, 4);
    off2 = be_at(h + 200, 4);
    MRT_CHECK(off1 % 4096 == 0 && off2 % 4096 == 0x1000 % 4096 &&
              off1 >= 228 + 1628 + 11 && off2 >= off1 + 0x10000,
              "segments after the headers, on page boundaries, in order");
    MRT_CHECK_U64(mr_vfile_size(v), off2 + 0x1000);

    /* The notes: "CORE", NT_PRSTATUS, pid 1, registers after post_load. */
    const guint8 *n = h + 228, *d = n + 20, *r = d + 112;
    MRT_CHECK_U64(be_at(n, 4), 5);
    MRT_CHECK_U64(be_at(n + 4, 4), 328);
    MRT_CHECK_U64(be_at(n + 8, 4), 1);
    MRT_CHECK(memcmp(n + 12, "CORE\0\0\0\0", 8) == 0, "name CORE");
    MRT_CHECK_U64(be_at(d + 32, 4), 1);
    MRT_CHECK_U64(be_at(r, 4), 0x100);
    MRT_CHECK_U64(be_at(r + 31 * 4, 4), 0x11f);
    MRT_CHECK_U64(be_at(r + 128, 4), 0xfff00100); /* nip */
    MRT_CHECK_U64(be_at(r + 132, 4), MSR);
    MRT_CHECK_U64(be_at(r + 140, 4), 0x5678);     /* ctr: spr[9] */
    MRT_CHECK_U64(be_at(r + 144, 4), 0x1234);     /* link: spr[8] */
    MRT_CHECK_U64(be_at(r + 148, 4), 0xe0000000); /* xer without OV32/CA32 */
    MRT_CHECK_U64(be_at(r + 152, 4), 0x12345678); /* cr from crf[0..7] */
    n = h + 228 + 348;
    MRT_CHECK_U64(be_at(n + 8, 4), 2);            /* NT_PRFPREG */
    n += 280;
    MRT_CHECK_U64(be_at(n + 8, 4), 0x100);        /* NT_PPC_VMX */
    n += 564;
    MRT_CHECK_U64(be_at(n + 8, 4), 0x102);        /* NT_PPC_VSX */
    n += 276;
    MRT_CHECK_U64(be_at(n + 8, 4), 0x101);        /* NT_PPC_SPE */
    MRT_CHECK_U64(be_at(n + 20 + 128, 8), G_GUINT64_CONSTANT(0x1122334455667788));

    /* Segment bytes: block page 1 at guest 0x1000 and at 0xfff00000; the
     * absent page 0 is a hole of the core. */
    read_all(v, page, off2, sizeof(page));
    MRT_CHECK(page[0] == 0x5a && page[4095] == 0x5a, "0xfff00000 is page 1");
    read_all(v, page, off1 + 0x1000, sizeof(page));
    MRT_CHECK(page[0] == 0x5a, "guest 0x1000 is page 1");
    MRT_CHECK(mr_vfile_seek(v, off1, TRUE, &data, &err), "seek");
    MRT_CHECK_U64(data, off1 + 0x1000);
    MRT_CHECK(mr_vfile_stored_bytes(v) <= 2 * 4096 + off1,
              "stores the header and two pages");
out:
    map_free(m);
}

static void
test_msr_ile_makes_a_little_endian_core(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR | MSR_ILE };
    g_autofree char *path = write_snapshot("ppc-le.mig", &s, "cpu", TRUE);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    DsGuestMap *m = map_new(f, three_ranges, 3);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = ds_vmcore_new(f, m, &err);
    guint8 h[512];

    MRT_CHECK(v != NULL, "a core: %s", err ? err->message : "");
    if (v) {
        read_all(v, h, 0, sizeof(h));
        MRT_CHECK_U64(h[5], 1);                       /* ELFDATA2LSB */
        MRT_CHECK_U64(le_at(h + 18, 2), 20);
        MRT_CHECK_U64(le_at(h + 228 + 4, 4), 328);
        MRT_CHECK_U64(le_at(h + 228 + 20 + 112 + 132, 4), MSR | MSR_ILE);
    }
    map_free(m);
}

/* ---- refusals --------------------------------------------------------- */

static void
expect_refusal(const char *name, const PpcSpec *s, const char *idstr,
               gboolean vmdesc, gboolean missing, guint nranges,
               const char *needle)
{
    g_autofree char *path = write_snapshot(name, s, idstr, vmdesc);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    DsGuestMap *m = map_new(f, three_ranges, nranges);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;

    if (missing) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "what", json_object_new_string("vga"));
        json_object_array_add(m->missing, o);
    }
    v = ds_vmcore_new(f, m, &err);
    MRT_CHECK(v == NULL && g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED),
              "%s: refused as unsupported", name);
    MRT_CHECK(err && strstr(err->message, needle) &&
              strstr(err->message, "guest/vmcore"),
              "%s: the reason names \"%s\": %s", name, needle,
              err ? err->message : "");
    map_free(m);
}

static void
test_missing_or_odd_registers_are_refused_naming_them(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR };

    s.skip = "env.spe_acc";
    expect_refusal("no-spe.mig", &s, "cpu", TRUE, FALSE, 3, "env.spe_acc");
    s.skip = "env.spr";
    expect_refusal("no-spr.mig", &s, "cpu", TRUE, FALSE, 3, "env.spr");
    s.skip = NULL;
    s.msr_size = 8;
    expect_refusal("msr8.mig", &s, "cpu", TRUE, FALSE, 3, "env.msr");
}

static void
test_cpus_this_code_does_not_know_are_refused(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 8, .msr = MSR };

    expect_refusal("ppc64.mig", &s, "cpu", TRUE, FALSE, 3, "64-bit PowerPC");
    s.gpr_size = 4;
    s.skip = "env.crf";
    expect_refusal("other.mig", &s, "cpu", TRUE, FALSE, 3,
                   "not an x86 or 32-bit PowerPC");
    s.skip = NULL;
    expect_refusal("nocpu.mig", &s, "not-a-cpu", TRUE, FALSE, 3,
                   "no \"cpu\" device section");
    expect_refusal("novmdesc.mig", &s, "cpu", FALSE, FALSE, 3, "no vmdesc");
}

/* pflash and other ROM devices: missing from the map, left out of QEMU's
 * dump as well. */
static void
test_missing_memory_that_qemu_does_not_dump_keeps_the_core(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR };
    g_autofree char *path = write_snapshot("romd.mig", &s, "cpu", TRUE);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    DsGuestMap *m = map_new(f, three_ranges, 3);
    json_object *o = json_object_new_object();
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;

    json_object_object_add(o, "what", json_object_new_string("system.flash0"));
    json_object_object_add(o, "dumped", json_object_new_boolean(FALSE));
    json_object_array_add(m->missing, o);
    v = ds_vmcore_new(f, m, &err);
    MRT_CHECK(v != NULL, "a core: %s", err ? err->message : "");
    map_free(m);
}

static void
test_an_incomplete_or_empty_map_is_refused(void)
{
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR };

    expect_refusal("missing.mig", &s, "cpu", TRUE, TRUE, 3,
                   "leaves ranges out");
    expect_refusal("empty.mig", &s, "cpu", TRUE, FALSE, 0,
                   "no guest memory");
}

/* x-ignore-shared: a block whose pages are not in the file. */
static void
test_a_block_not_in_the_file_is_refused(void)
{
    static const char *const caps[] = { "x-ignore-shared", "mapped-ram", NULL };
    PpcSpec s = { .msr_size = 4, .gpr_size = 4, .msr = MSR };
    g_autoptr(GString) desc = g_string_new(NULL);
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(MrWriter) w = mr_writer_new("40p");
    g_autofree char *path = mrt_path("shared.mig");
    g_autoptr(GError) err = NULL;
    static const guint64 one[][3] = { { 0x0, 0x0, 0x10000 } };

    ppc_section(&s, desc, body);
    mr_writer_set_capabilities(w, caps);
    mr_writer_add_block(w, "ram", 0x10000);
    mr_writer_block_set_mr_addr(w, 0, 0);
    mr_writer_block_set_skipped(w, 0);
    mr_writer_set_vmdesc(w, TRUE);
    MRT_CHECK(mr_writer_add_device(w, "cpu", 0, 5, desc->str, body->data,
                                   body->len, FALSE, &err), "device");
    mrt_write(w, path, NULL);

    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    DsGuestMap *m = map_new(f, one, 1);
    g_autoptr(MrVfile) v = ds_vmcore_new(f, m, &err);
    MRT_CHECK(v == NULL && g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED)
              && strstr(err->message, "\"ram\"") &&
              strstr(err->message, "x-ignore-shared"),
              "refused, naming the block: %s", err ? err->message : "");
    map_free(m);
}

int
main(int argc, char **argv)
{
    static const MrtTest layout_tests[] = {
        MRT_TEST(test_ppc32_big_endian_core_layout_and_notes),
        MRT_TEST(test_msr_ile_makes_a_little_endian_core),
        MRT_END,
    };
    static const MrtTest refusal_tests[] = {
        MRT_TEST(test_missing_or_odd_registers_are_refused_naming_them),
        MRT_TEST(test_cpus_this_code_does_not_know_are_refused),
        MRT_TEST(test_an_incomplete_or_empty_map_is_refused),
        MRT_TEST(test_missing_memory_that_qemu_does_not_dump_keeps_the_core),
        MRT_TEST(test_a_block_not_in_the_file_is_refused),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "vmcore layout", layout_tests },
        { "vmcore refusals", refusal_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
