# The cache module reads xz- and zstd-compressed traces, and hashes keys with
# XXH3 keyed per cache (libxxhash's header, inlined). Its disk tier and the
# file-validated cache are LMDB files; its shared tier talks to Redis through
# hiredis.
hone_module_deps(liblzma libzstd libxxhash lmdb hiredis)
