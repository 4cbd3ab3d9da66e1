/* What makes a file "the same file" at restore: size, modification time and, for ELF files,
 * the GNU build-id. Recorded at checkpoint for every mapped or open file, compared by
 * restore-run before it changes anything. Raw syscalls only (runs in the signal handler). */
#ifndef CKPT_IDENTITY_H
#define CKPT_IDENTITY_H

#include "../include/ckpt/image.h"
#include "util.h"

/* Fills *id from an open descriptor (fstat, and the build-id of a regular ELF file). */
int identity_read(int fd, struct ckpt_file_identity *id);

/* Reads the GNU build-id note of an ELF file into out; returns its length, 0 if the file is
 * not a 64-bit ELF file or has no build-id, or -errno. */
int identity_build_id(int fd, uint8_t *out, uint32_t cap);

/* What identity_open found at a path besides the identity: who owns it now. */
struct identity_found {
    struct ckpt_file_identity id;
    uint32_t uid;
    uint64_t nlink;
};

#define IDENTITY_OTHER_KIND (-1000) /* identity_open: the path names another kind of file */

/* Opens a path recorded at checkpoint for flags, never following a symbolic link and never
 * blocking. The path is the kernel's own name of the file (readlink of /proc/self/fd, maps),
 * so none of its components was a symbolic link then: one there now (in any component) is
 * refused with -ELOOP (the last one too). The file is identified through an O_PATH descriptor first
 * and opened for flags only if it is of the kind want_kind (CK_S_IFREG, CK_S_IFDIR, ...): a FIFO or
 * device put in its place is never opened, so nothing blocks on it; then the function
 * returns IDENTITY_OTHER_KIND with found->id.mode telling what it is. Returns the
 * descriptor (close-on-exec), or -errno; *found is filled whenever the file was found. */
long identity_open(const char *path, int flags, uint32_t want_kind, struct identity_found *found);

/* The O_PATH descriptor identity_open starts from (a final symbolic link is opened itself,
 * not followed), or -errno. Raw syscalls only: the restore core changes to the working
 * directory with it. */
long identity_open_path(const char *path);

/* "a FIFO", "a directory", ...: the kind of file mode names, for messages. */
const char *identity_kind_name(uint32_t mode);

/* How a file may differ from what was recorded. */
enum identity_rule {
    IDENTITY_SAME,  /* mapped or read-only: size, mtime and build-id must match */
    IDENTITY_GROWN, /* written by the program, cut back at restore: the very file (same
                     * device and inode, on any file system), grown perhaps, never shrunk */
};

/* Compares the file now (cur) with the record; on a difference fills err with a sentence
 * naming what differs (the caller prefixes the path) and returns -1. */
int identity_compare(const struct ckpt_file_identity *rec, const struct ckpt_file_identity *cur,
                     enum identity_rule rule, struct ck_error *err);

/* A file only read may be another copy of the same contents (restored on another machine
 * or file system), but not one that another user controls: a file found at another inode
 * must belong to the restoring user or to root. Returns 0, or -1 with err filled. */
int identity_check_owner(const struct ckpt_file_identity *rec, const struct identity_found *now,
                         struct ck_error *err);

#endif
