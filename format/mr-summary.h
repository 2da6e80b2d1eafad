/* The model as JSON: what `mramfs-info --json` prints and what the mount
 * shows as snapshot.json.  Offsets and sizes are JSON integers. */
#ifndef MR_SUMMARY_H
#define MR_SUMMARY_H

#include "mr-file.h"

json_object *mr_summary_json(const MrFile *f);
/* One device section: name, instance_id, version_id, section_id, offset,
 * size, body_offset, body_size, before_ram. */
json_object *mr_section_json(const MrSection *s);
/* Bytes of the block's page area that hold data on disk (SEEK_DATA walk);
 * -1 if the file system cannot tell. */
gint64 mr_block_allocated_bytes(const MrFile *f, const MrRamBlock *b);

#endif
