/* metrics_internal.h - what the files of the metrics module share. */
#ifndef HONE_METRICS_INTERNAL_H
#define HONE_METRICS_INTERNAL_H

#include "hone/metrics.h"

/* Stores cur as m's last process reading; copies the previous one to prev
 * and returns 1 if there was one. Thread-safe. */
int hone__metrics_last_process(hone_metrics *m, const hone_process_stats *cur, hone_process_stats *prev);

#endif
