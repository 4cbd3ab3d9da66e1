#include "maps.h"
#include "util.h"
#include "../include/ckpt/image.h"

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static uint32_t parse_prot(const char **p, uint32_t *shared)
{
    const char *s = *p;
    uint32_t prot = 0;
    if (s[0] == 'r')
        prot |= CKPT_PROT_READ;
    if (s[1] == 'w')
        prot |= CKPT_PROT_WRITE;
    if (s[2] == 'x')
        prot |= CKPT_PROT_EXEC;
    *shared = s[3] == 's';
    *p += 4;
    return prot;
}

uint64_t map_entry_dev(const struct map_entry *e)
{
    return (e->dev_minor & 0xffu) | ((uint64_t)e->dev_major << 8) |
           ((uint64_t)(e->dev_minor & ~0xffu) << 12);
}

int maps_next(char **cursor, struct map_entry *e)
{
    char *line = *cursor;
    if (!*line)
        return 0;
    char *nl = line;
    while (*nl && *nl != '\n')
        nl++;
    *cursor = *nl ? nl + 1 : nl;
    *nl = 0;

    const char *p = line;
    const char *start = p;
    e->start = ck_parse_uint(&p, 16);
    if (p == start || expect(&p, '-'))
        return -1;
    e->end = ck_parse_uint(&p, 16);
    if (expect(&p, ' ') || ck_strlen(p) < 5)
        return -1;
    e->prot = parse_prot(&p, &e->shared);
    if (expect(&p, ' '))
        return -1;
    e->offset = ck_parse_uint(&p, 16);
    if (expect(&p, ' '))
        return -1;
    e->dev_major = (uint32_t)ck_parse_uint(&p, 16);
    if (expect(&p, ':'))
        return -1;
    e->dev_minor = (uint32_t)ck_parse_uint(&p, 16);
    if (expect(&p, ' '))
        return -1;
    e->inode = ck_parse_uint(&p, 10);
    while (*p == ' ')
        p++;
    e->path = p;
    return e->start < e->end ? 1 : -1;
}
