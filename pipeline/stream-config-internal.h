/* streamsight — what stream-config-uri.c (credentials in URIs) and
 * stream-config-validate.c (validation) share: a URI's anatomy. Not an API.
 */
#ifndef SS_STREAM_CONFIG_INTERNAL_H
#define SS_STREAM_CONFIG_INTERNAL_H

#include "stream-config.h"

G_BEGIN_DECLS

/* Offsets into a URI: [0, scheme_end) is the scheme; when has_authority,
 * [auth, auth_end) is the authority (after "://"), of which [auth, at) is
 * the userinfo when at > auth ("at" points at the '@', or equals auth). */
typedef struct {
  gsize scheme_end;
  gboolean has_authority;
  gsize auth, auth_end, at;
} UriParts;

/* Standard split (RFC 3986 §3.2: the authority ends at the first '/', '?' or
 * '#'; the userinfo ends at its last '@'). FALSE when uri has no scheme. */
gboolean stream_config_uri_parts(const char *uri, UriParts *p);
/* Where the part to redact ends (the '@'), or 0 when there is none. */
gsize stream_config_uri_redact_end(const char *uri, gsize len,
                                   const UriParts *p);

G_END_DECLS

#endif /* SS_STREAM_CONFIG_INTERNAL_H */
