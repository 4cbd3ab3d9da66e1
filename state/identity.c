#include "identity.h"
#include "sys.h"

#include <asm/errno.h>
#include <elf.h>
#include <linux/fcntl.h>

#ifndef O_PATH
#define O_PATH 010000000
#endif

const char *identity_kind_name(uint32_t mode)
{
    switch (mode & CK_S_IFMT) {
    case CK_S_IFREG:
        return "a regular file";
    case CK_S_IFDIR:
        return "a directory";
    case CK_S_IFIFO:
        return "a FIFO";
    case CK_S_IFSOCK:
        return "a socket";
    case CK_S_IFCHR:
        return "a character device";
    case 0120000u:
        return "a symbolic link";
    default:
        return "a device or special file";
    }
}

/* Without openat2 (Linux before 5.6, or a seccomp filter answering ENOSYS): the absolute
 * path one component at a time, each opened O_PATH|O_NOFOLLOW beneath the one before, and
 * a symbolic link on the way refused. Recorded paths have no "." or ".." components. */
static long open_path_by_components(const char *path)
{
    if (path[0] != '/')
        return -EINVAL;
    long at = sys_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    char name[256];
    for (const char *c = path; at >= 0;) {
        while (*c == '/')
            c++;
        size_t n = 0;
        while (c[n] && c[n] != '/')
            n++;
        if (n == 0)
            return at;
        if (n >= sizeof name) {
            sys_close((int)at);
            return -ENAMETOOLONG;
        }
        ck_memcpy(name, c, n);
        name[n] = 0;
        c += n;
        long next = sys_openat((int)at, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        sys_close((int)at);
        struct kstat st;
        if (next >= 0 && *c && sys_fstat((int)next, &st) == 0 && CK_S_IS(st.st_mode, 0120000u)) {
            sys_close((int)next);
            return -ELOOP; /* the last component is judged by the caller */
        }
        at = next;
    }
    return at;
}

long identity_open_path(const char *path)
{
    struct ck_open_how how = {O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, CK_RESOLVE_NO_SYMLINKS};
    long at = sys_openat2(AT_FDCWD, path, &how);
    if (at == -ENOSYS)
        at = open_path_by_components(path);
    return at;
}

long identity_open(const char *path, int flags, uint32_t want_kind, struct identity_found *found)
{
    ck_memset(found, 0, sizeof *found);
    long at = identity_open_path(path);
    if (at < 0)
        return at;
    struct kstat st;
    long r = sys_fstat((int)at, &st);
    if (r < 0) {
        sys_close((int)at);
        return r;
    }
    found->id.mode = st.st_mode;
    found->id.dev = st.st_dev;
    found->id.ino = st.st_ino;
    found->id.size = (uint64_t)st.st_size;
    found->uid = st.st_uid;
    found->nlink = st.st_nlink;
    if (!CK_S_IS(st.st_mode, want_kind)) {
        sys_close((int)at);
        /* O_NOFOLLOW|O_PATH opens a final symbolic link itself: refused as any other. */
        return CK_S_IS(st.st_mode, 0120000u) ? -ELOOP : IDENTITY_OTHER_KIND;
    }
    /* Reopening the O_PATH descriptor's magic link opens that very inode: what was
     * identified is what gets opened, whatever happens to the path meanwhile. */
    char self[40];
    ck_format(self, sizeof self, "/proc/self/fd/%d", (int)at);
    long fd = sys_openat(AT_FDCWD, self, flags | O_CLOEXEC | O_NOCTTY, 0);
    sys_close((int)at);
    if (fd < 0)
        return fd;
    r = identity_read((int)fd, &found->id);
    if (r < 0) {
        sys_close((int)fd);
        return r;
    }
    return fd;
}

int identity_read(int fd, struct ckpt_file_identity *id)
{
    struct kstat st;
    long r = sys_fstat(fd, &st);
    ck_memset(id, 0, sizeof *id);
    if (r < 0)
        return (int)r;
    id->size = (uint64_t)st.st_size;
    id->mtime_sec = (int64_t)st.st_mtime_sec;
    id->mtime_nsec = (uint32_t)st.st_mtime_nsec;
    id->mode = st.st_mode;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    if (CK_S_IS(st.st_mode, CK_S_IFREG)) {
        int n = identity_build_id(fd, id->build_id, sizeof id->build_id);
        id->build_id_len = n > 0 ? (uint32_t)n : 0;
    }
    return 0;
}

/* Looks for NT_GNU_BUILD_ID among the notes of one PT_NOTE segment. */
static int find_build_id_note(int fd, const Elf64_Phdr *ph, uint8_t *out, uint32_t cap)
{
    unsigned char buf[1024];
    uint64_t len = ph->p_filesz < sizeof buf ? ph->p_filesz : sizeof buf;
    long n = sys_pread(fd, buf, len, ph->p_offset);
    if (n < 0)
        return (int)n;
    uint64_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= (uint64_t)n) {
        const Elf64_Nhdr *nh = (const void *)(buf + pos);
        uint64_t name_at = pos + sizeof *nh;
        uint64_t desc_at = name_at + ((nh->n_namesz + 3) & ~3u);
        uint64_t next = desc_at + ((nh->n_descsz + 3) & ~3u);
        if (next > (uint64_t)n)
            break;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            !ck_memcmp(buf + name_at, "GNU", 4) && nh->n_descsz <= cap) {
            ck_memcpy(out, buf + desc_at, nh->n_descsz);
            return (int)nh->n_descsz;
        }
        pos = next;
    }
    return 0;
}

