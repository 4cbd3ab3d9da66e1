/* libckptapi.so: the application API (include/ckpt/ckpt.h) for a program linked with
 * -lckptapi.
 *
 * Under checkpoint-run the shim, libckpt.so, is preloaded and defines every function of
 * the API: the dynamic linker binds the program's calls to the shim's, which come first in
 * symbol lookup, and nothing here runs. A call can still arrive here — through a handle of
 * this library (dlopen and dlsym, Python's ctypes.CDLL("libckptapi.so")), which looks in
 * this library first: then the shim's function, found in the global scope, serves it.
 * Without the shim each function answers -CKPT_ENOTACTIVE and changes nothing. */
#define _GNU_SOURCE
#include <ckpt/ckpt.h>

#include <dlfcn.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* The shim's definition of name, or NULL when the first one in the global scope is ours.
 * (Not compared with &name: that address too is bound to the shim's, which interposes.) */
static void *shim_function(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info found, ours;
    if (!f || !dladdr(f, &found) || !dladdr((void *)shim_function, &ours))
        return NULL;
    return found.dli_fbase == ours.dli_fbase ? NULL : f;
}

#define FORWARD(name, ...)                                                                         \
    do {                                                                                           \
        __typeof__(name) *shim = (__typeof__(name) *)shim_function(#name);                         \
        if (shim)                                                                                  \
            return shim(__VA_ARGS__);                                                              \
    } while (0)

EXPORT int ckpt_checkpoint(struct ckpt_result *result)
{
    FORWARD(ckpt_checkpoint, result);
    if (result) {
        memset(result, 0, sizeof *result);
        result->error = CKPT_ENOTACTIVE;
    }
    return -CKPT_ENOTACTIVE;
}

EXPORT int ckpt_restored(uint32_t *generation)
{
    FORWARD(ckpt_restored, generation);
    if (generation)
        *generation = 0;
    return -CKPT_ENOTACTIVE;
}

EXPORT int ckpt_add_hook(int when, ckpt_hook_fn fn, void *arg)
{
    FORWARD(ckpt_add_hook, when, fn, arg);
    return -CKPT_ENOTACTIVE;
}

EXPORT int ckpt_remove_hook(ckpt_hook_fn fn, void *arg)
{
    FORWARD(ckpt_remove_hook, fn, arg);
    return -CKPT_ENOTACTIVE;
}

EXPORT int ckpt_exclude(void *addr, size_t len)
{
    FORWARD(ckpt_exclude, addr, len);
    return -CKPT_ENOTACTIVE;
}

EXPORT int ckpt_include(void *addr, size_t len)
{
    FORWARD(ckpt_include, addr, len);
    return -CKPT_ENOTACTIVE;
}
