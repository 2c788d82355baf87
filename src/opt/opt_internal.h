/* opt_internal.h - what the optimizer's files share and do not publish. */
#ifndef HONE_OPT_INTERNAL_H
#define HONE_OPT_INTERNAL_H

#include "hone/opt.h"

/* config.c keeps a list of the component names that have a value of their
 * own in some layer, because core's table resolves a component's value but
 * does not list the components. hone_opt_status prints a row for each
 * (component, setting) noted here that resolves to the component's own
 * value. hone_opt_set and the file loader note theirs; code that sets a
 * component value in another layer (the journal's replay into the auto
 * layer) calls this so its rows appear too. A name longer than
 * HONE_OPT_COMPONENT_MAX bytes, or more than HONE_OPT_COMPONENTS distinct
 * names, is HONE_ERANGE. Thread-safe; allocates nothing. */
#define HONE_OPT_COMPONENT_MAX 63
#define HONE_OPT_COMPONENTS 256
int hone_opt__note_component(int id, const char *component);

/* One physical line of hone.ini (without its newline), as both readers of
 * the file (the settings loader and the alerts loader) hand it to inih: a
 * CR before the newline, a UTF-8 BOM on the first line, leading blanks, an
 * inline comment (# or ; after a blank) and trailing blanks dropped. *line
 * moves past what is dropped at the front; returns the length kept. */
#include <stddef.h>
size_t hone__ini_trim(const char **line, size_t len, int first);

#endif
