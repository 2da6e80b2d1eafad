#include "mr-update.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mr-error.h"
#include "mr-parse.h"

typedef struct {
    MrRamBlock *block;
    guint64 word;
} DirtyWord;

struct MrUpdater {
    MrFile *f;
    gboolean sync;
    guint8 *zeros;        /* one page */
    GMutex *block_locks;  /* one per block: absent -> present transitions */
    GMutex bitmap_lock;   /* serialises bitmap word write-back */

    /* Group commit (see mr-update.h). */
    GMutex commit_lock;
    GCond commit_done;
    GArray *pending;      /* DirtyWord, not yet in a commit */
    guint64 requested;    /* commit generation each waiter needs */
    guint64 completed;
    gboolean committing;
    gboolean failed;      /* a commit failed: the file is suspect */
    char *fail_message;
    guint64 *block_added;   /* per block: pages made present */
    guint64 *block_punched; /* per block: present pages punched */
};

MrUpdater *
mr_updater_new(MrFile *f, gboolean sync)
{
    MrUpdater *u = g_new0(MrUpdater, 1);

    g_return_val_if_fail(f->writable, NULL);
    u->f = f;
    u->sync = sync;
    u->zeros = g_malloc0(MAX(f->page_size, 1));
    u->block_locks = g_new0(GMutex, MAX(f->blocks->len, 1));
    u->block_added = g_new0(guint64, MAX(f->blocks->len, 1));
    u->block_punched = g_new0(guint64, MAX(f->blocks->len, 1));
    for (guint i = 0; i < f->blocks->len; i++)
        g_mutex_init(&u->block_locks[i]);
    g_mutex_init(&u->bitmap_lock);
    g_mutex_init(&u->commit_lock);
    g_cond_init(&u->commit_done);
    u->pending = g_array_new(FALSE, FALSE, sizeof(DirtyWord));
    return u;
}

void
mr_updater_free(MrUpdater *u)
{
    if (u == NULL)
        return;
    for (guint i = 0; i < u->f->blocks->len; i++)
        g_mutex_clear(&u->block_locks[i]);
    g_free(u->block_locks);
    g_free(u->block_added);
    g_free(u->block_punched);
    g_mutex_clear(&u->bitmap_lock);
    g_mutex_clear(&u->commit_lock);
    g_cond_clear(&u->commit_done);
    g_array_unref(u->pending);
    g_free(u->fail_message);
    g_free(u->zeros);
    g_free(u);
}

void
mr_updater_block_counts(const MrUpdater *u, const MrRamBlock *b,
                        guint64 *made_present, guint64 *punched)
{
    *made_present = __atomic_load_n(&u->block_added[b->index], __ATOMIC_RELAXED);
    *punched = __atomic_load_n(&u->block_punched[b->index], __ATOMIC_RELAXED);
}

static gboolean
io_error(MrUpdater *u, GError **err, guint64 at, const char *what, int e)
{
    /* A full file system is the writer's to know: it can make room. */
    mr_set_error(err, e == ENOSPC || e == EDQUOT ? MR_ERROR_NOSPACE : MR_ERROR_IO,
                 u->f->path, at, "%s: %s", what, g_strerror(e));
    return FALSE;
}

/* The file never changes size by our hand (docs/FORMAT.md §12): once it has
 * been seen shorter than at open, every write and commit fails
 * (mr_file_check_length()).  Checked before each write and each commit; a
 * truncation racing with the pwrite itself is not caught. */
static gboolean
check_length(MrUpdater *u, GError **err)
{
    return mr_file_check_length(u->f, MR_FILE_AS_OPENED, err);
}

static gboolean
datasync(MrUpdater *u, GError **err)
{
    if (fdatasync(u->f->fd) == 0)
        return TRUE;
    return io_error(u, err, MR_NO_OFFSET, "fdatasync", errno);
}

