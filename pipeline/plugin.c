/* streamsight — static registration of our GStreamer elements.
 *
 * The elements live in the binary, not in a plugin file: after gst_init(),
 * streamsight_sink_register() registers a static plugin whose init function
 * adds streamsightsink to the registry, so pipeline descriptions can name it.
 */
#include "streamsight-sink.h"

#ifndef STREAMSIGHT_VERSION /* set by meson from the project version */
#define STREAMSIGHT_VERSION "0.0.0"
#endif

/* The project's licence (Apache-2.0). GStreamer accepts "Apache 2.0" from
 * 1.22, the version we build against; older cores reject unknown strings,
 * so fall back to "unknown", which every version accepts. */
#if GST_CHECK_VERSION(1, 22, 0)
#define STREAMSIGHT_PLUGIN_LICENSE "Apache 2.0"
#else
#define STREAMSIGHT_PLUGIN_LICENSE GST_LICENSE_UNKNOWN
#endif

static gboolean
plugin_init(GstPlugin *plugin)
{
  return gst_element_register(plugin, "streamsightsink", GST_RANK_NONE,
                              STREAMSIGHT_TYPE_SINK);
}

gboolean
streamsight_sink_register(void)
{
  /* Registering twice would add a second plugin of the same name. */
  static gsize done = 0;
  static gboolean ok = FALSE;
  if (g_once_init_enter(&done)) {
    ok = gst_plugin_register_static(
        GST_VERSION_MAJOR, GST_VERSION_MINOR, "streamsight",
        "streamsight's in-tree elements", plugin_init, STREAMSIGHT_VERSION,
        STREAMSIGHT_PLUGIN_LICENSE, "streamsight", "streamsight",
        "in-tree (not a loadable plugin)");
    g_once_init_leave(&done, 1);
  }
  return ok;
}
