/* vDSO planning; see vdso_elf.h. */
#include "vdso_elf.h"
#include "hash.h"

#include <gelf.h>
#include <stdlib.h>
#include <string.h>

static int special_index_of_kind(uint32_t kind)
{
    if (kind == CKPT_REGION_VVAR)
        return VDSO_VVAR;
    if (kind == CKPT_REGION_VVAR_VCLOCK)
        return VDSO_VCLOCK;
    if (kind == CKPT_REGION_VDSO)
        return VDSO_CODE;
    return -1;
}

struct old_layout {
    uint64_t start[VDSO_NMAPS], len[VDSO_NMAPS];
};

/* The image's copy of the old vDSO decides between a move and a proxy and is parsed with
 * libelf: its checksum is checked here, before any of it is read (restore-run checks the
 * other runs' checksums later, as it places them; --lazy not at all). */
static int find_old_maps(struct restore_plan *p, struct old_layout *old, struct ck_error *err)
{
    memset(old, 0, sizeof *old);
    for (uint32_t i = 0; i < p->nregions; i++) {
        const struct ckpt_region_record *g = p->regions[i].rec;
        int k = special_index_of_kind(g->kind);
        if (k < 0)
            continue;
        old->start[k] = g->start;
        old->len[k] = g->end - g->start;
        if (k == VDSO_CODE && g->nruns == 1) {
            const struct ckpt_run_record *run = (const void *)p->regions[i].first_run;
            const struct ckpt_extent *e = &run->extent;
            const unsigned char *bytes = (const unsigned char *)(p->image_start + e->file_offset);
            if (run->addr != g->start || e->length != g->end - g->start)
                continue;
            if (ck_hash64(bytes, e->length) != e->checksum)
                return image_fail_run(g, run, err);
            p->vdso.old_bytes = bytes;
        }
    }
    return 0;
}

/* The running vDSO can simply be moved where the program expects it. */
static int same_vdso(const struct vdso_plan *v, const struct old_layout *old)
{
    if (!v->old_bytes || !v->live_len[VDSO_CODE])
        return 0;
    for (int i = 0; i < VDSO_NMAPS; i++) {
        if (old->len[i] != v->live_len[i])
            return 0;
        if (v->live_len[i] && (int64_t)(old->start[i] - old->start[VDSO_CODE]) !=
                                  (int64_t)(v->live_start[i] - v->live_start[VDSO_CODE]))
            return 0;
    }
    return memcmp(v->old_bytes, (const void *)v->live_start[VDSO_CODE], old->len[VDSO_CODE]) == 0;
}

struct vdso_symbols {
    Elf *elf;
    unsigned char *copy;
    uint64_t load_vaddr;
    Elf_Data *data;
    size_t count, strtab;
};

static int open_symbols(struct vdso_symbols *s, const void *bytes, size_t len)
{
    memset(s, 0, sizeof *s);
    s->copy = malloc(len);
    if (!s->copy)
        return -1;
    memcpy(s->copy, bytes, len);
    s->elf = elf_memory((char *)s->copy, len);
    if (!s->elf)
        return -1;
    size_t nph;
    if (elf_getphdrnum(s->elf, &nph))
        return -1;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(s->elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
            s->load_vaddr = ph.p_vaddr;
            break;
        }
    }
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(s->elf, scn))) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_DYNSYM && sh.sh_entsize) {
            s->data = elf_getdata(scn, NULL);
            s->count = sh.sh_size / sh.sh_entsize;
            s->strtab = sh.sh_link;
        }
    }
    return s->data ? 0 : -1;
}

static void close_symbols(struct vdso_symbols *s)
{
    if (s->elf)
        elf_end(s->elf);
    free(s->copy);
}

/* Offset of the defined function `name` from the vDSO's start, or -1. */
static int64_t function_offset(const struct vdso_symbols *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(s->data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
            sym.st_shndx == SHN_UNDEF)
            continue;
        const char *n = elf_strptr(s->elf, s->strtab, sym.st_name);
        if (n && !strcmp(n, name))
            return (int64_t)(sym.st_value - s->load_vaddr);
    }
    return -1;
}

int64_t vdso_elf_function_offset(const void *bytes, size_t len, const char *name)
{
    struct vdso_symbols s;
    elf_version(EV_CURRENT);
    int64_t offset = open_symbols(&s, bytes, len) ? -2 : function_offset(&s, name);
    close_symbols(&s);
    return offset;
}

static int plan_patches(struct vdso_plan *v, uint64_t new_vdso_at, struct ck_error *err)
{
    struct vdso_symbols old = {0}, cur = {0}; /* closed below even if never opened */
    int rc = -1;
    if (open_symbols(&old, v->old_bytes, v->old_len) ||
        open_symbols(&cur, (const void *)v->live_start[VDSO_CODE], v->live_len[VDSO_CODE])) {
        ck_fail(err, -1, "cannot read the vDSO symbols: %s", elf_errmsg(-1));
        goto out;
    }
    for (size_t i = 0; i < old.count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(old.data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
            sym.st_shndx == SHN_UNDEF)
            continue;
        uint64_t at = sym.st_value - old.load_vaddr;
        if (at > v->old_len || v->old_len - at < 12) { /* a jump takes 12 bytes */
            ck_fail(err, -1, "vDSO function at offset %lu too close to the end", (unsigned long)at);
            goto out;
        }
        if (v->npatches == VDSO_MAX_PATCHES) {
            ck_fail(err, -1, "the saved vDSO has too many functions");
            goto out;
        }
        const char *name = elf_strptr(old.elf, old.strtab, sym.st_name);
        if (!name) {
            ck_fail(err, -1, "the saved vDSO's function at offset %lu has no name",
                    (unsigned long)at);
            goto out;
        }
        int64_t target = function_offset(&cur, name);
        v->patches[v->npatches].at = v->old_start + at;
        v->patches[v->npatches].target = target < 0 ? 0 : new_vdso_at + (uint64_t)target;
        v->npatches++;
    }
    rc = 0;
out:
    close_symbols(&old);
    close_symbols(&cur);
    return rc;
}

int vdso_plan_build(struct restore_plan *p, int force_proxy, gap_finder find_gap, void *ctx,
                    struct ck_error *err)
{
    struct vdso_plan *v = &p->vdso;
    struct old_layout old;
    if (find_old_maps(p, &old, err))
        return -1;
    v->old_start = old.start[VDSO_CODE];
    v->old_len = old.len[VDSO_CODE];
    if (!force_proxy && same_vdso(v, &old)) {
        for (int i = 0; i < VDSO_NMAPS; i++)
            v->target_start[i] = old.start[i];
        return 0;
    }
    if (!v->old_bytes)
        return ck_fail(err, -1, "the image holds no copy of the program's vDSO");
    /* Proxy: the new block keeps its internal layout (code finds its data pages by
     * relative address) and goes to a free place; the old vDSO is rebuilt with jumps. */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < VDSO_NMAPS; i++)
        if (v->live_len[i]) {
            lo = v->live_start[i] < lo ? v->live_start[i] : lo;
            hi = v->live_start[i] + v->live_len[i] > hi ? v->live_start[i] + v->live_len[i] : hi;
        }
    uint64_t block = find_gap(hi - lo, ctx);
    if (!block)
        return ck_fail(err, -1, "no free address range for the new vDSO");
    for (int i = 0; i < VDSO_NMAPS; i++)
        v->target_start[i] = block + (v->live_start[i] - lo);
    v->proxy = 1;
    elf_version(EV_CURRENT);
    return plan_patches(v, v->target_start[VDSO_CODE], err);
}
