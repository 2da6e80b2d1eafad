/* What mramfs-check(8) finds in a snapshot file, and the one repair it
 * makes, as a report that the command prints (text or JSON) and tests read.
 *
 * A run opens the file, validates it (mr_file_open(): every invariant of
 * docs/FORMAT.md §11), walks each RAM block's page area against its bitmap
 * (mr-check.h) and reads the bits past each block's last page (R12).  What
 * it finds is sorted into:
 *   - problems: what QEMU would not write or would refuse to load: a file
 *     that is not valid, bits past a block's last page, MULTIFD_FLUSH
 *     records; only the stray bits can be repaired (mr-repair.c);
 *   - warnings: the model's (mr_file_open()) and the lock of a read-write
 *     mount (the file may change while it is checked);
 *   - counts that are normal: stale slots (docs/FORMAT.md §9.9) and present
 *     pages whose slot is a hole (docs/CRASH-CONSISTENCY.md §3);
 *   - an operational error: the check or the repair could not be done (the
 *     file cannot be opened, read or locked), which says nothing of the
 *     file itself.
 */
#ifndef MR_REPORT_H
#define MR_REPORT_H

#include <json-c/json.h>

#include "mr-check.h"
#include "mr-file.h"

typedef enum {
    MR_PROBLEM_INVALID_FILE,  /* mr_file_open() refused it */
    MR_PROBLEM_STRAY_BITS,    /* bits past a block's last page (R12) */
    MR_PROBLEM_MULTIFD_FLUSH, /* QEMU refuses such a mapped-ram stream */
} MrProblemKind;

typedef struct {
    MrProblemKind kind;
    char *message;            /* "PATH: offset 0x..: ...", escaped */
    gint block;               /* index into MrReport.blocks, or -1 */
    gboolean repaired;
} MrProblem;

typedef struct {
    const MrRamBlock *block;  /* in MrReport.file */
    MrBlockCheck check;
    MrStrayBits stray;        /* what the check found */
    MrStrayBits fixed;        /* what the repair wrote; len 0 if nothing */
} MrBlockReport;

typedef struct {
    const MrRamBlock *block;  /* in MrReport.file */
    MrStrayBits fixed;
} MrRepair;

/* Called as the page areas are walked: bytes done of total, in the block
 * being walked. */
typedef void (*MrReportProgress)(guint64 done, guint64 total,
                                 const char *block, gpointer data);

typedef struct {
    MrOpenOptions open;
    gboolean repair;          /* clear stray bits (mr_report_repair()) */
    MrReportProgress progress;
    gpointer progress_data;
} MrReportOptions;

typedef struct {
    char *path;
    MrFile *file;             /* NULL when it did not open */
    gboolean valid;           /* it passed mr_file_open() */
    GError *operational;      /* why the check or the repair was not done */
    GPtrArray *warnings;      /* char*, escaped */
    GPtrArray *problems;      /* MrProblem* */
    GArray *blocks;           /* MrBlockReport, in file order */
    GPtrArray *repairs;       /* MrRepair* */
} MrReport;

/* Checks path, and repairs it with o->repair.  Never NULL. */
MrReport *mr_report_run(const char *path, const MrReportOptions *o);
void mr_report_free(MrReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrReport, mr_report_free)

/* mr-repair.c: clears the stray bits of every block the check found them
 * in, through a second, writable open that validates the file again (a
 * file that changed into an invalid one since the check is not touched),
 * holding the snapshot alone (no mount may hold the bitmap in memory
 * while it is written).  Marks the problems repaired once the file says
 * so; FALSE with r->operational when it could not be done. */
gboolean mr_report_repair(MrReport *r, const MrOpenOptions *open);

/* Problems found (repaired or not) and repaired. */
guint mr_report_problems(const MrReport *r);
guint mr_report_repaired(const MrReport *r);

/* "PATH: offset 0x..: ram block "..": cleared N stray bitmap bits: wrote
 * N bytes, OLD -> NEW", escaped. */
char *mr_repair_message(const MrReport *r, const MrRepair *rp);

/* The report as mramfs-check --json prints it (mramfs-check(8)), with the
 * command's exit status; ranges of stale slots with verbose. */
json_object *mr_report_json(const MrReport *r, int exit_status,
                            gboolean verbose);

#endif
