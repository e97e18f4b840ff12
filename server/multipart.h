/* streamsight — the pieces of multipart/form-data (RFC 7578) the uploads
 * need: the first file part of a request body (POST /api/v1/classify) and
 * a text field (the class of a head's example).
 *
 * Pure and allocation-free over the caller's buffers; any thread.
 */
#ifndef SS_MULTIPART_H
#define SS_MULTIPART_H

#include <glib.h>

G_BEGIN_DECLS

#define MULTIPART_ERROR (multipart_error_quark())
GQuark multipart_error_quark(void);
typedef enum {
  MULTIPART_ERROR_INVALID, /* bad boundary, no parts, truncated body */
  MULTIPART_ERROR_NO_FILE, /* well-formed, but no part is a file */
} MultipartError;

/* Longest boundary RFC 2046 allows. */
#define MULTIPART_BOUNDARY_MAX 70

/* TRUE when content_type is multipart/form-data (any parameters). */
gboolean multipart_is_form_data(const char *content_type);

/* Finds the first file part of body (len bytes): the first part whose
 * Content-Disposition has a filename parameter or, when no part has one,
 * the first part whose Content-Type is image/... content_type is the
 * request's Content-Type, whose boundary parameter (quoted or not) delimits
 * the parts. Delimiter lines end in CRLF (a bare LF is accepted too). On
 * success *data and *data_len point into body (borrowed) and *part_type (if not
 * NULL) is the part's Content-Type value as a new string, or NULL. Errors
 * say what is wrong without quoting the body. */
gboolean multipart_first_file(const char *content_type, const guint8 *body,
                              gsize len, const guint8 **data, gsize *data_len,
                              char **part_type, GError **error);

/* The value of the text field called name (a part whose
 * Content-Disposition has name="<name>" and no filename): *value is a new
 * string (g_free), or NULL when there is no such field. Fails for a
 * malformed body, a value over max_len bytes, or one that is not UTF-8
 * text. */
gboolean multipart_field(const char *content_type, const guint8 *body,
                         gsize len, const char *name, gsize max_len,
                         char **value, GError **error);

G_END_DECLS

#endif
