/* A 32-bit PowerPC "cpu" section (vmstate_ppc_cpu, target/ppc/machine.c)
 * as the registers QEMU's dump notes read (ds-cpustate.h). */
#include <string.h>

#include "ds-cpufield.h"
#include "ds-cpustate.h"
#include "mr-error.h"

/* SPR numbers whose values post_load moves out of env.spr. */
#define SPR_XER 1
#define SPR_LR 8
#define SPR_CTR 9
#define N_SPRS 1024

/* XER bits that cpu_write_xer() keeps apart and cpu_read_xer() puts back
 * only on ISA 3.00 CPUs, which qemu-system-ppc has none of. */
#define XER_OV32 (1u << 19)
#define XER_CA32 (1u << 18)

static guint64
be64(const guint8 *p)
{
    guint64 v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A subsection is sent only when the CPU has the unit (the FPU, AltiVec,
 * VSX); without it the restored CPU keeps the zeros it was created with. */
static gboolean
read_units(const DsCpuSection *cs, DsCpuPpc32 *out, GError **err)
{
    json_object *fpu = ds_cpu_scope(cs, "cpu/fpu");
    json_object *vmx = ds_cpu_scope(cs, "cpu/altivec");
    json_object *vsx = ds_cpu_scope(cs, "cpu/vsx");
    guint8 b[16];
    guint64 x;

    for (guint i = 0; fpu && i < 32; i++) {
        if (!ds_cpu_bytes(cs, fpu, "env.vsr", i, NULL, 8, b, err))
            return FALSE;
        out->fpr[i] = be64(b);
    }
    if (fpu) {
        if (!ds_cpu_uint(cs, fpu, "env.fpscr", 0, NULL, 4, &x, err))
            return FALSE;
        /* QEMU 10.0 restores the word as saved (a plain uint32 field):
         * ppc_store_fpscr()'s recomputing of VX and FEX is not applied,
         * as the QEMU test with an inconsistent FPSCR shows. */
        out->fpscr = (guint32)x;
    }
    for (guint i = 0; vmx && i < 32; i++) {
        /* put_avr writes the register's two host doublewords in host
         * order, each big-endian: on the little-endian hosts QEMU runs on,
         * the low doubleword first (the QEMU test's distinct bytes show
         * it).  Swapped here into most significant byte first. */
        if (!ds_cpu_bytes(cs, vmx, "env.vsr", i, NULL, 16, b, err))
            return FALSE;
        memcpy(out->avr[i], b + 8, 8);
        memcpy(out->avr[i] + 8, b, 8);
    }
    if (vmx) {
        /* ppc_store_vscr then ppc_get_vscr give the saved word back. */
        if (!ds_cpu_bytes(cs, vmx, "vscr", 0, NULL, 4, b, err))
            return FALSE;
        out->vscr = (guint32)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    }
    for (guint i = 0; vsx && i < 32; i++) {
        if (!ds_cpu_bytes(cs, vsx, "env.vsr", i, NULL, 8, b, err))
            return FALSE;
        out->vsrl[i] = be64(b);
    }
    return TRUE;
}

static gboolean
read_fields(const DsCpuSection *cs, DsCpuPpc32 *out, GError **err)
{
    json_object *top = cs->device;
    guint64 x, xer, lr, ctr;

    for (guint i = 0; i < 32; i++) {
        if (!ds_cpu_uint(cs, top, "env.gpr", i, NULL, 4, &x, err))
            return FALSE;
        out->gpr[i] = (guint32)x;
    }
    for (guint i = 0; i < 8; i++) {
        if (!ds_cpu_uint(cs, top, "env.crf", i, NULL, 4, &x, err))
            return FALSE;
        out->cr |= (guint32)(x & 15) << (4 * (7 - i));
    }
    if (ds_cpu_count(top, "env.spr") != N_SPRS) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, cs->file->path,
                     cs->section->offset, "device section \"cpu\" instance "
                     "%u: field \"env.spr\" does not have %u elements",
                     cs->section->instance_id, N_SPRS);
        return FALSE;
    }
    if (!ds_cpu_uint(cs, top, "env.nip", 0, NULL, 4, &x, err))
        return FALSE;
    out->nip = (guint32)x;
    /* hreg_store_msr() masks with the model's msr_mask, which the stream
     * does not hold; the saved MSR went through the same mask when it was
     * set, so it is taken as it is. */
    if (!ds_cpu_uint(cs, top, "env.msr", 0, NULL, 4, &x, err))
        return FALSE;
    out->msr = (guint32)x;
    if (!ds_cpu_uint(cs, top, "env.spr", SPR_XER, NULL, 4, &xer, err) ||
        !ds_cpu_uint(cs, top, "env.spr", SPR_LR, NULL, 4, &lr, err) ||
        !ds_cpu_uint(cs, top, "env.spr", SPR_CTR, NULL, 4, &ctr, err) ||
        !ds_cpu_uint(cs, top, "env.spe_acc", 0, NULL, 8, &out->spe_acc, err))
        return FALSE;
    out->xer = (guint32)xer & ~(XER_OV32 | XER_CA32);
    out->lr = (guint32)lr;
    out->ctr = (guint32)ctr;
    /* SPEFSCR is not migrated: the restored CPU has 0 unless a later QEMU
     * starts sending it, which this code would then have to learn. */
    if (ds_cpu_count(top, "env.spe_fscr") != 0) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, cs->file->path,
                     cs->section->offset, "device section \"cpu\" instance "
                     "%u: field \"env.spe_fscr\" is not known to this code",
                     cs->section->instance_id);
        return FALSE;
    }
    return read_units(cs, out, err);
}

gboolean
ds_cpu_ppc32_read(MrFile *f, MrSection *s, DsCpuPpc32 *out, GError **err)
{
    DsCpuSection cs;
    gboolean ok;

    memset(out, 0, sizeof(*out));
    if (!ds_cpu_section_open(&cs, f, s, err))
        return FALSE;
    ok = read_fields(&cs, out, err);
    ds_cpu_section_close(&cs);
    return ok;
}
