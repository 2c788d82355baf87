# opt: the config file (hone.ini) is INI, read with Debian's libinih
# (libinih-dev, pkg-config name inih) through its ini_parse_stream, so
# that config.c's own reader knows each value's line.
hone_module_deps(inih)
