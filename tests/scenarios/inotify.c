/* inotify: proves that inotify instances come back with their watches under the numbers
 * the program holds. Before its steps the program makes, in its directory, watched/ (a
 * directory) and watched.txt, and two instances:
 *   - A: a watch added and removed (its number 1 is never given again), watched/ for
 *     IN_CREATE|IN_DELETE with IN_ONLYDIR|IN_DONT_FOLLOW (number 2), another added and
 *     removed (3), then watched.txt by a relative path for IN_MODIFY (number 4);
 *   - B: watched/ for IN_CREATE (number 1 of its own).
 * Each step changes one of them (a file created in watched/, or a line appended to
 * watched.txt) and waits for the event on A (and on B for a creation), printing the watch
 * number the event carries beside the one inotify_add_watch returned: after a restore
 * they must still be the same. Events queued at the checkpoint are lost (documented): a
 * step whose event does not come within 300 ms makes its change once more, and prints
 * only what every try has in common.
 *
 * Usage: inotify [STEPS]              (default 30)
 *        inotify replaced [STEPS]     watched.txt is renamed and another file put in its
 *                                     place: the checkpoint must be refused naming it
 *        inotify behind [STEPS]       a watch added by the system call itself, behind the
 *                                     shim: the checkpoint must be refused naming it */
#include "scenario.h"

#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static int check(int rc, const char *what)
{
    if (rc < 0)
        fail("%s: %s\n", what, strerror(errno));
    return rc;
}

struct watches {
    int a, b;             /* the instances */
    int dir, file, b_dir; /* the numbers inotify_add_watch returned */
};

static void make_files(void)
{
    if (mkdir("watched", 0755) != 0 && errno != EEXIST)
        fail("mkdir watched: %s\n", strerror(errno));
    close(
        check(open("watched.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "watched.txt"));
    close(check(open("gap", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "gap"));
}

static void add_watches(struct watches *w)
{
    w->a = check(inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1");
    w->b = check(inotify_init(), "inotify_init");
    check(inotify_rm_watch(w->a, check(inotify_add_watch(w->a, "gap", IN_ATTRIB), "gap")), "rm");
    w->dir = check(
        inotify_add_watch(w->a, "watched", IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW),
        "watch watched");
    check(inotify_rm_watch(w->a, check(inotify_add_watch(w->a, "gap", IN_ATTRIB), "gap")), "rm");
    w->file = check(inotify_add_watch(w->a, "watched.txt", IN_MODIFY), "watch watched.txt");
    w->b_dir = check(inotify_add_watch(w->b, "watched", IN_CREATE), "watch watched (B)");
    say("watches: A dir %d file %d, B dir %d\n", w->dir, w->file, w->b_dir);
}

/* The first event of instance fd for watch wd with mask bit want (and, if prefix, a name
 * starting with it) within 300 ms; 0 if none came. The others are read and dropped. */
static int wait_event(int fd, int wd, uint32_t want, const char *prefix, char *name, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, 300) > 0) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            fail("read inotify: %s\n", strerror(errno));
        for (char *at = buf; at < buf + n;) {
            const struct inotify_event *e = (const void *)at;
            at += sizeof *e + e->len;
            if (e->wd != wd || !(e->mask & want))
                continue;
            if (prefix && (!e->len || strncmp(e->name, prefix, strlen(prefix)) != 0))
                continue;
            snprintf(name, cap, "%s", e->len ? e->name : "");
            return 1;
        }
    }
    return 0;
}

static void change(const struct watches *w, long step, int try)
{
    char path[64];
    if (step % 2) {
        snprintf(path, sizeof path, "watched/f%ld.%d", step, try);
        close(check(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), "create"));
    } else {
        int fd = check(open("watched.txt", O_WRONLY | O_APPEND | O_CLOEXEC), "watched.txt");
        snprintf(path, sizeof path, "step %ld try %d\n", step, try);
        scenario_write_all(fd, path, strlen(path));
        close(fd);
    }
    (void)w;
}

/* One step: a change, its event on A under the watch's number (and on B). */
static void step(const struct watches *w, long i)
{
    char prefix[32], name[256];
    snprintf(prefix, sizeof prefix, "f%ld.", i);
    int created = i % 2;
    int wd = created ? w->dir : w->file;
    for (int try = 0;; try++) {
        if (try == 20)
            fail("step %ld: no event\n", i);
        change(w, i, try);
        if (wait_event(w->a, wd, created ? IN_CREATE : IN_MODIFY, created ? prefix : 0, name,
                       sizeof name))
            break;
    }
    /* B saw every try's creation; the first is enough. */
    if (created && !wait_event(w->b, w->b_dir, IN_CREATE, prefix, name, sizeof name))
        fail("step %ld: no event on B\n", i);
    say("step %ld: %s on watch %d (%s)\n", i, created ? "created" : "modified", wd,
        created ? "watched/" : "watched.txt");
}

int main(int argc, char **argv)
{
    const char *mode =
        argc > 1 && (strcmp(argv[1], "replaced") == 0 || strcmp(argv[1], "behind") == 0) ? argv[1]
                                                                                         : "";
    long steps = argc > 1 + (*mode != 0) ? atol(argv[1 + (*mode != 0)]) : 30;
    scenario_started();
    make_files();
    struct watches w;
    add_watches(&w);
    if (strcmp(mode, "replaced") == 0) {
        /* The watched inode lives on as moved.txt; another is at the watched path. */
        check(rename("watched.txt", "moved.txt"), "rename");
        check(rename("gap", "watched.txt"), "rename");
        w.file = -1;
    }
    if (strcmp(mode, "behind") == 0)
        check((int)syscall(SYS_inotify_add_watch, w.b, "gap", IN_ATTRIB), "behind the shim");
    for (long i = 1; i <= steps; i++) {
        if (*mode)
            say("%s step %ld\n", mode, i);
        else
            step(&w, i);
        pace();
    }
    say("done\n");
    return 0;
}