static gboolean
pwritev_all(MrUpdater *u, struct iovec *iov, int n, guint64 at, GError **err)
{
    while (n > 0) {
        ssize_t r = pwritev(u->f->fd, iov, n, (off_t)at);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return io_error(u, err, at, "writing page data", errno);
        }
        at += (guint64)r;
        while (n > 0 && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (guint8 *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return TRUE;
}

/* One 64-page word of a bitmap as the file must hold it. */
typedef struct {
    MrRamBlock *block;
    guint64 at;      /* byte index in the block's bitmap */
    guint64 len;     /* 8, or less at the end of a 32-bit host's bitmap */
    guint8 bytes[8];
} WordImage;

static int
dirty_cmp(gconstpointer a, gconstpointer b)
{
    const DirtyWord *x = a, *y = b;

    if (x->block->index != y->block->index)
        return x->block->index < y->block->index ? -1 : 1;
    return x->word < y->word ? -1 : x->word > y->word;
}

static gboolean
write_word(MrUpdater *u, const WordImage *w, GError **err)
{
    gboolean ok = TRUE;

    g_mutex_lock(&u->bitmap_lock);
    for (guint64 done = 0; done < w->len;) {
        ssize_t r = pwrite(u->f->fd, w->bytes + done, w->len - done,
                           (off_t)(w->block->bitmap_offset + w->at + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ok = io_error(u, err, w->block->bitmap_offset + w->at, "writing bitmap", errno);
            break;
        }
        done += (guint64)r;
    }
    g_mutex_unlock(&u->bitmap_lock);
    return ok;
}

/* A commit writes each word of the batch once, as it was *before* its
 * flush: a bit is set in memory only after its page's data was written
 * (mr_block_write), so every bit in that image has its data flushed by
 * the fdatasync that follows.  Reading the words after the flush would
 * also carry bits that other writers set while it ran, whose data it may
 * not have made durable: a power loss after the word reached the disk
 * would make those pages present with their slots' stale bytes
 * (docs/CRASH-CONSISTENCY.md; tests/crash/regress/bitmap-word-race).
 * Those bits reach the file with the writers' own commits; commits run
 * one at a time, so a word's newer image never lands before an older. */
static gboolean
run_commit(MrUpdater *u, GArray *batch, gboolean durable, GError **err)
{
    g_autofree WordImage *img = g_new(WordImage, MAX(batch->len, 1));
    guint n = 0;

    g_array_sort(batch, dirty_cmp);
    for (guint i = 0; i < batch->len; i++) {
        DirtyWord *d = &g_array_index(batch, DirtyWord, i);
        WordImage *w = &img[n];

        if (n > 0 && img[n - 1].block == d->block &&
            img[n - 1].at == d->word * 8)
            continue;
        w->block = d->block;
        w->at = mr_bitmap_file_word(d->block->bitmap, u->f->bitmap_order,
                                    d->word * 64, w->bytes);
        /* A 32-bit host reserves 4-byte multiples: never write past them. */
        w->len = MIN((guint64)8, d->block->bitmap_size - w->at);
        n++;
    }
    /* The bits read above are ordered before the flush below. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!datasync(u, err) || !check_length(u, err))
        return FALSE;
    for (guint i = 0; i < n; i++)
        if (!write_word(u, &img[i], err))
            return FALSE;
    /* With no word written, the flush above made everything durable. */
    return !durable || n == 0 || datasync(u, err);
}

/* Adds words (may be NULL/empty) and waits until a commit that includes
 * them has completed; the first waiter runs the commit for everyone. */
static gboolean
commit(MrUpdater *u, const DirtyWord *words, guint n, gboolean durable,
       GError **err)
{
    guint64 mine;
    gboolean ok = TRUE;

    g_mutex_lock(&u->commit_lock);
    g_array_append_vals(u->pending, words, n);
    mine = ++u->requested;
    while (u->completed < mine && !u->failed) {
        if (u->committing) {
            g_cond_wait(&u->commit_done, &u->commit_lock);
            continue;
        }
        {
            GArray *batch = u->pending;
            guint64 target = u->requested;
            GError *cerr = NULL;

            u->pending = g_array_new(FALSE, FALSE, sizeof(DirtyWord));
            u->committing = TRUE;
            g_mutex_unlock(&u->commit_lock);
            /* Waiters that asked for durability get it from this commit
             * only if it was durable; a later one covers them otherwise. */
            ok = run_commit(u, batch, durable || u->sync, &cerr);
            g_array_unref(batch);
            g_mutex_lock(&u->commit_lock);
            u->committing = FALSE;
            if (ok) {
                u->completed = target;
            } else {
                u->failed = TRUE;
                u->fail_message = g_strdup(cerr->message);
                g_propagate_error(err, cerr);
            }
            g_cond_broadcast(&u->commit_done);
            if (!ok) {
                g_mutex_unlock(&u->commit_lock);
                return FALSE;
            }
        }
    }
    if (u->completed < mine) {
        mr_set_error(err, MR_ERROR_IO, u->f->path, MR_NO_OFFSET,
                     "an earlier bitmap commit failed (%s); refusing writes",
                     u->fail_message);
        ok = FALSE;
    }
    g_mutex_unlock(&u->commit_lock);
    return ok;
}

gboolean
mr_section_write(MrUpdater *u, const MrSection *s, guint64 offset,
                 const void *data, gsize len, GError **err)
{
    struct iovec iov = { (void *)data, len };

    if (offset < s->body_offset || offset - s->body_offset > s->body_size ||
        len > s->body_size - (offset - s->body_offset)) {
        mr_set_error(err, MR_ERROR_RANGE, u->f->path, offset,
                     "section \"%s\" (instance %u): %" G_GSIZE_FORMAT
                     " bytes here lie outside its body [0x%" G_GINT64_MODIFIER
                     "x, 0x%" G_GINT64_MODIFIER "x)", s->idstr, s->instance_id,
                     len, s->body_offset, s->body_offset + s->body_size);
        return FALSE;
    }
    /* A torn write would leave some of the new bytes and not others. */
    if (len > 0 && offset / MR_SECTOR_SIZE != (offset + len - 1) / MR_SECTOR_SIZE) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, u->f->path, offset,
                     "section \"%s\" (instance %u): the %" G_GSIZE_FORMAT
                     " bytes to change cross the %u-byte sector boundary at "
                     "0x%" G_GINT64_MODIFIER "x, so a power loss could leave "
                     "some changed and not others: refused, nothing written "
                     "(change them in parts that each lie within a sector)",
                     s->idstr, s->instance_id, len, MR_SECTOR_SIZE,
                     (offset / MR_SECTOR_SIZE + 1) * MR_SECTOR_SIZE);
        return FALSE;
    }
    return check_length(u, err) && pwritev_all(u, &iov, 1, offset, err) &&
           commit(u, NULL, 0, TRUE, err);
}

gboolean
mr_updater_sync(MrUpdater *u, GError **err)
{
    return commit(u, NULL, 0, TRUE, err);
}

static gboolean
is_zero(const guint8 *p, gsize n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Present pages made wholly zero, [first, first + count): punched with one
 * call per run, not per page (a fallocate of a large range through the
 * mount would otherwise make one call per 4 KiB). */
typedef struct {
    guint64 first, count;
} PunchRun;

static gboolean
punch_flush(MrUpdater *u, const MrRamBlock *b, PunchRun *r, GError **err)
{
    guint64 at = b->pages_offset + r->first * b->page_size;
    guint64 count = r->count;

    r->count = 0;
    if (count == 0 ||
        fallocate(u->f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)at, (off_t)(count * b->page_size)) == 0)
        return TRUE;
    if (errno != EOPNOTSUPP)
        return io_error(u, err, at, "punching zero pages", errno);
    /* The file system cannot punch: zeros written are just as exact. */
    for (guint64 i = 0; i < count; i++) {
        struct iovec iov = { u->zeros, b->page_size };
        if (!pwritev_all(u, &iov, 1, at + i * b->page_size, err))
            return FALSE;
    }
    return TRUE;
}

static gboolean
punch_add(MrUpdater *u, const MrRamBlock *b, PunchRun *r, guint64 page,
          GError **err)
{
    if (r->count && r->first + r->count == page) {
        r->count++;
        return TRUE;
    }
    if (!punch_flush(u, b, r, err))
        return FALSE;
    r->first = page;
    r->count = 1;
    return TRUE;
}

/* A run of pages written with one pwritev: [lo, hi) of the block plus zero
 * padding of the absent first/last page. */
typedef struct {
    struct iovec iov[3];
    int n;
    guint64 file_at;
} Run;

static void
run_add(Run *r, const MrRamBlock *b, guint64 at, const void *data, gsize len)
{
    if (r->n == 0)
        r->file_at = b->pages_offset + at;
    if (r->n > 0 && (guint8 *)r->iov[r->n - 1].iov_base + r->iov[r->n - 1].iov_len ==
                        (const guint8 *)data) {
        r->iov[r->n - 1].iov_len += len;
        return;
    }
    r->iov[r->n].iov_base = (void *)data;
    r->iov[r->n].iov_len = len;
    r->n++;
}

static gboolean
run_flush(MrUpdater *u, Run *r, GError **err)
{
    gboolean ok = r->n == 0 || pwritev_all(u, r->iov, r->n, r->file_at, err);

    r->n = 0;
    return ok;
}

/* The slow path: some page of the range is absent or a whole page is zero.
 * Runs under the block's lock so that two writers cannot both build an
 * absent page from zeros (the later would erase the earlier's bytes). */
static gboolean
write_locked(MrUpdater *u, MrRamBlock *b, const guint8 *buf, guint64 off,
             gsize len, GArray *newly, GError **err)
{
    const guint64 ps = b->page_size, end = off + len;
    Run run = { .n = 0 };
    PunchRun punch = { 0, 0 };

    for (guint64 p = off / ps; p * ps < end; p++) {
        guint64 lo = MAX(off, p * ps), hi = MIN(end, (p + 1) * ps);
        gboolean full = lo == p * ps && hi == (p + 1) * ps;
        gboolean present = mr_bitmap_test(b->bitmap, p);
        const guint8 *data = buf ? buf + (lo - off) : u->zeros;

        gboolean zeros = buf == NULL || is_zero(data, hi - lo);

        /* Zeros into an absent page change nothing it reads; a present
         * page made wholly zero is punched (mr-update.h). */
        if (zeros && (!present || full)) {
            if (!run_flush(u, &run, err))
                return FALSE;
            if (present && !punch_add(u, b, &punch, p, err))
                return FALSE;
            if (present)
                __atomic_add_fetch(&u->block_punched[b->index], 1,
                                   __ATOMIC_RELAXED);
            continue;
        }
        /* A run holds at most three pieces: this only breaks a run before
         * a page that needs a zero prefix, which only the first page can. */
        if (run.n == 3 && !run_flush(u, &run, err))
            return FALSE;
        if (!present && lo > p * ps)
            run_add(&run, b, p * ps, u->zeros, lo - p * ps);
        run_add(&run, b, lo, buf ? data : u->zeros, hi - lo);
        if (!present && hi < (p + 1) * ps) {
            run_add(&run, b, hi, u->zeros, (p + 1) * ps - hi);
        }
        if (!present)
            g_array_append_val(newly, p);
    }
    return run_flush(u, &run, err) && punch_flush(u, b, &punch, err);
}

gboolean
mr_block_write(MrUpdater *u, MrRamBlock *b, const void *buf, guint64 offset,
               gsize len, GError **err)
{
    g_autoptr(GArray) newly = NULL;
    g_autofree DirtyWord *words = NULL;
    guint64 first, last, nwords = 0;
    GMutex *lock;
    gboolean ok, all_present;

    if (!b->stored) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, u->f->path, b->header_offset,
                     "ram block \"%s\" has no data in this file "
                     "(x-ignore-shared): nothing to write to", b->idstr);
        return FALSE;
    }
    if (offset > b->used_length || len > b->used_length - offset) {
        mr_set_error(err, MR_ERROR_RANGE, u->f->path, MR_NO_OFFSET,
                     "ram block \"%s\": write of 0x%" G_GSIZE_MODIFIER "x "
                     "bytes at 0x%" G_GINT64_MODIFIER "x passes its end "
                     "(0x%" G_GINT64_MODIFIER "x)", b->idstr, len, offset,
                     b->used_length);
        return FALSE;
    }
    if (len == 0)
        return TRUE;
    if (!check_length(u, err))
        return FALSE;
    first = offset / b->page_size;
    last = (offset + len - 1) / b->page_size;
    all_present = mr_bitmap_count_range(b->bitmap, first, last + 1) == last - first + 1;
    /* That read the bitmap chunks of these pages: if one cannot be read,
     * nothing may be written from a guess at its bits. */
    if (!mr_block_bitmap_ok(b, err))
        return FALSE;
    /* The common case: every page present and no whole zero page. */
    if (buf && all_present) {
        gboolean zero_page = FALSE;
        for (guint64 p = first; p <= last && !zero_page; p++) {
            guint64 lo = MAX(offset, p * b->page_size);
            if (lo == p * b->page_size && offset + len >= (p + 1) * b->page_size)
                zero_page = is_zero((const guint8 *)buf + (lo - offset), b->page_size);
        }
        if (!zero_page) {
            struct iovec iov = { (void *)buf, len };
            if (!pwritev_all(u, &iov, 1, b->pages_offset + offset, err))
                return FALSE;
            return !u->sync || commit(u, NULL, 0, TRUE, err);
        }
    }
    newly = g_array_new(FALSE, FALSE, sizeof(guint64));
    lock = &u->block_locks[b->index];
    g_mutex_lock(lock);
    ok = write_locked(u, b, buf, offset, len, newly, err);
    /* Only after the data is in the file: readers through the mount now
     * read the new page, and the file gets the bit at the commit. */
    if (ok) {
        words = g_new(DirtyWord, newly->len);
        for (guint i = 0; i < newly->len; i++) {
            guint64 p = g_array_index(newly, guint64, i);
            mr_bitmap_set(b->bitmap, p);
            if (nwords == 0 || words[nwords - 1].word != p / 64)
                words[nwords++] = (DirtyWord){ b, p / 64 };
        }
    }
    g_mutex_unlock(lock);
    if (!ok)
        return FALSE;
    __atomic_add_fetch(&u->block_added[b->index], newly->len, __ATOMIC_RELAXED);
    if (nwords == 0)
        return !u->sync || commit(u, NULL, 0, TRUE, err);
    return commit(u, words, (guint)nwords, FALSE, err);
}
