/* The shim's inotify wrappers: they note the path of every watch the program adds
 * (state/fd_inotify.h), which the kernel does not keep, so that a checkpoint can store it
 * and a restore add the watch again. The path noted is the kernel's name of the file when
 * the watch was added (absolute, whatever the working directory was); the checkpoint
 * checks that it still names the watched inode.
 *
 * Each wrapper runs with every signal blocked (a checkpoint never sees half a note, and a
 * program's handler cannot enter a wrapper already under way) and under a lock (threads).
 * Only inotify_add_watch does more than one system call beyond its own: three, to find
 * the file's name. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/inotify.h>

#include "shim.h"
#include "sys.h"
#include "util.h"

#include <linux/mman.h>

#define EXPORT __attribute__((visibility("default")))
#define CK_O_PATH 010000000
#define PATH_ARENA_BYTES (64u << 10) /* paths are at most CKPT_PATH_MAX */

static int (*real_inotify_init)(void);
static int (*real_inotify_init1)(int);
static int (*real_inotify_add_watch)(int, const char *, uint32_t);
static int (*real_inotify_rm_watch)(int, int);
#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        if (!real_##name)                                                                          \
            real_##name = dlsym(RTLD_NEXT, #name);                                                 \
    } while (0)

/* ---- the book, changed only between book_enter and book_leave -------------------------- */

static void book_enter(uint64_t *old_mask)
{
    uint64_t all = ~0ULL;
    sys_rt_sigprocmask(SIG_SETMASK, &all, old_mask);
    while (__atomic_exchange_n(&ckpt_shim.inotify.lock, 1, __ATOMIC_ACQUIRE))
        sys_call0(__NR_sched_yield);
}

static void book_leave(const uint64_t *old_mask)
{
    __atomic_store_n(&ckpt_shim.inotify.lock, 0, __ATOMIC_RELEASE);
    sys_rt_sigprocmask(SIG_SETMASK, old_mask, 0);
}

static struct inotify_note *note_at(uint32_t i)
{
    return (struct inotify_note *)inotify_note_at(&ckpt_shim.inotify, i);
}

/* Frees the notes of fd (all of them if wd < 0, else the one of watch wd). */
static void forget(int fd, int wd)
{
    for (uint32_t i = 0; i < ckpt_shim.inotify.nnotes; i++) {
        struct inotify_note *n = note_at(i);
        if (n && n->fd == fd && (wd < 0 || n->wd == wd))
            n->fd = -1;
    }
}

/* The note of watch wd of fd (the kernel gives a file watched already its number again),
 * else a free one, else a new one; NULL when out of room. */
static struct inotify_note *note_for(int fd, int wd)
{
    struct inotify_book *b = &ckpt_shim.inotify;
    struct inotify_note *free_note = 0;
    for (uint32_t i = 0; i < b->nnotes; i++) {
        struct inotify_note *n = note_at(i);
        if (n && n->fd == fd && n->wd == wd)
            return n;
        if (n && n->fd < 0 && !free_note)
            free_note = n;
    }
    if (free_note)
        return free_note;
    uint32_t i = b->nnotes;
    if (i / INOTIFY_NOTE_CHUNK >= INOTIFY_NOTE_CHUNKS)
        return 0;
    if (!b->chunks[i / INOTIFY_NOTE_CHUNK]) {
        void *c = sys_mmap(0, INOTIFY_NOTE_CHUNK * sizeof(struct inotify_note),
                           PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (sys_mmap_failed(c))
            return 0;
        b->chunks[i / INOTIFY_NOTE_CHUNK] = c;
    }
    b->nnotes++;
    struct inotify_note *n = note_at(i);
    n->fd = -1;
    return n;
}

/* Room for len bytes of path, from the note's own if it is large enough. */
static char *room_for_path(struct inotify_note *n, uint32_t len)
{
    struct inotify_book *b = &ckpt_shim.inotify;
    if (n->path && n->cap >= len)
        return n->path;
    if (b->arena_left < len) {
        char *a = sys_mmap(0, PATH_ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
        if (sys_mmap_failed(a))
            return 0;
        b->arena = a;
        b->arena_left = PATH_ARENA_BYTES;
    }
    n->path = b->arena;
    n->cap = len;
    b->arena += len;
    b->arena_left -= len;
    return n->path;
}

/* The kernel's name of the file path names (its last link itself with dont_follow), into
 * out; its length, or -1 if it has no absolute name (a pipe's, a file gone meanwhile). */
static long name_of_watched(const char *path, int dont_follow, char *out)
{
    long o = sys_openat(AT_FDCWD, path, CK_O_PATH | O_CLOEXEC | (dont_follow ? O_NOFOLLOW : 0), 0);
    if (o < 0)
        return -1;
    char self[40];
    ck_format(self, sizeof self, "/proc/self/fd/%ld", o);
    long len = sys_readlinkat(AT_FDCWD, self, out, CKPT_PATH_MAX - 1);
    sys_close((int)o);
    if (len <= 0 || out[0] != '/')
        return -1;
    out[len] = 0;
    return len;
}

/* Notes path as watch wd of fd. Without room or a name the watch stays unnoted: a
 * checkpoint then refuses it by its number. */
static void note_watch(int fd, int wd, const char *path, uint32_t mask)
{
    char name[CKPT_PATH_MAX];
    int dont_follow = (mask & IN_DONT_FOLLOW) != 0;
    long len = name_of_watched(path, dont_follow, name);
    struct inotify_note *n = len > 0 ? note_for(fd, wd) : 0;
    if (!n)
        return;
    n->fd = -1; /* rewritten: free until whole */
    char *room = room_for_path(n, (uint32_t)len + 1);
    if (!room)
        return;
    ck_memcpy(room, name, (size_t)len + 1);
    n->wd = wd;
    n->dont_follow = (uint32_t)dont_follow;
    n->fd = fd;
}

/* ---- the wrappers ----------------------------------------------------------------------- */

/* A new instance at fd: notes left from an instance that had the number go. */
static int new_instance(int fd)
{
    if (fd < 0)
        return fd;
    uint64_t mask;
    book_enter(&mask);
    forget(fd, -1);
    book_leave(&mask);
    return fd;
}

EXPORT int inotify_init(void)
{
    RESOLVE(inotify_init);
    return new_instance(real_inotify_init());
}

EXPORT int inotify_init1(int flags)
{
    RESOLVE(inotify_init1);
    return new_instance(real_inotify_init1(flags));
}

EXPORT int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
    RESOLVE(inotify_add_watch);
    uint64_t old;
    book_enter(&old);
    int wd = real_inotify_add_watch(fd, path, mask);
    int saved = errno;
    if (wd >= 0)
        note_watch(fd, wd, path, mask);
    book_leave(&old);
    errno = saved;
    return wd;
}

EXPORT int inotify_rm_watch(int fd, int wd)
{
    RESOLVE(inotify_rm_watch);
    uint64_t old;
    book_enter(&old);
    int rc = real_inotify_rm_watch(fd, wd);
    int saved = errno;
    if (rc == 0)
        forget(fd, wd);
    book_leave(&old);
    errno = saved;
    return rc;
}
