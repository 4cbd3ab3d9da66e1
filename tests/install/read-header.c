/* read-header IMAGE PID: a program built against an installed ckpt (its public header
 * <ckpt/image.h>, found through pkg-config or find_package(ckpt)). It reads the header of
 * an image and checks that it is one, of this format version, of process PID. */
#include <ckpt/image.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: read-header IMAGE PID\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    struct ckpt_file_header h;
    if (!f || fread(&h, sizeof h, 1, f) != 1) {
        fprintf(stderr, "read-header: %s: cannot read a header\n", argv[1]);
        return 1;
    }
    fclose(f);
    if (memcmp(h.magic, CKPT_IMAGE_MAGIC, sizeof h.magic) != 0 ||
        h.version_major != CKPT_IMAGE_VERSION_MAJOR || h.arch != CKPT_ARCH_X86_64 ||
        h.pid != (uint32_t)atol(argv[2])) {
        fprintf(stderr, "read-header: %s: not an image of pid %s in format %u\n", argv[1], argv[2],
                CKPT_IMAGE_VERSION_MAJOR);
        return 1;
    }
    printf("image of pid %u, generation %u, format %u\n", h.pid, h.generation, h.version_major);
    return 0;
}
