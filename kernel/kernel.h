// What kernel/main.c found at boot, for the self-tests.
#ifndef KERNEL_H
#define KERNEL_H

#include "../mm/buddy.h"

extern struct mem_region kernel_ram; // the RAM range handed to buddy_init
extern size_t cache_line_size;       // from riscv,cbom-block-size, else 64

#endif
