/* Write tracking for incremental images (checkpoint-run --incremental): which pages the
 * program wrote since the previous checkpoint, by userfaultfd write-protection in async mode
 * (UFFD_FEATURE_WP_ASYNC, Linux 6.7: a write to a protected page only clears its protection,
 * the program never waits) read and re-armed with PAGEMAP_SCAN's PAGE_IS_WRITTEN and
 * PM_SCAN_WP_MATCHING in one ioctl. Unprivileged: the descriptor is UFFD_USER_MODE_ONLY.
 * Raw syscalls only (checkpoint handler). docs/incremental.md. */
#ifndef CKPT_TRACK_H
#define CKPT_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"
#include "util.h"

/* What one checkpoint learnt, in its arena: the memory the snapshot may take from the
 * previous image chain, and the pages of it written since. */
struct track_job {
    int incremental; /* 1: this image may extend the previous one (base_generation) */
    uint32_t base_generation;
    struct memory_range *tracked;
    size_t ntracked;
    struct memory_range *written;
    size_t nwritten;
    struct memory_range *huge; /* present huge pages, not protected: compared by content */
    size_t nhuge;
};

/* Bytes of arena a track_job's lists may use. */
#define TRACK_ARENA_BYTES (64UL << 20)

/* Reads CKPT_INCREMENTAL (the checkpoints between two full images) at the shim's start. */
void track_init(const char *incremental);
/* The shim's own userfaultfd, or -1: the image leaves it out. */
int track_fd(void);
/* Right before the snapshot is taken (the writer child's clone, or the stopped program's own
 * write): nothing but the arena may change in between. Registers memory not tracked yet,
 * reads and re-arms what was written. arena: TRACK_ARENA_BYTES of scratch; maps: room for
 * /proc/self/maps; [skip_start, skip_end): the checkpoint's own arena. */
void track_before_snapshot(struct track_job *tj, char *arena, char *maps, size_t maps_cap,
                           uint64_t skip_start, uint64_t skip_end);
/* The image of generation was published (it may serve as the next base),
 * or the checkpoint failed (the next image is full: what was written since is lost). */
void track_published(uint32_t generation);
void track_failed(void);
/* How many names of the image (IMAGE, IMAGE.1, ...) the rotation keeps: keep, or more where
 * a kept image (the new one has new_depth parents) needs older ones. Nothing that a kept
 * image refers to is ever removed. */
int track_names_to_keep(const char *image, int keep, uint32_t new_depth);
/* Once the new image is durable: removes IMAGE.names, IMAGE.(names+1), ... that an earlier,
 * longer chain left (--incremental only; nothing kept needs them), held open in held. */
void track_remove_unneeded(const char *image, int names, struct ck_held *held);
/* After a restore: the restored process has no tracking; its first image is full. */
void track_after_restore(void);

#endif
