/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include "pd-registry.h"

/* host → GINT64 monotonic time it was last seen speaking plain HTTP */
G_LOCK_DEFINE_STATIC (plain_http_hosts);
static GHashTable *plain_http_hosts;
static PdRegistryMemoryNotify notify_func;
static gpointer notify_data;

gboolean
pd_registry_memory_is_plain_http (const char *host)
{
  gboolean found = FALSE;

  G_LOCK (plain_http_hosts);
  if (plain_http_hosts != NULL)
    {
      gint64 *seen = g_hash_table_lookup (plain_http_hosts, host);

      found = seen != NULL && g_get_monotonic_time () - *seen < PD_REGISTRY_PLAIN_HTTP_MEMORY_US;
    }
  G_UNLOCK (plain_http_hosts);
  return found;
}

/* under the lock */
static void
set_seen (const char *host, gint64 seen)
{
  if (plain_http_hosts == NULL)
    plain_http_hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* a bounded table: beyond its size, new hosts are not remembered (they pay an HTTPS try) */
  if (g_hash_table_size (plain_http_hosts) >= PD_REGISTRY_PLAIN_HTTP_MAX_HOSTS &&
      !g_hash_table_contains (plain_http_hosts, host))
    return;
  g_hash_table_replace (plain_http_hosts, g_strdup (host), g_memdup2 (&seen, sizeof seen));
}

void
pd_registry_memory_set_plain_http (const char *host, gboolean plain)
{
  G_LOCK (plain_http_hosts);
  if (plain)
    set_seen (host, g_get_monotonic_time ());
  else if (plain_http_hosts != NULL)
    g_hash_table_remove (plain_http_hosts, host);
  G_UNLOCK (plain_http_hosts);
  if (notify_func != NULL)
    notify_func (host, plain, notify_data);
}

void
pd_registry_memory_set_notify (PdRegistryMemoryNotify notify, gpointer data)
{
  notify_func = notify;
  notify_data = data;
}

GVariant *
pd_registry_memory_to_variant (void)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(sx)"));
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer host, seen;

  G_LOCK (plain_http_hosts);
  if (plain_http_hosts != NULL)
    {
      g_hash_table_iter_init (&iter, plain_http_hosts);
      while (g_hash_table_iter_next (&iter, &host, &seen))
        if (now - *(gint64 *) seen < PD_REGISTRY_PLAIN_HTTP_MEMORY_US)
          g_variant_builder_add (&builder, "(sx)", (const char *) host, now - *(gint64 *) seen);
    }
  G_UNLOCK (plain_http_hosts);
  return g_variant_builder_end (&builder);
}

void
pd_registry_memory_load (GVariant *hosts)
{
  gint64 now = g_get_monotonic_time ();
  GVariantIter iter;
  const char *host;
  gint64 age;

  g_variant_iter_init (&iter, hosts);
  G_LOCK (plain_http_hosts);
  while (g_variant_iter_next (&iter, "(&sx)", &host, &age))
    if (age >= 0 && age < PD_REGISTRY_PLAIN_HTTP_MEMORY_US)
      set_seen (host, now - age);
  G_UNLOCK (plain_http_hosts);
}
