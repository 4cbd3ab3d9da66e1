/* The shim's descriptor bookkeeping: for each descriptor, how it was created and with which
 * open flags. Updated by the wrappers in shim.c, read by the checkpoint, which reconciles
 * it with /proc/self/fd (descriptors created behind the shim's back show as "unknown").
 *
 * No malloc: entries live in chunks mapped on demand and never freed, so a checkpoint
 * signal may read the table at any moment, and a wrapper may run inside a signal handler. */
#ifndef CKPT_FDTABLE_H
#define CKPT_FDTABLE_H

#include <stdint.h>

#include "../include/ckpt/image.h"

#define FDTABLE_CHUNK 1024
#define FDTABLE_CHUNKS 1024 /* descriptors up to 1M */

struct fd_entry {
    uint8_t origin; /* enum ckpt_fd_origin; 0 = unknown */
    uint8_t reserved;
    uint16_t listen_backlog; /* a socket's last listen(2) backlog + 1, at most 65535; 0 = none */
    uint32_t open_flags;
};

struct fdtable {
    struct fd_entry *chunks[FDTABLE_CHUNKS];
};

/* Maps the chunk holding fd (the slow path, once per 1024 descriptors); NULL if fd is out
 * of range or no memory. */
struct fd_entry *fdtable_chunk_create(struct fdtable *t, int fd);
void fdtable_clear_range(struct fdtable *t, unsigned first, unsigned last);

/* The rest is inline: the wrappers call it on every open, dup and close. */
static inline struct fd_entry *fdtable_entry(const struct fdtable *t, int fd)
{
    if (fd < 0 || fd >= FDTABLE_CHUNK * FDTABLE_CHUNKS)
        return 0;
    struct fd_entry *c = __atomic_load_n(&t->chunks[fd / FDTABLE_CHUNK], __ATOMIC_ACQUIRE);
    return c ? &c[fd % FDTABLE_CHUNK] : 0;
}

static inline void fdtable_set(struct fdtable *t, int fd, uint8_t origin, uint32_t open_flags)
{
    struct fd_entry *e = fdtable_entry(t, fd);
    if (!e) {
        struct fd_entry *c = fdtable_chunk_create(t, fd);
        if (!c)
            return;
        e = &c[fd % FDTABLE_CHUNK];
    }
    *e = (struct fd_entry){origin, 0, 0, open_flags};
}

/* Origin of fd (0 if unknown) and its open flags. */
static inline uint8_t fdtable_get(const struct fdtable *t, int fd, uint32_t *open_flags)
{
    const struct fd_entry *e = fdtable_entry(t, fd);
    *open_flags = e ? e->open_flags : 0;
    return e ? e->origin : 0;
}

/* The backlog the program last passed to listen(2) on fd (capped at 65534; a negative one,
 * which the kernel takes for its maximum, as 65534), or -1 if the shim saw none. */
static inline void fdtable_set_listen_backlog(struct fdtable *t, int fd, int backlog)
{
    struct fd_entry *e = fdtable_entry(t, fd);
    if (e)
        e->listen_backlog = (uint16_t)(backlog < 0 || backlog > 65533 ? 65535 : backlog + 1);
}

static inline int fdtable_listen_backlog(const struct fdtable *t, int fd)
{
    const struct fd_entry *e = fdtable_entry(t, fd);
    return e && e->listen_backlog ? e->listen_backlog - 1 : -1;
}

/* `to` now refers to what `from` refers to (dup, dup2, F_DUPFD). */
static inline void fdtable_dup(struct fdtable *t, int from, int to)
{
    uint32_t flags;
    fdtable_get(t, from, &flags);
    fdtable_set(t, to, CKPT_ORIGIN_DUP, flags);
}

static inline void fdtable_clear(struct fdtable *t, int fd)
{
    struct fd_entry *e = fdtable_entry(t, fd);
    if (e)
        *e = (struct fd_entry){0, 0, 0, 0};
}

#endif
