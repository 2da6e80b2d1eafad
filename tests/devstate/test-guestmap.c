/* Whole guest-physical maps (ds-guestmap.h) of synthetic snapshots whose
 * device state a running QEMU would not write, or only under KVM: a CMOS
 * a guest overwrote, an unknown PCI device, a machine version or type with
 * no known rules, a missing vmdesc, RAM not stored (x-ignore-shared), a
 * Hyper-V SynIC page; and physmem's holes.  Expected values are typed in
 * from QEMU 10.0's sources, never computed with the code under test. */
#include <string.h>

#include "ds-gm-pc.h"
#include "gmt-helpers.h"

/* ---- whole maps of synthetic snapshots ---- */

static const char i440fx_desc[] =
    "{\"vmsd_name\":\"I440FX\",\"version\":3,\"fields\":["
    "{\"name\":\"parent_obj\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":256},"
    "{\"name\":\"irq_state\",\"type\":\"pci irq state\",\"size\":16}]},"
    "\"size\":276},{\"name\":\"unused\",\"type\":\"unused_buffer\",\"size\":1}]}";
static const char rtc_desc[] =
    "{\"vmsd_name\":\"mc146818rtc\",\"version\":3,\"fields\":["
    "{\"name\":\"cmos_data\",\"type\":\"buffer\",\"size\":128}]}";
static const char short_rtc_desc[] =
    "{\"vmsd_name\":\"mc146818rtc\",\"version\":3,\"fields\":["
    "{\"name\":\"cmos_data\",\"type\":\"buffer\",\"size\":64}]}";
/* The x86 cpu section reduced to one field and the SynIC subsection as
 * target/i386/machine.c vmstate_msr_hyperv_synic describes it. */
static const char cpu_desc[] =
    "{\"vmsd_name\":\"cpu\",\"version\":12,\"fields\":["
    "{\"name\":\"env.eip\",\"type\":\"uint64\",\"size\":8}],"
    "\"subsections\":[{\"vmsd_name\":\"cpu/msr_hyperv_synic\",\"version\":1,"
    "\"fields\":[{\"name\":\"env.msr_hv_synic_control\",\"type\":\"uint64\",\"size\":8},"
    "{\"name\":\"env.msr_hv_synic_evt_page\",\"type\":\"uint64\",\"size\":8},"
    "{\"name\":\"env.msr_hv_synic_msg_page\",\"type\":\"uint64\",\"size\":8}]}]}";
static const char dev_desc[] =
    "{\"vmsd_name\":\"foo\",\"version\":1,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":256},"
    "{\"name\":\"irq_state\",\"type\":\"pci irq state\",\"size\":16}]},"
    "\"size\":276}]}";

typedef struct {
    const char *machine;
    guint64 ram;
    gboolean vmdesc;
    gboolean rewritten_cmos;
    gboolean short_cmos;       /* cmos_data of 64 bytes, not 128 */
    const char *extra_block;   /* with a "foo" PCI device section */
    gboolean ram_not_stored;
    guint64 synic_msg;         /* vCPU 0's SIMP MSR, with a SynIC block */
    gboolean isa_vga;          /* an isa-vga: section "vga", no PCI path */
} Synth;

