/* Parser for /proc/PID/maps lines. Used by the checkpoint (which regions to save), by the
 * restore core (what to unmap) and by restore-run (where a free gap is). */
#ifndef CKPT_MAPS_H
#define CKPT_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct map_entry {
    uint64_t start, end, offset, inode;
    uint32_t prot;   /* CKPT_PROT_* */
    uint32_t shared; /* 1 for 's', 0 for 'p' */
    uint32_t dev_major, dev_minor;
    const char *path; /* "" for anonymous; points into the parsed buffer */
};

/* Parses the next line at *cursor (a NUL-terminated buffer that it modifies: the newline
 * becomes NUL). Returns 1 and fills *e, 0 at the end, -1 on a malformed line. */
int maps_next(char **cursor, struct map_entry *e);

/* The mapped file's device as stat(2) gives it (st_dev, the kernel's new_encode_dev). */
uint64_t map_entry_dev(const struct map_entry *e);

#endif
