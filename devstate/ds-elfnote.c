/* QEMU's dump notes for x86 and 32-bit PowerPC CPUs (ds-elfnote.h).
 *
 * The descriptor layouts are those of target/i386/arch_dump.c and
 * target/ppc/arch_dump.c in QEMU 10.0 (the Linux elf_prstatus of each
 * target, QEMU's own QEMUCPUState), written here field by field at their
 * offsets; every byte not named is zero, as QEMU's zeroed buffers leave it.
 */
#include <string.h>

#include "ds-elfnote.h"

#define NT_PRSTATUS 1
#define NT_PRFPREG 2
#define NT_PPC_VMX 0x100
#define NT_PPC_SPE 0x101
#define NT_PPC_VSX 0x102

void
ds_elf_put16(const DsElfKind *k, guint8 *p, guint16 v)
{
    v = k->big_endian ? GUINT16_TO_BE(v) : GUINT16_TO_LE(v);
    memcpy(p, &v, 2);
}

void
ds_elf_put32(const DsElfKind *k, guint8 *p, guint32 v)
{
    v = k->big_endian ? GUINT32_TO_BE(v) : GUINT32_TO_LE(v);
    memcpy(p, &v, 4);
}

void
ds_elf_put64(const DsElfKind *k, guint8 *p, guint64 v)
{
    v = k->big_endian ? GUINT64_TO_BE(v) : GUINT64_TO_LE(v);
    memcpy(p, &v, 8);
}

DsElfKind
ds_elf_kind(const DsCpu *cpus, guint n, guint64 highest_end)
{
    DsElfKind k = { 0 };

    if (n > 0 && cpus[0].arch == DS_CPU_PPC32) {
        /* ppc_interrupts_little_endian(): MSR[ILE] on these cores. */
        k.machine = DS_EM_PPC;
        k.big_endian = !(cpus[0].ppc.msr & DS_PPC_MSR_ILE);
        return k;
    }
    /* cpu_get_dump_info() looks at the first CPU only. */
    if (n > 0 && cpus[0].x86.x86_64 && (cpus[0].x86.hflags & DS_X86_HF_LMA)) {
        k.machine = DS_EM_X86_64;
        k.is64 = TRUE;
    } else {
        k.machine = DS_EM_386;
        k.is64 = highest_end > G_MAXUINT32;
    }
    return k;
}

void
ds_elf_note_append(GByteArray *out, const DsElfKind *k, const char *name,
                   guint32 type, const guint8 *desc, gsize descsz)
{
    guint32 namesz = (guint32)strlen(name) + 1;
    guint8 hdr[12];
    static const guint8 zeros[4];

    ds_elf_put32(k, hdr, namesz);
    ds_elf_put32(k, hdr + 4, (guint32)descsz);
    ds_elf_put32(k, hdr + 8, type);
    g_byte_array_append(out, hdr, sizeof(hdr));
    g_byte_array_append(out, (const guint8 *)name, namesz);
    g_byte_array_append(out, zeros, (4 - namesz % 4) % 4);
    g_byte_array_append(out, desc, (guint)descsz);
    g_byte_array_append(out, zeros, (4 - descsz % 4) % 4);
}

/* ---- x86 ---------------------------------------------------------------- */

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };

#define X86_PRSTATUS_SIZE 144    /* i386 elf_prstatus */
#define X86_64_PRSTATUS_SIZE 336 /* x86_64 elf_prstatus */
#define QEMU_CPUSTATE_SIZE 440   /* QEMUCPUState, version 1, 10.0 */

