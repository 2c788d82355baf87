# The cache module reads xz- and zstd-compressed traces, and hashes keys with
# XXH3 keyed per cache (libxxhash's header, inlined).
hone_module_deps(liblzma libzstd libxxhash)
