/* Descriptor bookkeeping; see fdtable.h. */
#include "fdtable.h"
#include "sys.h"
#include "../include/ckpt/image.h"

#include <linux/mman.h>

static struct fd_entry *chunk_for(struct fdtable *t, int fd, int create)
{
    if (fd < 0 || fd >= FDTABLE_CHUNK * FDTABLE_CHUNKS)
        return 0;
    struct fd_entry **slot = &t->chunks[fd / FDTABLE_CHUNK];
    struct fd_entry *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (c || !create)
        return c;
    c = sys_mmap(0, FDTABLE_CHUNK * sizeof *c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
    if (sys_mmap_failed(c))
        return 0;
    struct fd_entry *expected = 0;
    if (!__atomic_compare_exchange_n(slot, &expected, c, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        sys_munmap(c, FDTABLE_CHUNK * sizeof *c); /* another thread was first */
        c = expected;
    }
    return c;
}

void fdtable_set(struct fdtable *t, int fd, uint8_t origin, uint32_t open_flags)
{
    struct fd_entry *c = chunk_for(t, fd, 1);
    if (c)
        c[fd % FDTABLE_CHUNK] = (struct fd_entry){origin, {0, 0, 0}, open_flags};
}

void fdtable_dup(struct fdtable *t, int from, int to)
{
    uint32_t flags = 0;
    fdtable_get(t, from, &flags);
    fdtable_set(t, to, CKPT_ORIGIN_DUP, flags);
}

void fdtable_clear(struct fdtable *t, int fd)
{
    struct fd_entry *c = chunk_for(t, fd, 0);
    if (c)
        c[fd % FDTABLE_CHUNK] = (struct fd_entry){0, {0, 0, 0}, 0};
}

void fdtable_clear_range(struct fdtable *t, unsigned first, unsigned last)
{
    unsigned limit = FDTABLE_CHUNK * FDTABLE_CHUNKS - 1;
    if (last > limit)
        last = limit;
    for (unsigned fd = first; fd <= last && fd >= first; fd++) {
        if (!t->chunks[fd / FDTABLE_CHUNK]) {
            fd |= FDTABLE_CHUNK - 1; /* skip the whole missing chunk */
            continue;
        }
        fdtable_clear(t, (int)fd);
    }
}

uint8_t fdtable_get(const struct fdtable *t, int fd, uint32_t *open_flags)
{
    struct fd_entry *c = chunk_for((struct fdtable *)t, fd, 0);
    if (!c) {
        *open_flags = 0;
        return 0;
    }
    *open_flags = c[fd % FDTABLE_CHUNK].open_flags;
    return c[fd % FDTABLE_CHUNK].origin;
}
