/*
 * ternctl_stats - "ternctl stats": the counters ternd and queued answer
 * with ("name value" lines), printed as text, JSON or Prometheus text
 * format (for node_exporter's textfile collector).
 */
#ifndef TERN_TERNCTL_STATS_H
#define TERN_TERNCTL_STATS_H

#include <stdio.h>

enum stats_format { STATS_TEXT, STATS_JSON, STATS_PROMETHEUS };

/*
 * ternctl_stats_print - the "name value" lines in text (NUL-terminated)
 * on fp in format; lines of names it does not know are left out.
 * 0, or -1 when a line is not "name value".
 */
int ternctl_stats_print(FILE *fp, const char *text, enum stats_format f);

#endif