static char *
write_pc(const char *name, const Synth *s)
{
    g_autoptr(MrWriter) w = mr_writer_new(s->machine);
    g_autoptr(GError) err = NULL;
    guint8 body[277] = { 0 }, cmos[128];
    guint8 page[4096];
    char *path = mrt_path(name);
    guint b = mr_writer_add_block(w, "pc.ram", s->ram);
    GmPcSplit sp = gm_pc_default_split(FALSE, s->ram);

    memset(page, 0x5a, sizeof(page));
    if (s->ram_not_stored) {
        static const char *const caps[] = { "mapped-ram", "x-ignore-shared", NULL };
        mr_writer_set_capabilities(w, caps);
        mr_writer_block_set_skipped(w, b);
    }
    else
        mr_writer_set_page(w, b, 0, page);
    mr_writer_add_block(w, "pc.bios", 256 * 1024);
    mr_writer_add_block(w, "pc.rom", 128 * 1024);
    if (s->extra_block)
        mr_writer_add_block(w, s->extra_block, 64 * 1024);
    if (s->isa_vga)
        mr_writer_add_block(w, "vga.vram", 8 * MiB);
    if (s->synic_msg) {
        guint sb = mr_writer_add_block(w, "synic-0-msg-page", 4096);
        guint8 synic[4096];
        memset(synic, 0x3c, sizeof(synic));
        mr_writer_set_page(w, sb, 0, synic);
        mr_writer_add_block(w, "synic-0-event-page", 4096);
    }
    mr_writer_set_vmdesc(w, s->vmdesc);
    /* The I440FX at reset: PAM all PCI, SMRAM 0x02 (closed). */
    body[4 + 0x72] = 0x02;
    MRT_CHECK(mr_writer_add_device(w, "0000:00:00.0/I440FX", 0, 3, i440fx_desc,
                                   body, 277, FALSE, &err), "I440FX");
    gmt_cmos_for(cmos, 640, (guint16)MIN((sp.below - MiB) / 1024, 65535),
             (guint16)(sp.below > 16 * MiB ? (sp.below - 16 * MiB) / 65536 : 0),
             (guint32)(sp.above / 65536));
    if (s->rewritten_cmos)
        cmos[0x34] ^= 0x40;
    MRT_CHECK(mr_writer_add_device(w, "mc146818rtc", 0, 3,
                                   s->short_cmos ? short_rtc_desc : rtc_desc,
                                   cmos, s->short_cmos ? 64 : 128, FALSE, &err),
              "rtc");
    if (s->isa_vga) {
        /* QEMU 10.0.2 cannot restore an isa-vga under MALLOC_PERTURB_ (it
         * crashes), so the QEMU tests have no such case. */
        static const char vga_desc[] =
            "{\"vmsd_name\":\"vga\",\"version\":2,\"fields\":["
            "{\"name\":\"latch\",\"type\":\"uint32\",\"size\":4}]}";
        static const guint8 latch[4];
        MRT_CHECK(mr_writer_add_device(w, "vga", 0, 2, vga_desc, latch, 4,
                                       FALSE, &err), "vga");
    }
    if (s->synic_msg) {
        /* eip, then subsection: 0x05, name, be32 version, three be64. */
        static const char sub[] = "cpu/msr_hyperv_synic";
        guint8 cpu[8 + 1 + 1 + sizeof(sub) - 1 + 4 + 24] = { 0 };
        guint8 *p = cpu + 8;
        *p++ = 0x05;
        *p++ = sizeof(sub) - 1;
        memcpy(p, sub, sizeof(sub) - 1);
        p += sizeof(sub) - 1;
        p[3] = 1;
        p += 4;
        p[7] = 1;                      /* control: enabled */
        p += 16;                       /* evt_page 0: its page stays out */
        for (guint i = 0; i < 8; i++)
            p[i] = (guint8)(s->synic_msg >> (56 - 8 * i));
        MRT_CHECK(mr_writer_add_device(w, "cpu", 0, 12, cpu_desc, cpu,
                                       sizeof(cpu), FALSE, &err), "cpu: %s",
                  err ? err->message : "");
    }
    if (s->extra_block) {
        g_autofree char *dev = g_strndup(s->extra_block,
                                         strrchr(s->extra_block, '/') - s->extra_block);
        g_autofree char *idstr = g_strconcat(dev, "/foo", NULL);
        memset(body, 0, sizeof(body));
        body[4 + 4] = 0x02; /* memory decoding on */
        body[4 + 0x10] = 0x00, body[4 + 0x13] = 0xe0; /* BAR 0 0xe0000000 */
        body[4 + 0x30] = 0x01, body[4 + 0x33] = 0xe1; /* ROM 0xe1000000, on */
        MRT_CHECK(mr_writer_add_device(w, idstr, 0, 1, dev_desc, body, 276,
                                       FALSE, &err), "foo");
    }
    mrt_write(w, path, NULL);
    return path;
}

