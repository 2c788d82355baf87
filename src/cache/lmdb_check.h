/* lmdb_check.h - what hone's LMDB stores (the manifest index, the disk
 * tier, the file-validated cache) share; not part of the API. */
#ifndef HONE_CACHE_LMDB_CHECK_H
#define HONE_CACHE_LMDB_CHECK_H

#include <lmdb.h>

#include "hone/core.h"

/* An LMDB return code as a hone status: MDB_NOTFOUND is HONE_ENOTFOUND,
 * damaged or foreign files HONE_ECORRUPT, MDB_MAP_FULL HONE_ERANGE,
 * MDB_KEYEXIST HONE_EEXIST, errno values through hone_status_from_errno. */
int hone__lmdb_status(int rc);

/* Before LMDB opens path (a database made with MDB_NOSUBDIR): it must be a
 * regular file, empty (LMDB then makes a new database) or with two good
 * meta pages whose last page lies inside it; its lock file, if any, a
 * regular file. Returns HONE_OK; HONE_ECORRUPT; or, when the file cannot
 * be looked at or read (no permission, a file where a directory should
 * be), the status of that failure (HONE_EACCES, HONE_EIO): such a file is
 * not damaged and must not be moved aside. */
int hone__lmdb_precheck(const char *path);

/* Checks both meta pages of the open environment and every page of both
 * of their trees (main and free-page databases) through a map of the file
 * of its own: page numbers, types and bounds, node offsets and sizes,
 * children and overflow pages inside the file and met once, leaves at the
 * recorded depth, the recorded counts. The main database must be a plain
 * one: no flags, no sub-databases, no duplicates. Call it inside a write
 * transaction (LMDB's writer lock keeps the file still). Returns HONE_OK,
 * HONE_ECORRUPT or HONE_ENOMEM. */
int hone__lmdb_validate(MDB_env *env, const hone_allocator *a);

#endif
