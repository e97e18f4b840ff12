#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
ss_error_set(struct ss_error *err, int code, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

int
ss_error_prefix(struct ss_error *err, int code, const char *fmt, ...)
{
  if (!err)
    return code;
  char prefix[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char old[sizeof err->message];
  memcpy(old, err->message, sizeof old);
  /* Truncation is acceptable: the start of the message says the most. */
  int n = snprintf(err->message, sizeof err->message, "%s: ", prefix);
  if (n > 0 && (size_t)n < sizeof err->message)
    snprintf(err->message + n, sizeof err->message - (size_t)n, "%s", old);
  if (err->code == 0)
    err->code = code;
  return err->code;
}

const char *
ss_error_name(int code)
{
  switch (code) {
  case SS_OK: return "ok";
  case SS_EINVAL: return "invalid argument";
  case SS_ENOMEM: return "out of memory";
  case SS_EIO: return "i/o error";
  case SS_EFORMAT: return "bad format";
  case SS_EUNSUPPORTED: return "unsupported";
  case SS_EMISMATCH: return "mismatch";
  case SS_ERANGE: return "out of range";
  }
  return "unknown error";
}
