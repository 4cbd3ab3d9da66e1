/* execself: a program that replaces itself with exec part way, as a shell script or a
 * supervisor does. Steps 1..EXEC_AT run in the first program; it then execs itself
 * (/proc/self/exe) with the step to go on from, and the new program runs the rest. The
 * scenario checkpoints the first program (its image written by a writer child, the
 * program's child), then the second: the exec must not leave that child behind for the
 * second program to find.
 *
 * Usage: execself STEPS EXEC_AT
 *        execself STEPS EXEC_AT --from STEP   (internal: the program after the exec) */
#include "scenario.h"

static void run_steps(int from, int to)
{
    for (int i = from; i <= to; i++) {
        say("step %d of pid-independent work\n", i);
        pace();
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--from") == 0))
        fail("usage: execself STEPS EXEC_AT [--from STEP]\n");
    int steps = atoi(argv[1]), exec_at = atoi(argv[2]);
    if (argc == 5) {
        say("after exec: going on from step %d\n", atoi(argv[4]));
        run_steps(atoi(argv[4]), steps);
        say("done\n");
        return 0;
    }
    scenario_started();
    run_steps(1, exec_at);
    char from[16];
    snprintf(from, sizeof from, "%d", exec_at + 1);
    say("exec at step %d\n", exec_at);
    execl("/proc/self/exe", argv[0], argv[1], argv[2], "--from", from, (char *)NULL);
    fail("exec: %s\n", strerror(errno));
}
