/* The guest's VMCOREINFO note in a dump (ds_vmcore_guest_note).
 *
 * With -device vmcoreinfo a guest (Linux) writes where its VMCOREINFO ELF
 * note is through fw_cfg; the device section "vmcoreinfo" keeps that
 * (hw/misc/vmcoreinfo.c).  dump_init() reads the note from guest memory
 * and appends it when it is well formed, and otherwise only warns; the
 * same checks are made here, in the same order.
 */
#include <string.h>

#include "ds-cpufield.h"
#include "ds-decode.h"
#include "ds-vmcore.h"
#include "mr-error.h"
#include "mr-read.h"

#define MAX_GUEST_NOTE_SIZE (1u << 20)
#define FW_CFG_VMCOREINFO_FORMAT_ELF 1
#define NOTE_HEAD_SIZE 12 /* Elf32_Nhdr and Elf64_Nhdr alike */

static guint64
round4(guint64 v)
{
    return (v + 3) / 4 * 4;
}

/* size bytes of guest-physical memory at gpa, all of it in mapped ranges. */
static gboolean
read_guest(MrFile *f, const DsGuestMap *m, guint64 gpa, guint8 *buf,
           guint64 size, GError **err)
{
    guint64 done = 0;

    while (done < size) {
        guint64 at = gpa + done;
        const DsGuestRange *r = NULL;

        for (guint i = 0; i < m->ranges->len; i++) {
            const DsGuestRange *c = &g_array_index(m->ranges, DsGuestRange, i);
            if (at >= c->gpa && at - c->gpa < c->length) {
                r = c;
                break;
            }
        }
        if (r == NULL || !r->block->stored) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, MR_NO_OFFSET,
                         "the guest's VMCOREINFO note at guest-physical "
                         "0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                         "x reaches 0x%" G_GINT64_MODIFIER "x, which is not "
                         "RAM the snapshot holds, so QEMU's dump notes cannot "
                         "be reproduced", gpa, size, at);
            return FALSE;
        }
        guint64 n = MIN(size - done, r->length - (at - r->gpa));
        if (!mr_block_read(f, r->block, buf + done,
                           r->block_offset + (at - r->gpa), n, err))
            return FALSE;
        done += n;
    }
    return TRUE;
}

static guint32
get32(const DsElfKind *k, const guint8 *p)
{
    guint32 v;

    memcpy(&v, p, 4);
    return k->big_endian ? GUINT32_FROM_BE(v) : GUINT32_FROM_LE(v);
}

gboolean
ds_vmcore_guest_note(MrFile *f, const DsGuestMap *m, const DsElfKind *k,
                     GBytes **note, GError **err)
{
    MrSection *s = ds_find_section(f, "vmcoreinfo", -1);
    DsCpuSection cs;
    guint64 has, format, size, paddr, namesz, descsz, notesz;
    g_autofree guint8 *buf = NULL;
    gboolean ok;

    *note = NULL;
    if (s == NULL)
        return TRUE;
    if (!ds_cpu_section_open(&cs, f, s, err))
        return FALSE;
    ok = ds_cpu_uint(&cs, cs.device, "has_vmcoreinfo", 0, NULL, 1, &has, err) &&
         ds_cpu_uint(&cs, cs.device, "vmcoreinfo.guest_format", 0, NULL, 2,
                     &format, err) &&
         ds_cpu_uint(&cs, cs.device, "vmcoreinfo.size", 0, NULL, 4, &size, err) &&
         ds_cpu_uint(&cs, cs.device, "vmcoreinfo.paddr", 0, NULL, 8, &paddr,
                     err);
    ds_cpu_section_close(&cs);
    if (!ok)
        return FALSE;
    /* The fields hold FWCfgVMCoreInfo's little-endian words as the (little-
     * endian) host had them in memory: their values. */
    if (!has || size < NOTE_HEAD_SIZE || size > MAX_GUEST_NOTE_SIZE ||
        format != FW_CFG_VMCOREINFO_FORMAT_ELF)
        return TRUE;
    /* One spare byte, as QEMU's buffer has, for the NUL below. */
    buf = g_malloc0(size + 1);
    if (!read_guest(f, m, paddr, buf, size, err))
        return FALSE;
    namesz = get32(k, buf);
    descsz = get32(k, buf + 4);
    notesz = NOTE_HEAD_SIZE + round4(namesz) + round4(descsz);
    if (namesz > MAX_GUEST_NOTE_SIZE || descsz > MAX_GUEST_NOTE_SIZE ||
        notesz > size)
        return TRUE;
    /* vmcoreinfo_update_phys_base() ends the text with a NUL in place,
     * which lands in the descriptor's padding when it has some. */
    if (namesz == sizeof("VMCOREINFO") &&
        memcmp(buf + NOTE_HEAD_SIZE, "VMCOREINFO", sizeof("VMCOREINFO")) == 0)
        buf[NOTE_HEAD_SIZE + round4(namesz) + descsz] = '\0';
    *note = g_bytes_new(buf, notesz);
    return TRUE;
}
