# The io module stores its incremental index in LMDB, parses JSON manifests
# with jansson, and hashes through the hash module (OpenSSL, libxxhash).
hone_module_deps(lmdb jansson)
