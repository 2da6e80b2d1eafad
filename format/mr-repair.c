/* The one repair of mramfs-check(8): bits past a block's last page
 * (docs/FORMAT.md R12) cleared, the file held alone (mr-report.h). */
#include <sys/stat.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mr-error.h"
#include "mr-report.h"

gboolean
mr_block_clear_stray_bits(MrFile *f, MrRamBlock *b, MrStrayBits *done,
                          GError **err)
{
    MrStrayBits s;

    memset(done, 0, sizeof(*done));
    if (!f->writable) {
        mr_set_error(err, MR_ERROR_READONLY, f->path, MR_NO_OFFSET,
                     "opened read-only: cannot clear stray bitmap bits");
        return FALSE;
    }
    /* Read again rather than trust an earlier look: the bytes written back
     * must carry the page bits the file has now. */
    if (!mr_block_stray_bits(f, b, &s, err))
        return FALSE;
    if (s.len == 0)
        return TRUE;
    for (guint k = 0; k < s.len;) {
        ssize_t r = pwrite(f->fd, s.new_bytes + k, s.len - k,
                           (off_t)(s.offset + k));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mr_set_error(err, MR_ERROR_IO, f->path, s.offset + k,
                         "ram block \"%s\": writing its bitmap: %s", b->idstr,
                         g_strerror(errno));
            return FALSE;
        }
        k += (guint)r;
    }
    if (fdatasync(f->fd) != 0) {
        mr_set_error(err, MR_ERROR_IO, f->path, MR_NO_OFFSET, "fdatasync: %s",
                     g_strerror(errno));
        return FALSE;
    }
    /* The model dropped these bits from its queries when it loaded the
     * bitmap; it must no longer write them back either. */
    if (b->bitmap)
        mr_bitmap_forget_tail_stray(b->bitmap);
    *done = s;
    return TRUE;
}

static void
operational(MrReport *r, GError *err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* The repair stops here: takes err (may be NULL), prefixed with why. */
static void
operational(MrReport *r, GError *err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *why = NULL;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* The path and block names come from the user and the file. */
    {
        char *escaped = mr_escape_text(why, -1);
        g_free(why);
        why = escaped;
    }
    if (err == NULL)
        err = g_error_new_literal(MR_ERROR, MR_ERROR_IO, why);
    else
        g_prefix_error(&err, "%s: ", why);
    if (r->operational == NULL)
        r->operational = err;
    else
        g_error_free(err);
}

static void
add_repair(MrReport *r, const MrRamBlock *b, const MrStrayBits *fix)
{
    MrRepair *rp = g_new0(MrRepair, 1);

    rp->block = b;
    rp->fixed = *fix;
    g_ptr_array_add(r->repairs, rp);
}

gboolean
mr_report_repair(MrReport *r, const MrOpenOptions *open)
{
    MrOpenOptions wopts = *open;
    g_autoptr(MrFile) fw = NULL;
    GError *err = NULL;

    /* Alone: no mount (mfs-session.c locks it too) may hold the bitmap in
     * memory while it is written. */
    if (!mr_file_lock(r->file, MR_LOCK_EXCLUSIVE, 0, &err)) {
        operational(r, err, "not repairing");
        return FALSE;
    }
    wopts.writable = TRUE;
    fw = mr_file_open(r->path, &wopts, &err);
    if (fw == NULL) {
        operational(r, err, "not repairing");
        return FALSE;
    }
    /* The lock is on the file checked: another one put at its path since
     * (a rename over it) may be a mount's, which holds its bitmap. */
    {
        struct stat checked, now;

        if (!mr_file_stat(r->file, &checked, &err) ||
            !mr_file_stat(fw, &now, &err)) {
            operational(r, err, "not repairing");
            return FALSE;
        }
        if (checked.st_dev != now.st_dev || checked.st_ino != now.st_ino) {
            operational(r, NULL, "%s: not repairing: another file was put at "
                        "this path during the check", r->path);
            return FALSE;
        }
    }
    for (guint i = 0; i < r->problems->len; i++) {
        MrProblem *p = g_ptr_array_index(r->problems, i);
        MrBlockReport *br;
        MrRamBlock *bw;
        MrStrayBits after;

        if (p->kind != MR_PROBLEM_STRAY_BITS)
            continue;
        br = &g_array_index(r->blocks, MrBlockReport, p->block);
        bw = mr_file_find_block(fw, br->block->idstr);
        if (bw == NULL) {
            operational(r, NULL, "%s: not repairing: ram block \"%s\" is gone: "
                        "the file changed during the check", r->path,
                        br->block->idstr);
            return FALSE;
        }
        if (!mr_block_clear_stray_bits(fw, bw, &br->fixed, &err)) {
            operational(r, err, "%s: repairing ram block \"%s\"", r->path,
                        br->block->idstr);
            return FALSE;
        }
        if (br->fixed.len)
            add_repair(r, br->block, &br->fixed);
        /* Repaired only once the file says so. */
        if (!mr_block_stray_bits(fw, bw, &after, &err)) {
            operational(r, err, "%s: ram block \"%s\" after the repair", r->path,
                        br->block->idstr);
            return FALSE;
        }
        if (after.count != 0) {
            br->fixed.len = 0;
            operational(r, NULL, "%s: ram block \"%s\": %" G_GINT64_MODIFIER
                        "u stray bits still set after the repair", r->path,
                        br->block->idstr, after.count);
            continue;
        }
        p->repaired = br->fixed.len != 0;
    }
    return r->operational == NULL;
}
