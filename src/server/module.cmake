# The embeddable server answers HTTP with libmicrohttpd. Its JSON is small
# and flat, written with hone_buf so every byte goes through the allocator
# seam (jansson's allocator is process-wide).
hone_module_deps(libmicrohttpd)