static void
x86_prstatus(const DsElfKind *k, const DsCpu *c, guint8 *d)
{
    const DsCpuX86 *x = &c->x86;
    guint8 *r = d + 72; /* pr_reg */

    ds_elf_put32(k, d + 24, c->index + 1); /* pr_pid */
    ds_elf_put32(k, r + 0, (guint32)x->regs[R_EBX]);
    ds_elf_put32(k, r + 4, (guint32)x->regs[R_ECX]);
    ds_elf_put32(k, r + 8, (guint32)x->regs[R_EDX]);
    ds_elf_put32(k, r + 12, (guint32)x->regs[R_ESI]);
    ds_elf_put32(k, r + 16, (guint32)x->regs[R_EDI]);
    ds_elf_put32(k, r + 20, (guint32)x->regs[R_EBP]);
    ds_elf_put32(k, r + 24, (guint32)x->regs[R_EAX]);
    ds_elf_put16(k, r + 28, (guint16)x->segs[DS_X86_DS].selector);
    ds_elf_put16(k, r + 32, (guint16)x->segs[DS_X86_ES].selector);
    ds_elf_put16(k, r + 36, (guint16)x->segs[DS_X86_FS].selector);
    ds_elf_put16(k, r + 40, (guint16)x->segs[DS_X86_GS].selector);
    /* orig_eax at r + 44 stays 0 */
    ds_elf_put32(k, r + 48, (guint32)x->eip);
    ds_elf_put16(k, r + 52, (guint16)x->segs[DS_X86_CS].selector);
    ds_elf_put32(k, r + 56, (guint32)x->eflags);
    ds_elf_put32(k, r + 60, (guint32)x->regs[R_ESP]);
    ds_elf_put16(k, r + 64, (guint16)x->segs[DS_X86_SS].selector);
}

static void
x86_64_prstatus(const DsElfKind *k, const DsCpu *c, guint8 *d)
{
    const DsCpuX86 *x = &c->x86;
    const guint64 v[27] = {
        x->regs[15], x->regs[14], x->regs[13], x->regs[12], x->regs[R_EBP],
        x->regs[R_EBX], x->regs[11], x->regs[10], x->regs[9], x->regs[8],
        x->regs[R_EAX], x->regs[R_ECX], x->regs[R_EDX], x->regs[R_ESI],
        x->regs[R_EDI], 0 /* orig_rax */, x->eip,
        x->segs[DS_X86_CS].selector, x->eflags, x->regs[R_ESP],
        x->segs[DS_X86_SS].selector, x->segs[DS_X86_FS].base,
        x->segs[DS_X86_GS].base, x->segs[DS_X86_DS].selector,
        x->segs[DS_X86_ES].selector, x->segs[DS_X86_FS].selector,
        x->segs[DS_X86_GS].selector,
    };

    ds_elf_put32(k, d + 32, c->index + 1); /* pr_pid */
    for (guint i = 0; i < G_N_ELEMENTS(v); i++)
        ds_elf_put64(k, d + 112 + 8 * i, v[i]);
}

static void
put_segment(const DsElfKind *k, guint8 *p, const DsX86Segment *s)
{
    ds_elf_put32(k, p, s->selector);
    ds_elf_put32(k, p + 4, s->limit);
    ds_elf_put32(k, p + 8, s->flags);
    ds_elf_put64(k, p + 16, s->base);
}

static void
x86_qemu_cpustate(const DsElfKind *k, const DsCpuX86 *x, guint8 *d)
{
    static const int rorder[8] = { R_EAX, R_EBX, R_ECX, R_EDX,
                                   R_ESI, R_EDI, R_ESP, R_EBP };
    static const int sorder[6] = { DS_X86_CS, DS_X86_DS, DS_X86_ES,
                                   DS_X86_FS, DS_X86_GS, DS_X86_SS };
    const DsX86Segment *tables[4] = { &x->ldt, &x->tr, &x->gdt, &x->idt };
    guint8 *p = d + 8;

    ds_elf_put32(k, d, 1); /* version */
    ds_elf_put32(k, d + 4, QEMU_CPUSTATE_SIZE);
    for (guint i = 0; i < 8; i++, p += 8)
        ds_elf_put64(k, p, x->regs[rorder[i]]);
    for (guint i = 8; i < 16; i++, p += 8)
        ds_elf_put64(k, p, x->x86_64 ? x->regs[i] : 0);
    ds_elf_put64(k, p, x->eip);
    ds_elf_put64(k, p + 8, x->eflags);
    p += 16;
    for (guint i = 0; i < 6; i++, p += 24)
        put_segment(k, p, &x->segs[sorder[i]]);
    for (guint i = 0; i < 4; i++, p += 24)
        put_segment(k, p, tables[i]);
    for (guint i = 0; i < 5; i++, p += 8)
        ds_elf_put64(k, p, x->cr[i]);
    ds_elf_put64(k, p, x->kernelgsbase);
}

