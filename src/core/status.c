/* status.c - the status enum's names and messages, version, hone_error. */
#include "hone/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

unsigned hone_version(void) { return HONE_VERSION_HEX; }

const char *hone_version_string(void) { return HONE_VERSION_STRING; }

const char *hone_strerror(int status) {
    switch (status) {
#define X(name, num, msg) \
    case HONE_##name:     \
        return msg;
        HONE_STATUS_MAP(X)
#undef X
    }
    return "unknown status";
}

const char *hone_status_name(int status) {
    switch (status) {
#define X(name, num, msg) \
    case HONE_##name:     \
        return "HONE_" #name;
        HONE_STATUS_MAP(X)
#undef X
    }
    return "HONE_UNKNOWN";
}

int hone_status_from_errno(int err) {
    switch (err) {
    case 0: return HONE_OK;
    case EINVAL: return HONE_EINVAL;
    case ENOMEM: return HONE_ENOMEM;
    case ETIMEDOUT: return HONE_ETIMEDOUT;
    case ECANCELED: return HONE_ECANCELED;
    case ENOENT: case ENOTDIR: return HONE_ENOTFOUND;
    case EAGAIN: case EBUSY: return HONE_EBUSY;
    case EACCES: case EPERM: return HONE_EACCES;
    case EEXIST: return HONE_EEXIST;
    case ERANGE: case EOVERFLOW: return HONE_ERANGE;
    case ENOTSUP: return HONE_ENOTSUP;
    default: return HONE_EIO;
    }
}

/* Formats into err->msg and keeps it one line: a value quoted into the
 * message (a file name, an option's argument) may hold a newline or an
 * escape sequence, which are shown escaped ("\n", "\x1b"), never raw. */
static void format_msg(hone_error *err, const char *fmt, va_list ap) {
    char raw[sizeof err->msg];
    vsnprintf(raw, sizeof raw, fmt, ap);
    size_t o = 0;
    for (const char *p = raw; *p && o + 1 < sizeof err->msg; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 0x20 && ch != 0x7f) {
            err->msg[o++] = (char)ch;
            continue;
        }
        char esc[5];
        int n = ch == '\n' ? snprintf(esc, sizeof esc, "\\n")
                : ch == '\r' ? snprintf(esc, sizeof esc, "\\r")
                : ch == '\t' ? snprintf(esc, sizeof esc, "\\t")
                              : snprintf(esc, sizeof esc, "\\x%02x", ch);
        if (o + (size_t)n + 1 > sizeof err->msg) break;
        memcpy(err->msg + o, esc, (size_t)n);
        o += (size_t)n;
    }
    err->msg[o] = '\0';
}

int hone_error_set(hone_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        err->code = code;
        err->line = 0;
        err->col = 0;
        err->offset = UINT64_MAX;
        va_start(ap, fmt);
        format_msg(err, fmt, ap);
        va_end(ap);
    }
    return code;
}

int hone_error_set_at(hone_error *err, int code, long line, long col, long long offset,
                      const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        format_msg(err, fmt, ap);
        va_end(ap);
        err->code = code;
        err->line = line > 0 ? (uint64_t)line : 0;
        err->col = col > 0 ? (uint64_t)col : 0;
        err->offset = offset >= 0 ? (uint64_t)offset : UINT64_MAX;
    }
    return code;
}
