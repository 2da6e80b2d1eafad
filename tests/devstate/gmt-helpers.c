#include "gmt-helpers.h"

#include <string.h>

void
gmt_cmos_for(guint8 cmos[128], guint16 base, guint16 ext, guint16 high,
             guint32 above)
{
    memset(cmos, 0, 128);
    cmos[0x15] = base & 0xff, cmos[0x16] = base >> 8;
    cmos[0x17] = cmos[0x30] = ext & 0xff;
    cmos[0x18] = cmos[0x31] = ext >> 8;
    cmos[0x34] = high & 0xff, cmos[0x35] = high >> 8;
    cmos[0x5b] = above & 0xff, cmos[0x5c] = (above >> 8) & 0xff;
    cmos[0x5d] = (above >> 16) & 0xff;
}

void
gmt_check_range_at(DsGuestMap *m, guint i, guint64 gpa, guint64 len,
                   const MrRamBlock *b, guint64 off, DsRangeKind kind,
                   const char *file, int line)
{
    const DsGuestRange *r;

    if (i >= m->ranges->len) {
        mrt_check_at(FALSE, file, line, "range %u exists (there are %u)", i,
                     m->ranges->len);
        return;
    }
    r = RANGE(m, i);
    mrt_check_at(r->gpa == gpa && r->length == len && r->block == b &&
                 r->block_offset == off && r->kind == kind, file, line,
              "range %u: got 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
              "x %s+0x%" G_GINT64_MODIFIER "x, want 0x%" G_GINT64_MODIFIER
              "x+0x%" G_GINT64_MODIFIER "x %s+0x%" G_GINT64_MODIFIER "x", i,
              r->gpa, r->length, r->block->idstr, r->block_offset, gpa, len,
              b->idstr, off);
}

