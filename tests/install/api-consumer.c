/* api-consumer: a program built against an installed ckpt's application API (<ckpt/ckpt.h>,
 * -lckptapi, through pkg-config or find_package(ckpt)). It checkpoints itself and says what
 * came of it: "not under ckpt" without checkpoint-run, "checkpointed generation N IMAGE"
 * under it; exit 1 on any other answer. */
#include <ckpt/ckpt.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    struct ckpt_result r;
    int rc = ckpt_checkpoint(&r);
    if (rc == -CKPT_ENOTACTIVE && r.error == CKPT_ENOTACTIVE && ckpt_restored(NULL) == rc) {
        printf("not under ckpt\n");
        return 0;
    }
    if (rc == CKPT_CHECKPOINTED && r.generation > 0 && ckpt_restored(NULL) == 0) {
        printf("checkpointed generation %u %s\n", r.generation, r.image);
        return 0;
    }
    fprintf(stderr, "api-consumer: ckpt_checkpoint: %d (%s)\n", rc, strerror(r.error));
    return 1;
}