static void
x86_notes(GByteArray *out, const DsElfKind *k, const DsCpu *cpus, guint n)
{
    /* The 64-bit prstatus only when the first CPU is in long mode. */
    gboolean lma = k->machine == DS_EM_X86_64;
    gsize psize = lma ? X86_64_PRSTATUS_SIZE : X86_PRSTATUS_SIZE;
    guint8 d[QEMU_CPUSTATE_SIZE];

    for (guint i = 0; i < n; i++) {
        memset(d, 0, sizeof(d));
        if (lma)
            x86_64_prstatus(k, &cpus[i], d);
        else
            x86_prstatus(k, &cpus[i], d);
        ds_elf_note_append(out, k, "CORE", NT_PRSTATUS, d, psize);
    }
    for (guint i = 0; i < n; i++) {
        memset(d, 0, sizeof(d));
        x86_qemu_cpustate(k, &cpus[i].x86, d);
        ds_elf_note_append(out, k, "QEMU", 0, d, QEMU_CPUSTATE_SIZE);
    }
}

/* ---- PowerPC (32-bit) --------------------------------------------------- */

#define PPC_PRSTATUS_SIZE 328
#define PPC_FPREGSET_SIZE 260
#define PPC_VMXREGSET_SIZE 544
#define PPC_VSXREGSET_SIZE 256
#define PPC_SPEREGSET_SIZE 140

static void
ppc_notes(GByteArray *out, const DsElfKind *k, const DsCpu *cpus, guint n)
{
    guint8 d[PPC_VMXREGSET_SIZE];

    for (guint c = 0; c < n; c++) {
        const DsCpuPpc32 *p = &cpus[c].ppc;
        guint8 *r = d + 112; /* pr_reg: gpr[32], nip, msr, orig_gpr3, ctr,
                              * link, xer, ccr, softe, trap, dar, dsisr,
                              * result */

        memset(d, 0, sizeof(d));
        ds_elf_put32(k, d + 32, cpus[c].index + 1); /* pr_pid */
        for (guint i = 0; i < 32; i++)
            ds_elf_put32(k, r + 4 * i, p->gpr[i]);
        ds_elf_put32(k, r + 128, p->nip);
        ds_elf_put32(k, r + 132, p->msr);
        ds_elf_put32(k, r + 140, p->ctr);
        ds_elf_put32(k, r + 144, p->lr);
        ds_elf_put32(k, r + 148, p->xer);
        ds_elf_put32(k, r + 152, p->cr);
        ds_elf_note_append(out, k, "CORE", NT_PRSTATUS, d, PPC_PRSTATUS_SIZE);

        memset(d, 0, sizeof(d));
        for (guint i = 0; i < 32; i++)
            ds_elf_put64(k, d + 8 * i, p->fpr[i]);
        ds_elf_put32(k, d + 256, p->fpscr);
        ds_elf_note_append(out, k, "CORE", NT_PRFPREG, d, PPC_FPREGSET_SIZE);

        /* Each vector register whole in the dump's byte order; VSCR in the
         * last word of its 16 bytes; VRSAVE left zero, as QEMU does. */
        memset(d, 0, sizeof(d));
        for (guint i = 0; i < 32; i++) {
            for (guint b = 0; b < 16; b++)
                d[16 * i + b] = p->avr[i][k->big_endian ? b : 15 - b];
        }
        ds_elf_put32(k, d + 512 + 12, p->vscr);
        ds_elf_note_append(out, k, "CORE", NT_PPC_VMX, d, PPC_VMXREGSET_SIZE);

        memset(d, 0, sizeof(d));
        for (guint i = 0; i < 32; i++)
            ds_elf_put64(k, d + 8 * i, p->vsrl[i]);
        ds_elf_note_append(out, k, "CORE", NT_PPC_VSX, d, PPC_VSXREGSET_SIZE);

        /* evr[32] is never filled in by QEMU. */
        memset(d, 0, sizeof(d));
        ds_elf_put64(k, d + 128, p->spe_acc);
        ds_elf_put32(k, d + 136, p->spe_fscr);
        ds_elf_note_append(out, k, "CORE", NT_PPC_SPE, d, PPC_SPEREGSET_SIZE);
    }
}

GByteArray *
ds_elf_cpu_notes(const DsElfKind *k, const DsCpu *cpus, guint n)
{
    GByteArray *out = g_byte_array_new();

    if (n == 0)
        return out;
    if (cpus[0].arch == DS_CPU_PPC32)
        ppc_notes(out, k, cpus, n);
    else
        x86_notes(out, k, cpus, n);
    return out;
}
