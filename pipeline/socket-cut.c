/* streamsight — shutting down this process's TCP connections to one peer
 * (see socket-cut.h). */
#define G_LOG_DOMAIN "streamsight"

#include "socket-cut.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* TRUE when sa (a peer address) is one of addrs at port. */
static gboolean
peer_matches(const struct sockaddr_storage *sa, GList *addrs, guint16 port)
{
  const guint8 *bytes;
  gsize len;
  guint16 peer_port;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    bytes = (const guint8 *)&in->sin_addr;
    len = sizeof in->sin_addr;
    peer_port = g_ntohs(in->sin_port);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    bytes = (const guint8 *)&in6->sin6_addr;
    len = sizeof in6->sin6_addr;
    peer_port = g_ntohs(in6->sin6_port);
  } else {
    return FALSE;
  }
  if (peer_port != port)
    return FALSE;
  for (GList *l = addrs; l; l = l->next) {
    GInetAddress *a = l->data;
    if (g_inet_address_get_native_size(a) == len &&
        memcmp(g_inet_address_to_bytes(a), bytes, len) == 0)
      return TRUE;
  }
  return FALSE;
}

static GList *
resolve(const char *host)
{
  GInetAddress *a = g_inet_address_new_from_string(host);
  GResolver *res;
  GList *list;
  if (a)
    return g_list_prepend(NULL, a);
  res = g_resolver_get_default();
  list = g_resolver_lookup_by_name(res, host, NULL, NULL);
  g_object_unref(res);
  return list;
}

guint
socket_cut_peer(const char *host, guint16 port)
{
  GList *addrs = resolve(host);
  DIR *dir;
  struct dirent *de;
  guint n = 0;
  if (!addrs)
    return 0;
  dir = opendir("/proc/self/fd");
  if (!dir) {
    g_resolver_free_addresses(addrs);
    return 0;
  }
  while ((de = readdir(dir))) {
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int type = 0;
    socklen_t tl = sizeof type;
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || end == de->d_name || fd < 0 || fd == dirfd(dir))
      continue;
    if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
        type != SOCK_STREAM)
      continue;
    if (getpeername((int)fd, (struct sockaddr *)&sa, &sl) != 0 ||
        !peer_matches(&sa, addrs, port))
      continue;
    if (shutdown((int)fd, SHUT_RDWR) == 0)
      n++;
  }
  closedir(dir);
  g_resolver_free_addresses(addrs);
  return n;
}
