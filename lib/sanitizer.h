// Tell AddressSanitizer which frames are free, so the host build catches a
// use of a page after it went back to the buddy allocator. In the kernel
// (no sanitizer) these are empty and cost nothing.
#ifndef SANITIZER_H
#define SANITIZER_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RVSLAB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RVSLAB_ASAN 1
#endif

#ifdef RVSLAB_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define mem_poison(addr, size)   __asan_poison_memory_region((addr), (size))
#define mem_unpoison(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
#define mem_poison(addr, size)   ((void)(addr), (void)(size))
#define mem_unpoison(addr, size) ((void)(addr), (void)(size))
#endif

#endif
