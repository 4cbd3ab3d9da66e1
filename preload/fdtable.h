/* The shim's descriptor bookkeeping: for each descriptor, how it was created and with which
 * open flags. Updated by the wrappers in shim.c, read by the checkpoint, which reconciles
 * it with /proc/self/fd (descriptors created behind the shim's back show as "unknown").
 *
 * No malloc: entries live in chunks mapped on demand and never freed, so a checkpoint
 * signal may read the table at any moment, and a wrapper may run inside a signal handler. */
#ifndef CKPT_FDTABLE_H
#define CKPT_FDTABLE_H

#include <stdint.h>

#define FDTABLE_CHUNK 1024
#define FDTABLE_CHUNKS 1024 /* descriptors up to 1M */

struct fd_entry {
    uint8_t origin; /* enum ckpt_fd_origin; 0 = unknown */
    uint8_t reserved[3];
    uint32_t open_flags;
};

struct fdtable {
    struct fd_entry *chunks[FDTABLE_CHUNKS];
};

void fdtable_set(struct fdtable *t, int fd, uint8_t origin, uint32_t open_flags);
/* `to` now refers to what `from` refers to (dup, dup2, F_DUPFD). */
void fdtable_dup(struct fdtable *t, int from, int to);
void fdtable_clear(struct fdtable *t, int fd);
void fdtable_clear_range(struct fdtable *t, unsigned first, unsigned last);
/* Origin of fd (0 if unknown) and its open flags. */
uint8_t fdtable_get(const struct fdtable *t, int fd, uint32_t *open_flags);

#endif
