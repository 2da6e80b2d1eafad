/* Shared pieces of the CUnit tests of fs/ (no mount): snapshots made with
 * mr-writer around a few device sections, the tree built from them, and
 * files read through their ops. */
#ifndef FST_HELPERS_H
#define FST_HELPERS_H

#include <json-c/json.h>

#include "mfs-fs.h"
#include "synth-devices.h"
#include "test-helpers.h"

#define FST_PS 4096

/* The pc87312 VMSD as QEMU 10 describes it (docs/FORMAT.md §14.1.1), with
 * read_id_step 2, selected_index 1 and FER FAR PTR 0f 10 00 (strap 12),
 * and a serial section: instance 0 each, in that order. */
extern const TsDevice fst_pc_devices[];
/* The same PC87312 whose regs are described as a 3-byte buffer, which the
 * PC87312 view cannot read (the serial section first). */
extern const TsDevice fst_pc87312_buffer_devices[];
/* via-isa with a 64-byte config space: the VIA view needs 256 bytes. */
extern const TsDevice fst_short_via_devices[];

/* A 40p snapshot with these blocks (NULL-terminated; 64 KiB each, page 1
 * present with mrt_fill_page(index, 1)) and these devices (ending with a
 * NULL idstr; may be NULL), with a vmdesc, in the scratch directory. */
char *fst_write_snapshot(const char *name, const char *const *blocks,
                         const TsDevice *devs, MrWriterLayout *layout);
/* mfs_tree_new(), a failure reported. */
MfsTree *fst_tree_of(MrFile *f);
/* The whole of a file, read through its ops in chunks of 1000 bytes (NUL
 * terminated; free it). */
char *fst_read_all(MfsFs *fs, const MfsNode *n, gsize *size);
/* The file at path below the root, parsed; NULL (reported) if absent or
 * not JSON. */
json_object *fst_read_json(MfsFs *fs, const char *path);
/* A string member, or NULL. */
const char *fst_str(json_object *o, const char *key);

/* A snapshot of fst_pc_devices opened writable, its tree and an MfsFs
 * with an updater: what a read-write mount has, without the mount. */
typedef struct {
    char *path;
    MrWriterLayout layout;
    MrFile *file;
    MfsTree *tree;
    MfsFs fs;
} FstRwTree;

gboolean fst_rw_open(FstRwTree *m, const char *name);
void fst_rw_close(FstRwTree *m);

#endif
