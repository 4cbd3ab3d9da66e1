/* Descriptor bookkeeping; see fdtable.h. */
#include "fdtable.h"
#include "sys.h"
#include "../include/ckpt/image.h"

#include <linux/mman.h>

struct fd_entry *fdtable_chunk_create(struct fdtable *t, int fd)
{
    if (fd < 0 || fd >= FDTABLE_CHUNK * FDTABLE_CHUNKS)
        return 0;
    struct fd_entry **slot = &t->chunks[fd / FDTABLE_CHUNK];
    struct fd_entry *c = sys_mmap(0, FDTABLE_CHUNK * sizeof *c, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sys_mmap_failed(c))
        return 0;
    struct fd_entry *expected = 0;
    if (!__atomic_compare_exchange_n(slot, &expected, c, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        sys_munmap(c, FDTABLE_CHUNK * sizeof *c); /* another thread was first */
        c = expected;
    }
    return c;
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
