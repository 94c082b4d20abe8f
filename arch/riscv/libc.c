// C library functions the kernel must not take from picolibc.
//
// picolibc keeps errno in thread-local storage, addressed relative to tp,
// and in this kernel tp holds the hart id: a libc function that sets errno
// would write near address (hart id + offset). linker/kernel.ld refuses to
// link if any TLS is pulled in; the functions here replace the ones that
// would pull it in, with the same behaviour minus errno.
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

// As the C standard says, except that overflow only returns ULONG_MAX.
unsigned long strtoul(const char *nptr, char **endptr, int base)
{
    const char *s = nptr;
    while (isspace((unsigned char)*s))
        s++;
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
        isxdigit((unsigned char)s[2])) {
        s += 2;
        base = 16;
    } else if (base == 0) {
        base = s[0] == '0' ? 8 : 10;
    }
    unsigned long v = 0;
    bool any = false, overflow = false;
    for (;; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'z')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'Z')
            d = *s - 'A' + 10;
        else
            break;
        if (d >= base)
            break;
        any = true;
        if (v > (ULONG_MAX - (unsigned long)d) / (unsigned long)base)
            overflow = true;
        v = v * (unsigned long)base + (unsigned long)d;
    }
    if (endptr)
        *endptr = (char *)(any ? s : nptr);
    if (overflow)
        return ULONG_MAX;
    return neg ? -v : v;
}
