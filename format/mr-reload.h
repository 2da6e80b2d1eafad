/* A snapshot rewritten in place while it is open.
 *
 * `virsh save` to a path that is mounted truncates and rewrites the same
 * inode: the open model then describes bytes that are gone.  A reader that
 * notices (the mount watches the file) asks whether the new bytes have the
 * layout the model describes, RAM blocks, device sections, vmdesc, every
 * offset and length; if they do, the model takes what can change without
 * moving anything (the present-page bitmaps, libvirt's header and XML, the
 * warnings) and serves the new bytes; if not, the model cannot serve them
 * and the caller refuses to, saying why.
 */
#ifndef MR_RELOAD_H
#define MR_RELOAD_H

#include "mr-file.h"

/* TRUE when now has old's layout; else FALSE and *why (freed by the
 * caller) names the first difference, e.g. `ram block "pc.ram":
 * pages_offset 0x100000, now 0x200000`. */
gboolean mr_file_same_layout(const MrFile *old, const MrFile *now, char **why);

/* Opens the file f has open again, through its descriptor (the same inode,
 * whatever its name is now), and validates it whole.  If its layout is
 * f's, f takes its bitmaps (read lazily again from f's descriptor), its
 * libvirt header and its warnings, forgets a truncation seen meanwhile
 * (mr_file_check_length()), and TRUE is returned.  Otherwise FALSE
 * with the reason, MR_ERROR_INVALID for a layout that changed, and f is
 * left as it was.  Nothing may use f's blocks while this runs. */
gboolean mr_file_reload(MrFile *f, GError **err);

#endif
