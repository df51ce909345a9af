/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugind-transfer: the registry, archive and SHA-256 work of one job of the daemon, in a
 * process of its own (docs/design.md, section "The transfer helper"), so that the daemon maps
 * none of libsoup, libarchive and libcrypto. Started by the daemon with one verb; the request
 * (credentials included) comes over the socket on fd 3 (pd-transfer-wire.h), and so do the
 * progress, log lines and the result or error it sends back. It dies with the daemon
 * (PR_SET_PDEATHSIG, set before exec) and is killed when its job is cancelled.
 */
#include "config.h"

#define G_LOG_DOMAIN "plugind-transfer"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "pd-error.h"
#include "pd-pull.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-transfer-wire.h"

typedef struct {
  int socket;
  GVariant *request;
  GArray *fds;
} Helper;

static void
send_or_die (Helper *helper, const char *kind, GVariant *fields)
{
  g_autoptr(GError) error = NULL;

  /* the daemon is gone, or it dropped this job: nothing left to do */
  if (!pd_transfer_write (helper->socket, kind, fields, NULL, 0, &error))
    {
      g_debug ("%s", error->message);
      _exit (2);
    }
}

static void
log_cb (const char *line, gpointer user_data)
{
  Helper *helper = user_data;
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&fields, "{sv}", "line", g_variant_new_string (line));
  send_or_die (helper, "log", g_variant_builder_end (&fields));
}

static const char *
optional_string (GVariant *fields, const char *name)
{
  const char *text = NULL;

  if (!g_variant_lookup (fields, name, "&s", &text) || *text == '\0')
    return NULL;
  return text;
}

/* the registry client of the request: its reference, configuration and credentials */
static PdRegistryClient *
request_client (Helper *helper, gboolean push, PdReference **ref_out, GError **error)
{
  g_autoptr(PdDaemonConfig) config = pd_transfer_get_registry_config (helper->request, error);
  g_autoptr(PdReference) ref = NULL;
  PdRegistryClient *client;
  const char *text;

  if (config == NULL)
    return NULL;
  text = pd_transfer_lookup_string (helper->request, "reference", 4096, error);
  if (text == NULL)
    return NULL;
  ref = pd_reference_parse (text, error);
  if (ref == NULL)
    return NULL;
  client = pd_registry_client_new (config, ref, optional_string (helper->request,
                                                                 "registry-auth"),
                                   push, error);
  if (client == NULL)
    return NULL;
  pd_registry_client_set_log_func (client, log_cb, helper);
  *ref_out = g_steal_pointer (&ref);
  return client;
}

/* resolve: the manifest and config a reference names (GetPrivileges) */
static GVariant *
run_resolve (Helper *helper, GError **error)
{
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(PdRegistryClient) client = request_client (helper, FALSE, &ref, error);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  if (client == NULL)
    return NULL;
  remote = pd_pull_resolve (client, ref, optional_string (helper->request, "platform"),
                            optional_string (helper->request, "expected-digest"), NULL, error);
  if (remote == NULL)
    return NULL;
  pd_transfer_add_remote (&fields, remote);
  return g_variant_builder_end (&fields);
}

int
main (int argc, char **argv)
{
  Helper helper = { .socket = PD_TRANSFER_SOCKET_FD };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) message = NULL;
  g_autoptr(GVariant) result = NULL;
  const char *kind;

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s VERB (started by plugind, which sends the request on fd %d)\n",
               argv[0], PD_TRANSFER_SOCKET_FD);
      return 2;
    }
  if (fcntl (helper.socket, F_SETFD, FD_CLOEXEC) != 0)
    {
      fprintf (stderr, "%s: no socket on fd %d\n", argv[0], PD_TRANSFER_SOCKET_FD);
      return 2;
    }
  helper.fds = g_array_new (FALSE, FALSE, sizeof (int));
  message = pd_transfer_read (helper.socket, helper.fds, &error);
  if (message == NULL)
    {
      fprintf (stderr, "%s: reading the request: %s\n", argv[0], error->message);
      return 2;
    }
  g_variant_get (message, "(&s@a{sv})", &kind, &helper.request);

  if (!g_str_equal (kind, "request"))
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "a %s message, not a request", kind);
  else if (g_str_equal (argv[1], "resolve"))
    result = run_resolve (&helper, &error);
  else
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "unknown verb %s", argv[1]);

  if (result != NULL)
    send_or_die (&helper, "result", g_steal_pointer (&result));
  else
    send_or_die (&helper, "error", pd_transfer_error_to_fields (error));
  g_variant_unref (helper.request);
  for (guint i = 0; i < helper.fds->len; i++)
    close (g_array_index (helper.fds, int, i));
  g_array_unref (helper.fds);
  return 0;
}
