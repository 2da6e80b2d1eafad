/* Shared pieces of the guest-map unit tests (test-gmrules.c,
 * test-guestmap.c). */
#ifndef GMT_HELPERS_H
#define GMT_HELPERS_H

#include "ds-gm.h"
#include "dst-helpers.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

/* The CMOS bytes hw/i386/pc.c pc_cmos_init writes, typed from it. */
void gmt_cmos_for(guint8 cmos[128], guint16 base, guint16 ext, guint16 high,
                  guint32 above);

#define RANGE(m, i) (&g_array_index((m)->ranges, DsGuestRange, (i)))
/* Range i of m is [gpa, gpa+len) of block b at off, of that kind. */
void gmt_check_range_at(DsGuestMap *m, guint i, guint64 gpa, guint64 len,
                        const MrRamBlock *b, guint64 off, DsRangeKind kind,
                        const char *file, int line);
#define check_range(m, i, gpa, len, b, off, kind)                            \
    gmt_check_range_at((m), (i), (gpa), (len), (b), (off), (kind), __FILE__, \
                       __LINE__)

#endif
