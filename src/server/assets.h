/* assets.h - the dashboard's static files, embedded into the library at
 * build time (src/server/module.cmake runs cmake/embed_assets.cmake over
 * src/server/assets/ and the installed libjs-dygraphs files, writing
 * generated/server_assets.c in the build directory). The server serves
 * them read-only at exact paths; nothing is read from disk at run time, so
 * a program that embeds the server needs no files installed beside it. */
#ifndef HONE_SERVER_ASSETS_H
#define HONE_SERVER_ASSETS_H

#include <stddef.h>

typedef struct hone__asset {
    const char *path;          /* "/", "/app.js", "/licenses/dygraphs.txt", ... */
    const char *ctype;         /* Content-Type, with "; charset=utf-8" for text */
    const unsigned char *data; /* len bytes, followed by one NUL not counted in len */
    size_t len;
} hone__asset;

/* The asset at exactly `path` ("/" is index.html), or NULL (also for a
 * NULL path). No decoding and no normalisation: "/index.html", "//app.js"
 * and "/app.js?x" are not assets. The table is static and immutable, so
 * the returned pointer stays valid for the life of the process and the
 * call is thread-safe. */
const hone__asset *hone__asset_find(const char *path);

/* The whole table, for tests and listings: *n gets its length. */
const hone__asset *hone__assets(size_t *n);

#endif