static DsGuestMap *
map_of(const char *path, MrFile **fp)
{
    g_autoptr(GError) err = NULL;
    MrFile *f = MRT_OPEN(path, NULL);
    DsGuestMap *m = f ? ds_guest_map_new(f, &err) : NULL;

    MRT_CHECK(m != NULL, "ds_guest_map_new: %s", err ? err->message : "");
    *fp = f;
    return m;
}

/* Some missing entry's "what" contains needle. */
static gboolean
missing_has(const DsGuestMap *m, const char *needle)
{
    for (size_t i = 0; i < json_object_array_length(m->missing); i++) {
        json_object *w = dst_get(json_object_array_get_idx(m->missing, i), "what");
        if (w && strstr(json_object_get_string(w), needle))
            return TRUE;
    }
    return FALSE;
}

static void
test_synthetic_pc_maps_as_qemu(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE };
    g_autofree char *path = write_pc("pc.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    MrRamBlock *ram, *bios, *rom;

    if (m == NULL)
        goto out;
    ram = mr_file_find_block(f, "pc.ram");
    bios = mr_file_find_block(f, "pc.bios");
    rom = mr_file_find_block(f, "pc.rom");
    /* No VGA, SMRAM closed: pc.ram shows through 0xa0000-0xbffff. */
    check_range(m, 0, 0, 0xc0000, ram, 0, DS_RANGE_RAM);
    check_range(m, 1, 0xc0000, 0x4000, rom, 0, DS_RANGE_ROM);
    check_range(m, 9, 0xe0000, 0x4000, bios, 0x20000, DS_RANGE_ROM);
    check_range(m, 13, 0xf0000, 0x10000, bios, 0x30000, DS_RANGE_ROM);
    check_range(m, 14, 0x100000, 31 * MiB, ram, 0x100000, DS_RANGE_RAM);
    check_range(m, 15, 4 * GiB - 256 * 1024, 256 * 1024, bios, 0, DS_RANGE_ROM);
    MRT_CHECK_U64(m->ranges->len, 16);
    MRT_CHECK_U64(json_object_array_length(m->missing), 0);
    DST_STR(m->machine, "split/source", "default");
    DST_STR(RANGE(m, 1)->why, "through/0/pam_register/field",
            "parent_obj/config[0][0x5a]");
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_rewritten_cmos_leaves_the_split_out(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE, .rewritten_cmos = TRUE };
    g_autofree char *path = write_pc("cmos.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m == NULL)
        goto out;
    DST_STR(m->machine, "split/source", "unknown");
    MRT_CHECK(missing_has(m, "RAM from 1 MiB up"), "RAM above 1 MiB missing");
    MRT_CHECK(missing_has(m, "RAM above 4 GiB"), "RAM above 4 GiB missing");
    for (guint i = 0; i < m->ranges->len; i++)
        MRT_CHECK(RANGE(m, i)->gpa + RANGE(m, i)->length <= MiB ||
                  RANGE(m, i)->gpa >= 4 * GiB - 256 * 1024,
                  "no range between 1 MiB and the BIOS (range %u at 0x%"
                  G_GINT64_MODIFIER "x)", i, RANGE(m, i)->gpa);
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

/* A CMOS of another size than the rule reads leaves the split unknown
 * (its RAM above 1 MiB missing), not the whole map; the map says why,
 * with the field's offset and both sizes. */
static void
test_a_cmos_of_another_size_leaves_the_split_out(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE,
                .short_cmos = TRUE };
    g_autofree char *path = write_pc("short-cmos.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    json_object *split;
    const char *why;

    if (m == NULL)
        goto out;
    DST_STR(m->machine, "split/source", "unknown");
    MRT_CHECK(missing_has(m, "RAM from 1 MiB up"), "RAM above 1 MiB missing");
    split = dst_get(m->machine, "split/cmos_unreadable");
    why = split ? json_object_get_string(split) : "";
    MRT_CHECK(strstr(why, ": offset 0x") &&
              strstr(why, "\"cmos_data\": expected 128 bytes, found 64"),
              "why: %s", why);
    MRT_CHECK(m->ranges->len > 0, "the rest is mapped");
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_unknown_machines_and_versions_map_nothing(void)
{
    static const char *const names[] = { "pc-i440fx-8.2", "pc-q35-4.0.1",
                                         "virt-9.2", "pc-i440fx-11.0" };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        Synth s = { .machine = names[i], .ram = 32 * MiB, .vmdesc = TRUE };
        g_autofree char *path = write_pc(names[i], &s);
        MrFile *f;
        DsGuestMap *m = map_of(path, &f);
        if (m) {
            MRT_CHECK(m->ranges->len == 0, "%s: no ranges", names[i]);
            MRT_CHECK(missing_has(m, "the whole guest-physical map"),
                      "%s: the whole map is missing", names[i]);
            ds_guest_map_free(m);
        }
        mr_file_close(f);
    }
}

static void
test_no_vmdesc_maps_nothing(void)
{
    Synth s = { .machine = "pc-i440fx-9.0", .ram = 32 * MiB };
    g_autofree char *path = write_pc("novmdesc.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m) {
        MRT_CHECK_U64(m->ranges->len, 0);
        MRT_CHECK(missing_has(m, "the whole guest-physical map"), "missing");
        ds_guest_map_free(m);
    }
    mr_file_close(f);
}

static void
test_unknown_pci_blocks_go_to_missing(void)
{
    static const char *const blocks[] = {
        "0000:00:05.0/foo.vram",      /* a BAR rule not known */
        "0000:00:1c.0:00.0/foo.rom",  /* behind a bridge */
    };
    static const char *const reasons[] = { "which BAR", "bridge" };

    for (guint i = 0; i < G_N_ELEMENTS(blocks); i++) {
        Synth s = { .machine = "pc-i440fx-9.2", .ram = 64 * MiB,
                    .vmdesc = TRUE, .extra_block = blocks[i] };
        g_autofree char *path = write_pc(i ? "bridge.mig" : "foo.mig", &s);
        MrFile *f;
        DsGuestMap *m = map_of(path, &f);
        if (m) {
            MRT_CHECK(missing_has(m, blocks[i]), "%s is missing", blocks[i]);
            MRT_CHECK(strstr(json_object_to_json_string(m->missing),
                             reasons[i]) != NULL, "%s: the reason names %s",
                      blocks[i], reasons[i]);
            MRT_CHECK(m->ranges->len > 0, "the rest is mapped");
            for (guint j = 0; j < m->ranges->len; j++)
                MRT_CHECK(!g_str_equal(RANGE(m, j)->block->idstr, blocks[i]),
                          "%s is in no range", blocks[i]);
            ds_guest_map_free(m);
        }
        mr_file_close(f);
    }
}

static void
test_unstored_ram_is_missing(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE, .ram_not_stored = TRUE };
    g_autofree char *path = write_pc("shared.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m) {
        MRT_CHECK(missing_has(m, "the machine's RAM"), "RAM missing");
        for (guint j = 0; j < m->ranges->len; j++)
            MRT_CHECK(!g_str_equal(RANGE(m, j)->block->idstr, "pc.ram"),
                      "pc.ram is in no range");
        ds_guest_map_free(m);
    }
    mr_file_close(f);
}

static void
test_synic_page_overlays_ram(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE,
                .synic_msg = 0x1234000 | 1 };
    g_autofree char *path = write_pc("synic.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    MrRamBlock *ram, *msg;

    if (m == NULL)
        goto out;
    ram = mr_file_find_block(f, "pc.ram");
    msg = mr_file_find_block(f, "synic-0-msg-page");
    /* The SIMP page cuts the RAM from 1 MiB in two. */
    check_range(m, 14, 0x100000, 0x1234000 - 0x100000, ram, 0x100000, DS_RANGE_RAM);
    check_range(m, 15, 0x1234000, 0x1000, msg, 0, DS_RANGE_RAM);
    check_range(m, 16, 0x1235000, 32 * MiB - 0x1235000, ram, 0x1235000,
                DS_RANGE_RAM);
    DST_STR(RANGE(m, 15)->why, "msr/value", "0x1234001");
    DST_BOOL(m->machine, "blocks/synic-0-event-page/mapped", FALSE);
    MRT_CHECK_U64(json_object_array_length(m->missing), 0);
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_isa_vga_makes_the_legacy_window_missing(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE,
                .isa_vga = TRUE };
    g_autofree char *path = write_pc("isavga.mig", &s);
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);

    if (m == NULL)
        goto out;
    /* Without it pc.ram shows at 0xa0000 (test_synthetic_pc_maps_as_qemu);
     * with its registers there, the window is not RAM: left out. */
    MRT_CHECK(missing_has(m, "the legacy VGA window"), "the window is missing");
    MRT_CHECK(missing_has(m, "vga.vram"), "its vram is missing");
    check_range(m, 0, 0, 0xa0000, mr_file_find_block(f, "pc.ram"), 0,
                DS_RANGE_RAM);
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static void
test_physmem_holes_and_size(void)
{
    Synth s = { .machine = "pc-i440fx-10.0", .ram = 32 * MiB, .vmdesc = TRUE };
    g_autofree char *path = write_pc("physmem.mig", &s);
    g_autoptr(GError) err = NULL;
    g_autoptr(MrVfile) v = NULL;
    MrFile *f;
    DsGuestMap *m = map_of(path, &f);
    guint8 buf[16];
    gsize got;
    guint64 at;

    if (m == NULL)
        goto out;
    v = ds_guest_physmem(f, m, &err);
    MRT_CHECK(v != NULL, "physmem: %s", err ? err->message : "");
    if (v == NULL)
        goto free;
    MRT_CHECK_U64(mr_vfile_size(v), 4 * GiB);
    /* pc.ram page 0 is the only present page: 0x5a at guest 0. */
    MRT_CHECK(mr_vfile_read(v, buf, 0, sizeof(buf), &got, &err) &&
              got == sizeof(buf) && buf[0] == 0x5a && buf[15] == 0x5a,
              "page 0 reads as written");
    MRT_CHECK(mr_vfile_seek(v, 0, FALSE, &at, &err), "seek hole");
    MRT_CHECK_U64(at, 4096);
    MRT_CHECK(mr_vfile_seek(v, 4096, TRUE, &at, &err), "seek data");
    MRT_CHECK_U64(at, MR_VFILE_NONE);
    MRT_CHECK_U64(mr_vfile_stored_bytes(v), 4096);
    /* Writes into a hole between ranges are refused. */
    MRT_CHECK(!mr_vfile_write(v, NULL, buf, 0x10000000, 1, &err) &&
              g_error_matches(err, MR_ERROR, MR_ERROR_RANGE),
              "a write to an unmapped address fails with MR_ERROR_RANGE");
free:
    ds_guest_map_free(m);
out:
    mr_file_close(f);
}

static const MrtTest tests[] = {
    MRT_TEST(test_synthetic_pc_maps_as_qemu),
    MRT_TEST(test_rewritten_cmos_leaves_the_split_out),
    MRT_TEST(test_a_cmos_of_another_size_leaves_the_split_out),
    MRT_TEST(test_unknown_machines_and_versions_map_nothing),
    MRT_TEST(test_no_vmdesc_maps_nothing),
    MRT_TEST(test_unknown_pci_blocks_go_to_missing),
    MRT_TEST(test_unstored_ram_is_missing),
    MRT_TEST(test_synic_page_overlays_ram),
    MRT_TEST(test_isa_vga_makes_the_legacy_window_missing),
    MRT_TEST(test_physmem_holes_and_size),
    MRT_END
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = { { "guest map", tests }, { NULL, NULL } };

    return mrt_main(argc, argv, suites);
}
