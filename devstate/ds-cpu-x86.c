/* An x86 "cpu" section (vmstate_x86_cpu, target/i386/machine.c) as the
 * registers QEMU's dump notes read (ds-cpustate.h). */
#include <string.h>

#include "ds-cpufield.h"
#include "ds-cpustate.h"
#include "mr-error.h"

#define DESC_DPL_SHIFT 13
#define DESC_DPL_MASK (3u << DESC_DPL_SHIFT)
#define CR0_PE 1u

static gboolean
segment(const DsCpuSection *cs, const char *name, guint index, guint tl,
        DsX86Segment *out, GError **err)
{
    guint64 sel, base, limit, flags;

    if (!ds_cpu_uint(cs, cs->device, name, index, "selector", 4, &sel, err) ||
        !ds_cpu_uint(cs, cs->device, name, index, "base", tl, &base, err) ||
        !ds_cpu_uint(cs, cs->device, name, index, "limit", 4, &limit, err) ||
        !ds_cpu_uint(cs, cs->device, name, index, "flags", 4, &flags, err))
        return FALSE;
    *out = (DsX86Segment){ .selector = (guint32)sel, .base = base,
                           .limit = (guint32)limit, .flags = (guint32)flags };
    return TRUE;
}

static gboolean
read_fields(const DsCpuSection *cs, DsCpuX86 *out, GError **err)
{
    json_object *top = cs->device;
    guint nregs = ds_cpu_count(top, "env.regs");
    guint tl, v;
    guint64 x;
    static const char *const crs[] = { "env.cr[0]", NULL, "env.cr[2]",
                                       "env.cr[3]", "env.cr[4]" };

    /* target_ulong is 8 bytes with 16 GPRs (x86_64), 4 with 8 (i386). */
    if (nregs == 16) {
        tl = 8;
        out->x86_64 = TRUE;
    } else if (nregs == 8) {
        tl = 4;
    } else {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, cs->file->path,
                     cs->section->offset, "device section \"cpu\" instance "
                     "%u: field \"env.regs\" has %u elements, expected 16 "
                     "(x86_64) or 8 (i386)", cs->section->instance_id, nregs);
        return FALSE;
    }
    for (v = 0; v < nregs; v++) {
        if (!ds_cpu_uint(cs, top, "env.regs", v, NULL, tl, &out->regs[v], err))
            return FALSE;
    }
    if (!ds_cpu_uint(cs, top, "env.eip", 0, NULL, tl, &out->eip, err) ||
        !ds_cpu_uint(cs, top, "env.eflags", 0, NULL, tl, &out->eflags, err) ||
        !ds_cpu_uint(cs, top, "env.hflags", 0, NULL, 4, &x, err))
        return FALSE;
    out->hflags = (guint32)x;
    for (v = 0; v < 6; v++) {
        if (!segment(cs, "env.segs", v, tl, &out->segs[v], err))
            return FALSE;
    }
    if (!segment(cs, "env.ldt", 0, tl, &out->ldt, err) ||
        !segment(cs, "env.tr", 0, tl, &out->tr, err) ||
        !segment(cs, "env.gdt", 0, tl, &out->gdt, err) ||
        !segment(cs, "env.idt", 0, tl, &out->idt, err))
        return FALSE;
    for (v = 0; v < 5; v++) {
        if (crs[v] && !ds_cpu_uint(cs, top, crs[v], 0, NULL, tl, &out->cr[v],
                                   err))
            return FALSE;
    }
    /* Only x86_64 has (and dumps) the swapgs base. */
    if (out->x86_64 &&
        !ds_cpu_uint(cs, top, "env.kernelgsbase", 0, NULL, 8,
                     &out->kernelgsbase, err))
        return FALSE;
    return TRUE;
}

/* cpu_post_load: a real-mode guest's segment DPLs are forced to 0 (older
 * KVM set them wrongly).  cpu_pre_save does the same, so a QEMU-written
 * file already has them clear; done again for a file that does not. */
static void
post_load(DsCpuX86 *c)
{
    static const int order[] = { DS_X86_CS, DS_X86_DS, DS_X86_ES,
                                 DS_X86_FS, DS_X86_GS, DS_X86_SS };

    if (c->cr[0] & CR0_PE ||
        ((c->segs[DS_X86_CS].flags >> DESC_DPL_SHIFT) & 3) == 0)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(order); i++)
        c->segs[order[i]].flags &= ~DESC_DPL_MASK;
}

gboolean
ds_cpu_x86_read(MrFile *f, MrSection *s, DsCpuX86 *out, GError **err)
{
    DsCpuSection cs;
    gboolean ok;

    memset(out, 0, sizeof(*out));
    if (!ds_cpu_section_open(&cs, f, s, err))
        return FALSE;
    ok = read_fields(&cs, out, err);
    ds_cpu_section_close(&cs);
    if (ok)
        post_load(out);
    return ok;
}
