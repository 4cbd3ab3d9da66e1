/* The restore core, linked as a flat position-independent blob (see CMakeLists.txt),
 * embedded in restore-run; phase 1 copies it into the core area. */
    .section .rodata.core_blob,"a",@progbits
    .balign 4096
    .globl ckpt_core_blob
ckpt_core_blob:
    .incbin CORE_BIN_PATH_ASM
    .globl ckpt_core_blob_end
ckpt_core_blob_end:
    .section .note.GNU-stack,"",@progbits
