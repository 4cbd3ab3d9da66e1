/* unsupported: a program with state ckpt cannot restore yet. `ckpt checkpoint` must refuse
 * it with a message naming the reason, leave no image, and the program must run on and
 * finish exactly as if nobody had asked.
 *
 * Usage: unsupported thread|child|socket|deleted|tidword|pidfd|netlink|packet [STEPS]
 *   thread  a second thread that lives to the end
 *   child   a child process that lives to the end
 *   socket  a TCP connection of the program to its own listener, which has not accepted
 *           it: what the client sent is in a socket only the listener's queue holds
 *   deleted a file it holds open after deleting the name it opened it by, while another
 *           hard link to it remains: ckpt cannot tell which name to reopen (a file with no
 *           name left is stored and restored: the memfiles scenario)
 *   tidword glibc's cached thread id (struct pthread's tid, found with libthread_db's
 *           descriptor) holds another number while the steps run: the restore would write
 *           the new tid where it cannot tell what it overwrites
 *   pidfd   a pidfd of its own process (pidfd_open)
 *   netlink a NETLINK_ROUTE socket
 *   packet  an AF_PACKET socket, made in a user and network namespace of its own (where
 *           any user may: CAP_NET_RAW there), so that nobody can run it too
 * The descriptor is still used after the steps (the refused checkpoint left it alone). */
#include "scenario.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile int finished;

/* glibc's tid word of this thread, from the descriptor libc.so.6 exports for debuggers. */
static volatile int *tid_word(void)
{
    const uint32_t *desc = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");
    if (!desc || desc[0] != 32 || desc[1] != 1)
        fail("libc.so.6 has no usable _thread_db_pthread_tid\n");
    volatile int *word = (volatile int *)((char *)pthread_self() + desc[2]);
    if (*word != gettid())
        fail("the tid word does not hold the tid\n");
    return word;
}

static void *idle_thread(void *arg)
{
    (void)arg;
    while (!finished)
        pace();
    return 0;
}

/* The descriptor of a kind ckpt refuses by name, or -1 if what is no such kind. */
static int open_refused_kind(const char *what)
{
    int fd = -1;
    if (strcmp(what, "pidfd") == 0) {
        fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    } else if (strcmp(what, "netlink") == 0) {
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    } else if (strcmp(what, "packet") == 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
            fail("unshare: %s\n", strerror(errno));
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    } else {
        return -1;
    }
    if (fd < 0)
        fail("%s: %s\n", what, strerror(errno));
    return fd;
}

/* The refused descriptor still works: a signal 0 through the pidfd, the socket's type. */
static void use_refused_kind(const char *what, int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (strcmp(what, "pidfd") == 0)
        say("pidfd signal 0: %ld\n", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0));
    else if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
        say("%s socket type %d\n", what, type);
    else
        fail("%s: getsockopt: %s\n", what, strerror(errno));
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    long steps = argc > 2 ? atol(argv[2]) : 60;
    scenario_started();
    pthread_t thread;
    pid_t child = -1;
    int sock = -1; /* the socket, or the deleted file */
    volatile int *tid = NULL;
    int refused = open_refused_kind(what);
    if (refused >= 0) {
        /* nothing more */
    } else if (strcmp(what, "thread") == 0) {
        if (pthread_create(&thread, 0, idle_thread, 0) != 0)
            fail("pthread_create\n");
    } else if (strcmp(what, "child") == 0) {
        child = fork();
        if (child < 0)
            fail("fork\n");
        if (child == 0) {
            for (;;)
                pause();
        }
    } else if (strcmp(what, "socket") == 0) {
        struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        socklen_t len = sizeof at;
        int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0 || sock < 0 || bind(listener, (struct sockaddr *)&at, len) < 0 ||
            listen(listener, 4) < 0 || getsockname(listener, (struct sockaddr *)&at, &len) < 0 ||
            connect(sock, (struct sockaddr *)&at, len) < 0 || send(sock, "x", 1, 0) != 1)
            fail("socket: %s\n", strerror(errno));
    } else if (strcmp(what, "deleted") == 0) {
        sock = open("scratch.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        unlink("scratch.link");
        if (sock < 0 || link("scratch.tmp", "scratch.link") != 0 || unlink("scratch.tmp") != 0 ||
            write(sock, "x", 1) != 1)
            fail("scratch.tmp: %s\n", strerror(errno));
    } else if (strcmp(what, "tidword") == 0) {
        tid = tid_word();
        *tid = -12345; /* nothing in the steps asks glibc for the thread's id */
    } else {
        fail("usage: unsupported thread|child|socket|deleted|tidword|pidfd|netlink|packet "
             "[STEPS]\n");
    }
    unsigned long long hash = FNV_START;
    for (long i = 1; i <= steps; i++) {
        hash = fnv_mix(hash, (unsigned long long)i);
        say("%s step %ld hash %016llx\n", what, i, hash);
        pace();
    }
    if (child > 0) {
        int status;
        kill(child, SIGTERM);
        if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status))
            fail("the child did not end as expected\n");
    }
    if (sock >= 0)
        close(sock);
    if (refused >= 0)
        use_refused_kind(what, refused);
    if (tid)
        *tid = gettid();
    if (strcmp(what, "thread") == 0) {
        finished = 1;
        pthread_join(thread, 0);
    }
    say("%s done\n", what);
    return 0;
}
