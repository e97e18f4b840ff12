/* streamsight — register, on one thread, the types the stream pipelines'
 * threads would otherwise register on first use all at once.
 *
 * GLib's type system can deadlock when two threads meet a type for the
 * first time together: one thread registers a type inside its get_type()
 * once-guard and, to add an interface, waits for the class-init lock; the
 * other holds that lock while a class_init it runs calls the same
 * get_type() and waits for the once-guard. Seen for real: the main loop
 * loading the soup plugin for an HTTP camera (g_socket_get_type ->
 * g_socket_address_get_type -> g_type_add_interface_static) while an RTSP
 * camera's task thread created its first connection (g_type_class_ref ->
 * ... -> g_socket_address_get_type): the main loop stopped for good and
 * the watchdog ended the process 30 s later. It only happens in a fresh
 * process, when an RTSP and an HTTP camera start within the same
 * milliseconds: which is what a config with both kinds does at start.
 */
#ifndef SS_TYPE_WARMUP_H
#define SS_TYPE_WARMUP_H

#include <glib.h>

G_BEGIN_DECLS

/* Loads the plugins of the elements stream pipelines use and initialises
 * their classes, and those of the GIO networking types they reach, on the
 * calling thread. Call after gst_init() and before any pipeline exists (the
 * registry does, when it is created); later calls return at once. Elements
 * that are not installed are skipped: building a pipeline reports those. */
void pipeline_types_warm_up(void);

G_END_DECLS

#endif