int identity_build_id(int fd, uint8_t *out, uint32_t cap)
{
    Elf64_Ehdr eh;
    if (sys_pread(fd, &eh, sizeof eh, 0) != (long)sizeof eh ||
        ck_memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
        return 0;
    Elf64_Phdr ph[64];
    long want = (long)(eh.e_phnum * sizeof(Elf64_Phdr));
    if (sys_pread(fd, ph, (size_t)want, eh.e_phoff) != want)
        return 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_NOTE)
            continue;
        int n = find_build_id_note(fd, &ph[i], out, cap);
        if (n != 0)
            return n;
    }
    return 0;
}

static void format_build_id(char *buf, size_t cap, const struct ckpt_file_identity *id)
{
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < id->build_id_len && n + 3 < cap; i++)
        n += ck_format(buf + n, cap - n, "%x%x", id->build_id[i] >> 4, id->build_id[i] & 15);
}

/* On the same file system a different inode number is a different file. Across file
 * systems or machines the numbers say nothing, and content identity decides — but only for
 * files restore only reads (see identity_compare). */
static int replaced(const struct ckpt_file_identity *rec, const struct ckpt_file_identity *cur)
{
    return rec->dev == cur->dev && rec->ino != cur->ino;
}

static int not_the_very_file(const struct ckpt_file_identity *rec,
                             const struct ckpt_file_identity *cur, struct ck_error *err)
{
    if (rec->dev != cur->dev)
        return ck_fail(err, -1,
                       "was replaced by a file on another file system (device %lx inode %lu, "
                       "was device %lx inode %lu): refused, restore-run cuts back only the very "
                       "file the program wrote",
                       (unsigned long)cur->dev, (unsigned long)cur->ino, (unsigned long)rec->dev,
                       (unsigned long)rec->ino);
    return ck_fail(err, -1,
                   "was replaced by another file (inode %lu, was %lu): refused, restore-run "
                   "cuts back only the very file the program wrote",
                   (unsigned long)cur->ino, (unsigned long)rec->ino);
}

static int fail_replaced(const struct ckpt_file_identity *rec, const struct ckpt_file_identity *cur,
                         const char *also, struct ck_error *err)
{
    return ck_fail(err, -1, "was replaced by another file (inode %lu, was %lu%s)",
                   (unsigned long)cur->ino, (unsigned long)rec->ino, also);
}

int identity_compare(const struct ckpt_file_identity *rec, const struct ckpt_file_identity *cur,
                     enum identity_rule rule, struct ck_error *err)
{
    if ((rec->mode & CK_S_IFMT) != (cur->mode & CK_S_IFMT))
        return ck_fail(err, -1, "is no longer the same kind of file");
    /* A written file is cut back at restore: it must be the very file, not one like it, nor
     * one on another file system with the same inode number. */
    if (rule == IDENTITY_GROWN && (rec->dev != cur->dev || rec->ino != cur->ino))
        return not_the_very_file(rec, cur, err);
    if (cur->size < rec->size)
        return ck_fail(err, -1, "is shorter than at checkpoint (%lu bytes, was %lu)",
                       (unsigned long)cur->size, (unsigned long)rec->size);
    if (rule == IDENTITY_GROWN)
        return 0;
    int differs = cur->size != rec->size || cur->mtime_sec != rec->mtime_sec ||
                  cur->mtime_nsec != rec->mtime_nsec;
    if (differs && replaced(rec, cur))
        return fail_replaced(rec, cur, "; its size or modification time differs", err);
    if (rec->build_id_len != cur->build_id_len ||
        ck_memcmp(rec->build_id, cur->build_id, rec->build_id_len)) {
        char was[48], now[48];
        format_build_id(was, sizeof was, rec);
        format_build_id(now, sizeof now, cur);
        return ck_fail(err, -1, "was replaced (build-id %s, was %s)", now[0] ? now : "none",
                       was[0] ? was : "none");
    }
    if (cur->size != rec->size)
        return ck_fail(err, -1, "changed since checkpoint (%lu bytes, was %lu)",
                       (unsigned long)cur->size, (unsigned long)rec->size);
    if (cur->mtime_sec != rec->mtime_sec || cur->mtime_nsec != rec->mtime_nsec)
        return ck_fail(err, -1, "was modified since checkpoint (modification time differs)");
    return 0;
}

int identity_check_owner(const struct ckpt_file_identity *rec, const struct identity_found *now,
                         struct ck_error *err)
{
    uint32_t me = (uint32_t)sys_getuid();
    if ((rec->dev == now->id.dev && rec->ino == now->id.ino) || now->uid == me || now->uid == 0)
        return 0;
    return ck_fail(err, -1,
                   "was replaced by a file of uid %u (inode %lu, was %lu): refused, a file in "
                   "another place than at checkpoint must be yours or root's",
                   now->uid, (unsigned long)now->id.ino, (unsigned long)rec->ino);
}
