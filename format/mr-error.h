/* Errors of the format and device-state layers, and the text of every
 * message they make.
 *
 * Every failure is a GError in the MR_ERROR domain whose message names the
 * snapshot file, the file offset and what was expected there, in the style of
 * QEMU's migration errors.  The FUSE layer maps the codes to errno in one
 * place (mfs_errno_from_error), the commands to exit statuses in one table
 * (tools/cli-common.c); nothing in format/ knows about errno beyond
 * MR_ERROR_IO and MR_ERROR_NOSPACE.
 *
 * Messages carry bytes of the snapshot (names from the vmdesc, a section's
 * idstr), which must never reach a terminal or a log raw: a name holding
 * ESC ] 0 ; ... BEL would retitle the user's terminal.  mr_format_message()
 * is the one place messages are made, and it writes every byte that is not
 * printable UTF-8 as \xNN (mr_escape_text()).
 */
#ifndef MR_ERROR_H
#define MR_ERROR_H

#include <glib.h>

#define MR_ERROR (mr_error_quark())

typedef enum {
    MR_ERROR_IO,          /* the operating system failed a read or write */
    MR_ERROR_TRUNCATED,   /* the file ends where more bytes were expected */
    MR_ERROR_INVALID,     /* bytes that break an invariant of docs/FORMAT.md §11 */
    MR_ERROR_UNSUPPORTED, /* valid for QEMU perhaps, but not something we decode */
    MR_ERROR_RANGE,       /* a request outside a block or a writable range */
    MR_ERROR_READONLY,    /* a write to a file opened read-only */
    MR_ERROR_NOSPACE,     /* a write found the file system full (or the
                           * quota used up): nothing else is wrong */
    MR_ERROR_REFUSED,     /* a document the user wrote is refused: it does
                           * not parse, or asks for what cannot be */
    MR_ERROR_BUSY,        /* another program holds the snapshot's lock (a
                           * mount, a repair) */
} MrErrorCode;

GQuark mr_error_quark(void);

/* "PATH: offset 0xOFF: MESSAGE".  offset may be MR_NO_OFFSET. */
#define MR_NO_OFFSET G_MAXUINT64
void mr_set_error(GError **err, MrErrorCode code, const char *path,
                  guint64 offset, const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Same text for warnings, which do not stop a reader; escaped as
 * mr_escape_text() does. */
char *mr_format_message(const char *path, guint64 offset, const char *fmt,
                        va_list ap) G_GNUC_PRINTF(3, 0);

/* s (len bytes, or up to its NUL when len < 0) with every byte that is not
 * part of a printable UTF-8 character written as the four characters \xNN:
 * C0 controls and DEL, C1 controls (U+0080-U+009F: a terminal may take
 * U+009B for CSI), bytes of invalid or incomplete UTF-8, NUL.  Printable
 * ASCII and valid UTF-8 text come out unchanged, so escaping twice changes
 * nothing more. */
char *mr_escape_text(const char *s, gssize len);
/* Whether mr_escape_text() would return s unchanged. */
gboolean mr_text_is_plain(const char *s, gssize len);

#endif
