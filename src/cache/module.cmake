# The cache module reads xz- and zstd-compressed traces.
hone_module_deps(liblzma libzstd)
