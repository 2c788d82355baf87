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

int hone_error_set(hone_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        err->code = code;
        err->line = 0;
        err->col = 0;
        err->offset = UINT64_MAX;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int hone_error_set_at(hone_error *err, int code, long line, long col, long long offset,
                      const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
        err->line = line > 0 ? (uint64_t)line : 0;
        err->col = col > 0 ? (uint64_t)col : 0;
        err->offset = offset >= 0 ? (uint64_t)offset : UINT64_MAX;
    }
    return code;
}
