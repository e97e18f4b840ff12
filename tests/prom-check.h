/* streamsight tests — a validator for the Prometheus text exposition format
 * 0.0.4, with the rules `promtool check metrics` applies (and a few of its
 * lints made errors):
 *
 * - every line ends with '\n'; comments are "# HELP name text",
 *   "# TYPE name type" or free text;
 * - metric names match [a-zA-Z_:][a-zA-Z0-9_:]* and are snake_case (no
 *   upper case); label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start
 *   with "__"; label values are double-quoted with only \\, \" and \n as
 *   escapes; no label twice in one sample;
 * - every family has one HELP and one TYPE (counter, gauge, histogram,
 *   summary, untyped), the TYPE before its first sample; a family's samples
 *   are contiguous; counters are named ..._total and are >= 0;
 * - values are floats ("+Inf", "-Inf", "NaN" included), an optional
 *   timestamp an integer;
 * - no series (name and label set) twice;
 * - histograms: name_bucket samples carry "le" (a float or "+Inf"), in
 *   increasing order with non-decreasing counts, ending with "+Inf", whose
 *   count equals name_count; name_sum and name_count present for each label
 *   set; "le" appears nowhere else.
 */
#ifndef SS_PROM_CHECK_H
#define SS_PROM_CHECK_H

#include <glib.h>

/* NULL when text (len bytes) is valid; else a new string naming the first
 * problem and its line ("line 12: counter 'x' must end in _total"). Where
 * Prometheus' promtool is installed (Debian's prometheus package, or
 * $SS_PROMTOOL), the text must also pass `promtool check metrics`. */
char *prom_check(const char *text, gsize len);

/* The value of the sample named name whose labels are exactly labels
 * (written as in the exposition, in order: "stream=\"a\",stage=\"e2e\"", or
 * "" for none, label values unescaped by the caller's literal); FALSE when
 * there is no such sample. */
gboolean prom_find(const char *text, const char *name, const char *labels,
                   double *value);

#endif
