# The http module is a client on libcurl. libmicrohttpd is not used by the
# library itself: it is the loopback server of `hone demo`'s http step, of
# tests/http and of bench/http, which all link ${HONE_DEP_LIBS}; listing it
# here is how those three get it without a rule of their own (see
# docs/design/http.md for what that costs and why it is accepted).
hone_module_deps(libcurl libmicrohttpd)
