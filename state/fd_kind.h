/* One descriptor kind's code, reached through struct fd_kind_ops: the interface between
 * the table side (fds.c) and the kinds' own files (fd_file.c, fd_tty.c, fd_socket.c,
 * fd_chardev.c, fd_pipe.c). Adding a kind of descriptor = a row in CKPT_FD_KINDS
 * (include/ckpt/image.h) and one file defining fd_ops_NAME and fd_restore_NAME, and, for
 * each record kind of its own (a row in CKPT_RECORDS), check_<name> and complete_<name>
 * (state/image_check.h) in the same file; the file goes into CKPT_FD_SOURCES. */
#ifndef CKPT_FD_KIND_H
#define CKPT_FD_KIND_H

#include "fds.h"
#include "identity.h"
#include "sys.h"
#include "plan.h"

#include <linux/fcntl.h>

/* Flags worth carrying to the new open file description. */
#define REOPEN_FLAGS (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC)

/* What the save side of one checkpoint carries from descriptor to descriptor. */
struct fd_save_ctx {
    struct image_writer *w;
    const struct fd_slot *slots;        /* the descriptors before this one, their FILEs written */
    size_t done;                        /* how many of them; slots[done] is the one being saved */
    size_t nslots;                      /* all descriptors (the later ones: numbers and origins) */
    const struct files_save_args *args; /* the shim's bookkeeping (listen backlogs, inotify) */
    uint32_t npipes;                    /* PIPE records so far: their ids (fd_pipe.c) */
    uint32_t npairs;                    /* SOCKPAIR records so far: their ids (fd_socket.c) */
    size_t other;                       /* fd_pipe.c: the slot of the other end of the pipe saved */
    uint32_t nmemfiles;                 /* MEMFILE objects named so far: their ids (fd_memfd.c) */
    uint64_t contents_stored;           /* bytes of FILE_DATA so far, against FILES_CONTENTS_MAX */
};

struct fd_kind_ops {
    uint32_t kind;    /* CKPT_FD_* */
    const char *name; /* "regular file", for messages */
    /* A pipe, socket or terminal the program was started with belongs to its environment:
     * restore takes restore-run's descriptor of that number instead (fds_from_environment). */
    int environment;
    /* Handler: refuses a descriptor of this kind ckpt cannot restore, naming fd and path.
     * NULL: every one is accepted. */
    int (*accept)(int fd, uint32_t origin, const char *path, struct ck_error *err);
    /* Handler: the records that follow the FILE record f of descriptor fd, the lowest of
     * its open file description (FILE_DATA, LOCK, TERMINAL). NULL: none. */
    int (*save)(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                struct ck_error *err);
    /* Phase 1, before any descriptor is opened: how the descriptor is to come back
     * (inherit, no_cut). NULL: as fds.c decided. */
    void (*prepare)(const struct restore_plan *p, struct fd_plan *fp);
    /* Phase 1: opens the descriptor again at a high number (fp->temp_fd) and checks it is
     * what it was, changing nothing. Not called for inherited or shared descriptors. */
    int (*plan)(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err);
    /* Phase 1, once every descriptor is planned: checks that need the others (an epoll's
     * targets). NULL: none. */
    int (*check_all)(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err);
};

/* The ops of kind, or NULL for a kind this build does not know (a switch generated from
 * CKPT_FD_KINDS: the handler and phase 1 only, never the restore core). */
const struct fd_kind_ops *fd_ops(uint32_t kind);

/* Every kind's table entry, and its step in the restore core (called through a generated
 * switch: the core can hold no table of absolute function pointers), run once all
 * descriptors are on their numbers. */
#define FD_KIND_DECLARE(name, value)                                                               \
    extern const struct fd_kind_ops fd_ops_##name;                                                 \
    void fd_restore_##name(const struct restore_plan *p, const struct fd_plan *fp);
CKPT_FD_KINDS(FD_KIND_DECLARE)
#undef FD_KIND_DECLARE

/* For a kind whose descriptor is whole once it is on its number. */
#define FD_NOTHING_TO_RESTORE(name)                                                                \
    void fd_restore_##name(const struct restore_plan *p, const struct fd_plan *fp)                 \
    {                                                                                              \
        (void)p;                                                                                   \
        (void)fp;                                                                                  \
    }

/* ---- shared by the kinds (fds.c) ---------------------------------------------------- */

/* fd's terminal settings can be read: it is a terminal. */
int fds_is_tty(int fd);

/* Pipes, sockets and terminals the program was started with (0, 1, 2 and any other it
 * inherited) belong to its environment: restore takes them from restore-run. */
int fds_from_environment(int fd, uint32_t kind, uint32_t origin);

/* restore-run was started with descriptor fd. */
int fds_had_at_startup(const struct restore_plan *p, int fd);

/* Moves fd above the program's numbers (the restore core keeps those free of strays). */
long fds_keep_high(const struct restore_plan *p, long fd);

/* The last component of path. */
const char *fds_base_name(const char *path);

/* Phase 1: the directory of path (the what, "file" or "socket", of descriptor fd_number),
 * opened like any recorded path (no symbolic link, a directory of the user's or root's),
 * at a high number; or -1 with err filled. */
long fds_open_directory(const struct restore_plan *p, const char *what, const char *path,
                        int32_t fd_number, struct ck_error *err);

/* The message for a file identity_open would not open. */
int fds_refuse_open(const char *what, const char *path, int fd, long rc,
                    const struct identity_found *now, uint32_t want, struct ck_error *err);

/* Objects a FILE introduces (a pipe, a socket pair) and the detail record naming them:
 * FILE [object] detail. The record of kind right after FILE record first in the writer's
 * metadata (handler), or NULL. */
const struct ckpt_record_head *fds_written_after(const struct image_writer *w,
                                                 const struct ckpt_file_record *first,
                                                 uint32_t kind);
/* Phase 1: the detail record (of kind detail) after FILE f, past the object record (of kind
 * object) f may introduce; NULL if f has none. */
const struct ckpt_record_head *fds_detail_of(const struct restore_plan *p,
                                             const struct ckpt_file_record *f, uint32_t object,
                                             uint32_t detail);
/* Phase 1: the record of kind with id, or NULL. */
const struct ckpt_record_head *fds_object_with_id(const struct restore_plan *p, uint32_t kind,
                                                  uint32_t id);

/* fd is a TCP or UDP socket's, or another IPv4 or IPv6 one's (fd_inet.c). */
int fd_inet_is_inet(int fd);

/* ---- the kinds' steps fds.c sequences itself (their order matters) --------------------- */

/* Binds the path names of the UNIX sockets that had one (a stale socket file there put aside)
 * and makes them listen, all or nothing (fd_unix_listen.c); first of the changes. */
int fd_unix_commit(struct restore_plan *p, struct ck_error *err);
/* Undoes fd_unix_commit (a later step failed): the socket files it made go, the stale ones
 * come back. */
void fd_unix_undo(struct restore_plan *p);
/* Once every file is changed: the stale socket files put aside go. */
void fd_unix_finish(const struct restore_plan *p);
/* Every change to regular files, all or nothing (fd_file.c). */
int fd_file_commit(struct restore_plan *p, struct ck_error *err);
/* The program's terminal settings onto restore-run's terminal: last, nothing may fail
 * after it (fd_tty.c). */
int fd_tty_commit(struct restore_plan *p, struct ck_error *err);
/* Warns if restore-run is not in the foreground of the terminal it gives (fd_tty.c). */
void fd_tty_warn_if_background(const struct restore_plan *p);

#endif
