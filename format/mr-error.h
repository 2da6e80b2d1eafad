/* Errors of the format layer.
 *
 * Every failure is a GError in the MR_ERROR domain whose message names the
 * snapshot file, the file offset and what was expected there, in the style of
 * QEMU's migration errors.  The FUSE layer maps the codes to errno in one
 * place; nothing in format/ knows about errno beyond MR_ERROR_IO and
 * MR_ERROR_NOSPACE.
 */
#ifndef MR_ERROR_H
#define MR_ERROR_H

#include <glib.h>

#define MR_ERROR (mr_error_quark())

typedef enum {
    MR_ERROR_IO,          /* the operating system failed a read or write */
    MR_ERROR_TRUNCATED,   /* the file ends where more bytes were expected */
    MR_ERROR_INVALID,     /* bytes that break an invariant of FORMAT.md §11 */
    MR_ERROR_UNSUPPORTED, /* valid for QEMU perhaps, but not something we decode */
    MR_ERROR_RANGE,       /* a request outside a block or a writable range */
    MR_ERROR_READONLY,    /* a write to a file opened read-only */
    MR_ERROR_NOSPACE,     /* a write found the file system full (or the
                           * quota used up): nothing else is wrong */
} MrErrorCode;

GQuark mr_error_quark(void);

/* "PATH: offset 0xOFF: MESSAGE".  offset may be MR_NO_OFFSET. */
#define MR_NO_OFFSET G_MAXUINT64
void mr_set_error(GError **err, MrErrorCode code, const char *path,
                  guint64 offset, const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Same text for warnings, which do not stop a reader. */
char *mr_format_message(const char *path, guint64 offset, const char *fmt,
                        va_list ap) G_GNUC_PRINTF(3, 0);

#endif
