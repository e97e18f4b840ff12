/* streamsight — error reporting for plain-C modules.
 *
 * Functions return 0 on success and a negative SS_E* code on failure; callers
 * that want the reason pass an optional struct ss_error (NULL is allowed). The
 * message names the offending thing precisely, e.g.
 * "tensor 'conv1.weight': end offset 4096 > data size 4000".
 */
#ifndef SS_ERROR_H
#define SS_ERROR_H

#include <stddef.h>

enum ss_error_code {
  SS_OK = 0,
  SS_EINVAL = -1,    /* bad argument or malformed input */
  SS_ENOMEM = -2,    /* allocation failed */
  SS_EIO = -3,       /* file could not be read */
  SS_EFORMAT = -4,   /* file is not of the expected format, or is corrupt */
  SS_EUNSUPPORTED = -5, /* well-formed but uses something we do not implement */
  SS_EMISMATCH = -6, /* shapes or names do not match the architecture */
  SS_ERANGE = -7,    /* a limit was exceeded */
};

struct ss_error {
  int code;
  char message[512];
};

/* Records code and a printf-style message in err (if not NULL) and returns
 * code, so that callers can write `return ss_error_set(err, SS_EINVAL, ...)`. */
int ss_error_set(struct ss_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (for adding context on the way
 * up, e.g. the file name). Returns err->code, or code if err is NULL. */
int ss_error_prefix(struct ss_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short constant name for a code ("invalid argument", ...). */
const char *ss_error_name(int code);

#endif
