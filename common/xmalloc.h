/*
 * xmalloc - allocation that cannot fail: out of memory ends the process
 * through fatal().  The caller owns (and frees) what these return.
 */
#ifndef TERN_XMALLOC_H
#define TERN_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - formatted string in a new allocation */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
