/* inotify (CKPT_FD_INOTIFY): the shim's book of the paths its wrappers saw added as
 * watches (preload/shim_inotify.c writes it, the checkpoint handler reads it: the kernel
 * tells which watches an instance has, /proc/self/fdinfo, but not their paths), and the
 * system calls both sides use. */
#ifndef CKPT_FD_INOTIFY_H
#define CKPT_FD_INOTIFY_H

#include "sys.h"

#define CK_IN_DONT_FOLLOW 0x02000000u
#define CK_IN_DELETE_SELF 0x00000400u

/* One watch the program added: through descriptor fd it got wd for path. */
struct inotify_note {
    int32_t fd; /* the inotify descriptor it was added through; -1: a free note */
    int32_t wd;
    uint32_t dont_follow; /* IN_DONT_FOLLOW was given: path's last link itself is watched */
    uint32_t cap;         /* bytes of room at path */
    char *path;           /* absolute: the kernel's name of the file when it was added */
};

#define INOTIFY_NOTE_CHUNK 256
#define INOTIFY_NOTE_CHUNKS 1024 /* watches up to 256 Ki */

/* Notes live in chunks mapped on demand and never freed, their paths in an arena of
 * mapped pages; a wrapper changes them with every signal blocked (so a checkpoint never
 * sees half a note) under a lock (threads). */
struct inotify_book {
    struct inotify_note *chunks[INOTIFY_NOTE_CHUNKS];
    uint32_t nnotes; /* notes in the chunks, free ones included */
    int lock;
    char *arena; /* the current page run for paths, arena_left bytes free */
    uint32_t arena_left;
};

static inline const struct inotify_note *inotify_note_at(const struct inotify_book *b, uint32_t i)
{
    const struct inotify_note *c = b->chunks[i / INOTIFY_NOTE_CHUNK];
    return c ? &c[i % INOTIFY_NOTE_CHUNK] : 0;
}

static inline long sys_inotify_init1(int flags)
{
    return sys_call1(__NR_inotify_init1, flags);
}
static inline long sys_inotify_add_watch(int fd, const char *path, uint32_t mask)
{
    return sys_call3(__NR_inotify_add_watch, fd, SYS_L(path), (long)mask);
}
static inline long sys_inotify_rm_watch(int fd, int wd)
{
    return sys_call2(__NR_inotify_rm_watch, fd, wd);
}

#endif
