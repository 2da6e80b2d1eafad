/* PC rules on numbers alone (ds-gm-pc.h). */
#include "ds-gm-pc.h"

#include <string.h>

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

GmPcSplit
gm_pc_default_split(gboolean q35, guint64 ram_size)
{
    guint64 lowmem;
    GmPcSplit s;

    if (q35) {
        /* Up to 2.75 GiB all below 4 GiB; from there on 2 GiB below (the
         * mmconfig window starts at 0xb0000000). */
        lowmem = ram_size >= 0xb0000000ull ? 0x80000000ull : 0xb0000000ull;
    } else {
        /* max_ram_below_4g defaults to 3.5 GiB; a machine that must split
         * (gigabyte_align, every 9.0+ type) splits at 3 GiB. */
        lowmem = 0xe0000000ull;
        if (ram_size >= lowmem)
            lowmem = 0xc0000000ull;
    }
    if (ram_size >= lowmem) {
        s.below = lowmem;
        s.above = ram_size - lowmem;
    } else {
        s.below = ram_size;
        s.above = 0;
    }
    return s;
}

GmPcCmos
gm_pc_cmos_expect(const GmPcSplit *s)
{
    GmPcCmos c;
    guint64 v;

    c.base_kib = (guint16)MIN(s->below / KiB, 640);
    v = s->below > MiB ? (s->below - MiB) / KiB : 0;
    c.ext_kib = (guint16)MIN(v, 65535);
    c.ext2_kib = c.ext_kib;
    v = s->below > 16 * MiB ? (s->below - 16 * MiB) / (64 * KiB) : 0;
    c.high_64k = (guint16)MIN(v, 65535);
    /* Three bytes: larger values lose their top bits, as in QEMU. */
    c.above_64k = (guint32)((s->above / (64 * KiB)) & 0xffffff);
    return c;
}

GmPcCmos
gm_pc_cmos_read(const guint8 cmos[128])
{
    GmPcCmos c;

    c.base_kib = cmos[GM_CMOS_BASE_LO] | cmos[GM_CMOS_BASE_LO + 1] << 8;
    c.ext_kib = cmos[GM_CMOS_EXT_LO] | cmos[GM_CMOS_EXT_LO + 1] << 8;
    c.ext2_kib = cmos[GM_CMOS_EXT2_LO] | cmos[GM_CMOS_EXT2_LO + 1] << 8;
    c.high_64k = cmos[GM_CMOS_HIGH_LO] | cmos[GM_CMOS_HIGH_LO + 1] << 8;
    c.above_64k = cmos[GM_CMOS_ABOVE_LO] | cmos[GM_CMOS_ABOVE_LO + 1] << 8 |
                  (guint32)cmos[GM_CMOS_ABOVE_LO + 2] << 16;
    return c;
}

gboolean
gm_pc_cmos_equal(const GmPcCmos *a, const GmPcCmos *b)
{
    return a->base_kib == b->base_kib && a->ext_kib == b->ext_kib &&
           a->ext2_kib == b->ext2_kib &&
           a->high_64k == b->high_64k && a->above_64k == b->above_64k;
}

GmSplitSource
gm_pc_split(gboolean q35, guint64 ram_size, const guint8 cmos[128],
            GmPcSplit *out)
{
    GmPcSplit rule = gm_pc_default_split(q35, ram_size), alt;
    GmPcCmos got = gm_pc_cmos_read(cmos), want = gm_pc_cmos_expect(&rule);

    if (gm_pc_cmos_equal(&got, &want)) {
        *out = rule;
        return GM_SPLIT_DEFAULT;
    }
    /* Only a split above 16 MiB is recorded to 64 KiB. */
    if (got.high_64k == 0)
        return GM_SPLIT_UNKNOWN;
    alt.below = 16 * MiB + (guint64)got.high_64k * 64 * KiB;
    alt.above = (guint64)got.above_64k * 64 * KiB;
    if (alt.below > 4 * GiB || alt.below + alt.above != ram_size ||
        (alt.above > 0 && alt.below > ram_size))
        return GM_SPLIT_UNKNOWN;
    want = gm_pc_cmos_expect(&alt);
    if (!gm_pc_cmos_equal(&got, &want))
        return GM_SPLIT_UNKNOWN;
    *out = alt;
    return GM_SPLIT_CMOS;
}

void
gm_pam_region(guint idx, guint32 *start, guint32 *size, guint *reg,
              gboolean *high_nibble)
{
    if (idx == 0) {
        *start = 0xf0000;
        *size = 0x10000;
    } else {
        *start = 0xc0000 + (idx - 1) * 0x4000;
        *size = 0x4000;
    }
    /* hw/pci-host/i440fx.c: region i reads register PAM0 + DIV_ROUND_UP(i,
     * 2); hw/pci-host/pam.c pam_update: even i the high nibble. */
    *reg = (idx + 1) / 2;
    *high_nibble = !(idx & 1);
}

guint
gm_pam_mode(const guint8 pam_regs[7], guint idx)
{
    guint32 start, size;
    guint reg;
    gboolean high;

    gm_pam_region(idx, &start, &size, &reg, &high);
    return (pam_regs[reg] >> (high ? 4 : 0)) & 3;
}

static guint64
le64(const guint8 *p)
{
    guint64 v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

gboolean
gm_acpi_dsdt_qword_mins(const guint8 *blob, gsize len, gsize *at, GArray *mins)
{
    for (gsize i = 0; i + 36 <= len; i++) {
        guint32 tlen;

        if (memcmp(blob + i, "DSDT", 4) != 0)
            continue;
        tlen = blob[i + 4] | blob[i + 5] << 8 | blob[i + 6] << 16 |
               (guint32)blob[i + 7] << 24;
        if (tlen < 36 || tlen > len - i)
            continue;
        *at = i;
        for (gsize k = i + 36; k + 46 <= i + tlen; k++) {
            if (blob[k] == 0x8a && blob[k + 1] == 0x2b && blob[k + 2] == 0 &&
                blob[k + 3] == 0) {
                guint64 min = le64(blob + k + 14);
                g_array_append_val(mins, min);
            }
        }
        return TRUE;
    }
    return FALSE;
}
