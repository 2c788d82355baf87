# hash: SHA-256 through OpenSSL's libcrypto, XXH3 through libxxhash; BLAKE3
# is hone's own. The SIMD paths of BLAKE3 are compiled with their target
# flags file by file and chosen at run time, so libhone still runs on CPUs
# without them.
hone_module_deps(libcrypto libxxhash)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/blake3_sse41.c PROPERTIES COMPILE_OPTIONS "-msse4.1")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/blake3_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2")
  # -O3 unrolls the message loads and transposes of the 32-lane kernel
  # (about 5% on bench/hash's kernel figure, docs/design/hash.md).
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/blake3_avx512.c PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512vl;-mavx2;-O3")
endif()
# Debian's libxxhash is built with xxHash's x86 dispatcher (SSE2, AVX2 and
# AVX-512 chosen at run time); use its *_dispatch entry points when the
# library has them, as xxhsum does, or XXH3 runs at SSE2 speed.
include(CheckLibraryExists)
check_library_exists(xxhash XXH3_64bits_update_dispatch "" HONE_HAVE_XXH_DISPATCH)
if(HONE_HAVE_XXH_DISPATCH)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/hash.c APPEND PROPERTY COMPILE_DEFINITIONS HONE_HAVE_XXH_DISPATCH=1)
endif()
