/* alloc.c - the allocator seam and the growable buffer built on it. */
#include "hone/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *libc_malloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void *libc_realloc(void *ctx, void *p, size_t n) { (void)ctx; return realloc(p, n); }
static void libc_free(void *ctx, void *p) { (void)ctx; free(p); }

static const hone_allocator libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};
static hone_allocator default_allocator = {libc_malloc, libc_realloc, libc_free, NULL};

int hone_allocator_set_default(const hone_allocator *a) {
    if (!a) {
        default_allocator = libc_allocator;
        return HONE_OK;
    }
    if (!a->malloc || !a->realloc || !a->free) return HONE_EINVAL;
    default_allocator = *a;
    return HONE_OK;
}

const hone_allocator *hone_allocator_default(void) { return &default_allocator; }

void *hone_malloc(const hone_allocator *a, size_t size) {
    if (!a) a = &default_allocator;
    return a->malloc(a->ctx, size ? size : 1);
}

void *hone_calloc(const hone_allocator *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = hone_malloc(a, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void *hone_realloc(const hone_allocator *a, void *ptr, size_t size) {
    if (!a) a = &default_allocator;
    return a->realloc(a->ctx, ptr, size ? size : 1);
}

void hone_free(const hone_allocator *a, void *ptr) {
    if (!ptr) return;
    if (!a) a = &default_allocator;
    a->free(a->ctx, ptr);
}

char *hone_strndup(const hone_allocator *a, const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = hone_malloc(a, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *hone_strdup(const hone_allocator *a, const char *s) { return hone_strndup(a, s, SIZE_MAX); }

void hone_buf_init(hone_buf *b, const hone_allocator *a) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->alloc = a;
}

int hone_buf_reserve(hone_buf *b, size_t n) {
    if (n > SIZE_MAX - b->len - 1) return HONE_ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return HONE_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = hone_realloc(b->alloc, b->data, cap);
    if (!p) return HONE_ENOMEM;
    if (!b->data) p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return HONE_OK;
}

int hone_buf_append(hone_buf *b, const void *data, size_t n) {
    int rc = hone_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return HONE_OK;
}

int hone_buf_puts(hone_buf *b, const char *s) { return hone_buf_append(b, s, strlen(s)); }

int hone_buf_vprintf(hone_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return HONE_EINVAL;
    if ((size_t)n < sizeof small) return hone_buf_append(b, small, (size_t)n);
    int rc = hone_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return HONE_OK;
}

int hone_buf_printf(hone_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = hone_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void hone_buf_clear(hone_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void hone_buf_free(hone_buf *b) {
    hone_free(b->alloc, b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none
 * (overlong forms, surrogates and code points above U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t k;
    uint32_t c;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) k = 2, c = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) k = 3, c = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) k = 4, c = s[0] & 0x07;
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
        (k == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return k;
}

int hone_buf_json_string(hone_buf *b, const char *str) {
    if (!str) return hone_buf_puts(b, "null");
    int rc = hone_buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)str;
    size_t n = strlen(str);
    while (n && !rc) {
        size_t k = utf8_len(p, n);
        if (*p == '"' || *p == '\\') rc = hone_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) rc = hone_buf_printf(b, "\\u%04x", *p);
        else if (k) rc = hone_buf_append(b, p, k);
        else rc = hone_buf_puts(b, "\\ufffd");
        if (!k) k = 1;
        p += k;
        n -= k;
    }
    return rc ? rc : hone_buf_puts(b, "\"");
}
