# The embeddable server answers HTTP with libmicrohttpd. Its JSON is small
# and flat, written with hone_buf so every byte goes through the allocator
# seam (jansson's allocator is process-wide).
hone_module_deps(libmicrohttpd)

# The dashboard's files are compiled into the library (src/server/assets.h):
# src/server/assets/ plus dygraphs and its licence from Debian's
# libjs-dygraphs, which stays the one copy of dygraphs (none in this repo).
set(_hone_dygraphs_files /usr/share/javascript/dygraphs/dygraph.min.js
                         /usr/share/javascript/dygraphs/dygraph.min.css
                         /usr/share/doc/libjs-dygraphs/copyright)
foreach(_f IN LISTS _hone_dygraphs_files)
  if(NOT EXISTS ${_f})
    message(FATAL_ERROR "The server's dashboard needs ${_f}: install libjs-dygraphs (scripts/deps.sh)")
  endif()
endforeach()
set(_hone_assets_dir ${PROJECT_SOURCE_DIR}/src/server/assets)
set(_hone_assets
    "/|${_hone_assets_dir}/index.html"
    "/app.js|${_hone_assets_dir}/app.js"
    "/app.css|${_hone_assets_dir}/app.css"
    "/favicon.ico|${_hone_assets_dir}/favicon.ico"
    "/dygraph.min.js|/usr/share/javascript/dygraphs/dygraph.min.js"
    "/dygraph.min.css|/usr/share/javascript/dygraphs/dygraph.min.css"
    "/licenses/dygraphs.txt|/usr/share/doc/libjs-dygraphs/copyright")
set(_hone_assets_c ${PROJECT_BINARY_DIR}/generated/server_assets.c)
# Every file in the folder is a dependency, so a new one that is not in the
# list above still reruns the generation (and a missing one fails it).
file(GLOB _hone_assets_files CONFIGURE_DEPENDS ${_hone_assets_dir}/*)
add_custom_command(OUTPUT ${_hone_assets_c}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/generated
                   COMMAND ${CMAKE_COMMAND} "-DOUT=${_hone_assets_c}" "-DASSETS=${_hone_assets}"
                           -P ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
                   DEPENDS ${_hone_assets_files} ${_hone_dygraphs_files}
                           ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
                   COMMENT "Embedding the server's dashboard assets" VERBATIM)
set(HONE_GENERATED_SOURCES ${_hone_assets_c})
