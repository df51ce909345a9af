/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-privileges"

#include <stdlib.h>
#include <string.h>

#include "pd-error.h"
#include "pd-privileges.h"

PdPrivilege *
pd_privilege_new (const char *name, const char *description, const char *const *values)
{
  PdPrivilege *privilege = g_new0 (PdPrivilege, 1);

  privilege->name = g_strdup (name != NULL ? name : "");
  privilege->description = g_strdup (description != NULL ? description : "");
  privilege->values = values != NULL ? g_strdupv ((GStrv) values) : g_new0 (char *, 1);
  return privilege;
}

void
pd_privilege_free (PdPrivilege *privilege)
{
  if (privilege == NULL)
    return;
  g_free (privilege->name);
  g_free (privilege->description);
  g_strfreev (privilege->values);
  g_free (privilege);
}

GPtrArray *
pd_privileges_compute (const PdPluginConfig *config, const PdPluginSettings *settings)
{
  GPtrArray *privileges = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  const char *net;

  g_return_val_if_fail (config != NULL, privileges);

  /* Docker's computePrivileges, in its order; "none" does count, as in Docker */
  net = config->network_type != NULL ? config->network_type : "";
  if (!g_str_equal (net, "") && !g_str_equal (net, "null") && !g_str_equal (net, "bridge"))
    {
      const char *values[] = { net, NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("network", "permissions to access a network",
                                                     values));
    }
  if (config->ipc_host)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("host ipc namespace",
                                                     "allow access to host ipc namespace", values));
    }
  if (config->pid_host)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("host pid namespace",
                                                     "allow access to host pid namespace", values));
    }
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const char *source = pd_plugin_settings_get_mount_source (settings, config, i);
      if (source != NULL)
        {
          const char *values[] = { source, NULL };
          g_ptr_array_add (privileges, pd_privilege_new ("mount", "host path to mount", values));
        }
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const char *path = pd_plugin_settings_get_device_path (settings, config, i);
      if (path != NULL)
        {
          const char *values[] = { path, NULL };
          g_ptr_array_add (privileges, pd_privilege_new ("device", "host device to access",
                                                         values));
        }
    }
  if (config->linux_allow_all_devices)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("allow-all-devices",
                                                     "allow 'rwm' access to all devices", values));
    }
  if (config->linux_capabilities != NULL && config->linux_capabilities[0] != NULL)
    g_ptr_array_add (privileges,
                     pd_privilege_new ("capabilities", "list of additional capabilities required",
                                       (const char *const *) config->linux_capabilities));
  return privileges;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static int
compare_strv (const char *const *a, const char *const *b)
{
  guint i;

  for (i = 0; a[i] != NULL && b[i] != NULL; i++)
    {
      int c = strcmp (a[i], b[i]);
      if (c != 0)
        return c;
    }
  if (a[i] == NULL && b[i] == NULL)
    return 0;
  return a[i] == NULL ? -1 : 1;
}

static int
compare_privileges (gconstpointer a, gconstpointer b)
{
  const PdPrivilege *pa = *(PdPrivilege *const *) a;
  const PdPrivilege *pb = *(PdPrivilege *const *) b;
  int c = strcmp (pa->name, pb->name);

  if (c != 0)
    return c;
  return compare_strv ((const char *const *) pa->values, (const char *const *) pb->values);
}

/* a sorted deep copy: values sorted, entries sorted by name then values, so that equal sets
 * compare equal whatever order the client sent them in */
static GPtrArray *
privileges_normalise (GPtrArray *privileges)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);

  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *p = privileges->pdata[i];
      PdPrivilege *copy = pd_privilege_new (p->name, NULL, (const char *const *) p->values);

      qsort (copy->values, g_strv_length (copy->values), sizeof (char *), compare_strings);
      g_ptr_array_add (out, copy);
    }
  g_ptr_array_sort (out, compare_privileges);
  return out;
}

gboolean
pd_privileges_equal (GPtrArray *a, GPtrArray *b)
{
  g_autoptr(GPtrArray) na = NULL;
  g_autoptr(GPtrArray) nb = NULL;

  if ((a != NULL ? a->len : 0) != (b != NULL ? b->len : 0))
    return FALSE;
  na = privileges_normalise (a);
  nb = privileges_normalise (b);
  /* every entry, from index 0: Docker's loop started at 1 (CVE-2026-33997) */
  for (guint i = 0; i < na->len; i++)
    if (compare_privileges (&na->pdata[i], &nb->pdata[i]) != 0)
      return FALSE;
  return TRUE;
}

char *
pd_privileges_to_string (GPtrArray *privileges)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *p = privileges->pdata[i];
      /* whole, not cut: this is what a user consents to, and what a call compares to what was
       * authorized */
      g_autofree char *name = pd_escape_untrusted_full (p->name, -1);

      if (i > 0)
        g_string_append (out, "; ");
      g_string_append_printf (out, "%s: ", name);
      /* values come from an untrusted config and end up in polkit dialogs and logs */
      for (guint j = 0; p->values != NULL && p->values[j] != NULL; j++)
        {
          g_autofree char *value = pd_escape_untrusted_full (p->values[j], -1);
          if (j > 0)
            g_string_append (out, ", ");
          g_string_append (out, value);
        }
    }
  return g_string_free (out, FALSE);
}

GVariant *
pd_privileges_to_variant (GPtrArray *privileges)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssas)"));
  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *privilege = privileges->pdata[i];
      const char *const empty[] = { NULL };

      g_variant_builder_add (&builder, "(ss^as)",
                             privilege->name != NULL ? privilege->name : "",
                             privilege->description != NULL ? privilege->description : "",
                             privilege->values != NULL ? (const char *const *) privilege->values
                                                       : empty);
    }
  return g_variant_builder_end (&builder);
}

GPtrArray *
pd_privileges_new_from_variant (GVariant *variant)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  GVariantIter iter;
  const char *name, *description;
  const char **values = NULL;

  g_return_val_if_fail (variant != NULL, out);
  g_return_val_if_fail (g_variant_is_of_type (variant, G_VARIANT_TYPE ("a(ssas)")), out);

  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "(&s&s^a&s)", &name, &description, &values))
    {
      g_ptr_array_add (out, pd_privilege_new (name, description, values));
      g_clear_pointer (&values, g_free);
    }
  return out;
}
