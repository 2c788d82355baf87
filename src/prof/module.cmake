hone_module_deps(jansson)
