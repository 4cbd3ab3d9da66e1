/* execself: a program that replaces itself with exec part way, as a shell script or a
 * supervisor does — over and over, through each function of the exec family in turn (the
 * shim wraps each one). The first program runs steps 1..FIRST_EXEC, then execs itself (by
 * argv[0], a path) with the step to go on from; each next program runs EVERY more steps and
 * execs through the next function; the last one runs up to STEPS. The scenario checkpoints
 * the first program (its image written by a writer child, the program's child), then a later
 * one: no exec may leave that child behind for the next program to find.
 *
 * Usage: execself STEPS FIRST_EXEC
 *        execself STEPS FIRST_EXEC --from STEP VIA   (internal: after the exec through
 *                                                     function number VIA) */
#include "scenario.h"

extern char **environ;

#define EVERY 2

static const char *const via_names[] = {"execl",  "execle",  "execlp", "execv",
                                        "execvp", "execvpe", "execve", "fexecve"};
#define NVIA (int)(sizeof via_names / sizeof via_names[0])

static void run_steps(int from, int to)
{
    for (int i = from; i <= to; i++) {
        say("step %d\n", i);
        pace();
    }
}

static void exec_via(int via, char *argv0, char *steps, char *first, int from)
{
    char from_s[16], via_s[16];
    snprintf(from_s, sizeof from_s, "%d", from);
    snprintf(via_s, sizeof via_s, "%d", via);
    char *const args[] = {argv0, steps, first, "--from", from_s, via_s, NULL};
    const char *self = argv0; /* not /proc/self/exe: that names restore-run once restored */
    say("exec through %s before step %d\n", via_names[via], from);
    switch (via) {
    case 0:
        execl(self, argv0, steps, first, "--from", from_s, via_s, (char *)NULL);
        break;
    case 1:
        execle(self, argv0, steps, first, "--from", from_s, via_s, (char *)NULL, environ);
        break;
    case 2:
        execlp(self, argv0, steps, first, "--from", from_s, via_s, (char *)NULL);
        break;
    case 3:
        execv(self, args);
        break;
    case 4:
        execvp(self, args);
        break;
    case 5:
        execvpe(self, args, environ);
        break;
    case 6:
        execve(self, args, environ);
        break;
    case 7: {
        int fd = open(self, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            fexecve(fd, args, environ);
        break;
    }
    }
    fail("%s: %s\n", via_names[via], strerror(errno));
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 6 && strcmp(argv[3], "--from") == 0))
        fail("usage: execself STEPS FIRST_EXEC [--from STEP VIA]\n");
    int steps = atoi(argv[1]), first = atoi(argv[2]), from = 1, via = -1;
    if (argc == 6) {
        from = atoi(argv[4]);
        via = atoi(argv[5]);
        say("after %s: going on from step %d\n", via_names[via], from);
    } else {
        scenario_started();
    }
    int until = via < 0 ? first : from + EVERY - 1;
    if (via + 1 >= NVIA || until >= steps) {
        run_steps(from, steps);
        say("done\n");
        return 0;
    }
    run_steps(from, until);
    exec_via(via + 1, argv[0], argv[1], argv[2], until + 1);
}
