/* arena.c - bump allocation in chunks, with a reset that keeps the
 * memory for the next request. */
#include "hone/mem.h"

#include <stdint.h>

typedef struct achunk {
    struct achunk *next;
    size_t size, used;
    int oversized;
    char pad[4];
    _Alignas(16) char data[];
} achunk;

struct hone_arena {
    const hone_allocator *alloc;
    size_t chunk_size;
    achunk *first, *cur;
    size_t used; /* bytes handed out since reset (padding included) */
};

int hone_arena_new(hone_arena **out, const hone_arena_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone_allocator *al = opts ? opts->alloc : NULL;
    hone_arena *a = hone_calloc(al, 1, sizeof *a);
    if (!a) return HONE_ENOMEM;
    a->alloc = al;
    a->chunk_size = opts && opts->chunk_size ? opts->chunk_size : 65536;
    *out = a;
    return HONE_OK;
}

static void *bump(achunk *c, size_t size, size_t align, size_t *added) {
    uintptr_t base = (uintptr_t)c->data;
    uintptr_t p = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
    size_t off = (size_t)(p - base);
    if (off > c->size || c->size - off < size) return NULL;
    *added = off + size - c->used;
    c->used = off + size;
    return (void *)p;
}

void *hone_arena_alloc(hone_arena *a, size_t size, size_t align) {
    if (!a) return NULL;
    if (!align) align = 16;
    if (align & (align - 1) || align > 4096 || size > SIZE_MAX / 2) return NULL;
    size_t added = 0;
    void *r;
    for (; a->cur; a->cur = a->cur->next) {
        if ((r = bump(a->cur, size, align, &added))) {
            a->used += added;
            return r;
        }
        if (!a->cur->next) break;
    }
    size_t need = size + align;
    int over = need > a->chunk_size;
    size_t csize = over ? need : a->chunk_size;
    achunk *c = hone_malloc(a->alloc, sizeof *c + csize);
    if (!c) return NULL;
    c->size = csize;
    c->used = 0;
    c->oversized = over;
    /* Link after the current chunk (or first), keeping later reusable
     * chunks in the list. */
    if (a->cur) {
        c->next = a->cur->next;
        a->cur->next = c;
    } else {
        c->next = a->first;
        a->first = c;
    }
    a->cur = c;
    r = bump(c, size, align, &added);
    a->used += added;
    return r;
}

void hone_arena_reset(hone_arena *a) {
    if (!a) return;
    achunk **pp = &a->first;
    while (*pp) {
        achunk *c = *pp;
        if (c->oversized) {
            *pp = c->next;
            hone_free(a->alloc, c);
        } else {
            c->used = 0;
            pp = &c->next;
        }
    }
    a->cur = a->first;
    a->used = 0;
}

size_t hone_arena_used(const hone_arena *a) { return a ? a->used : 0; }

size_t hone_arena_reserved(const hone_arena *a) {
    size_t n = 0;
    for (const achunk *c = a ? a->first : NULL; c; c = c->next) n += c->size;
    return n;
}

void hone_arena_free(hone_arena *a) {
    if (!a) return;
    for (achunk *c = a->first, *n; c; c = n) {
        n = c->next;
        hone_free(a->alloc, c);
    }
    hone_free(a->alloc, a);
}
