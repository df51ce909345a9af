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
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gio/gio.h>

#include "pd-archive.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-pull.h"
#include "pd-push.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-store.h"
#include "pd-transfer-wire.h"

/* progress goes to the daemon at most this often (and once at the end) */
#define PROGRESS_INTERVAL_US (100 * 1000)

typedef struct {
  int socket;
  GVariant *request;
  GArray *fds;
  /* messages are written from the job's threads (log lines of the download thread, the
   * progress thread): one at a time */
  GMutex write_lock;

  PdPullProgress progress;
  GMutex ticker_lock;
  GCond ticker_cond;
  gboolean ticker_stop;
} Helper;

static void
send_or_die (Helper *helper, const char *kind, GVariant *fields)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;

  g_mutex_lock (&helper->write_lock);
  ok = pd_transfer_write (helper->socket, kind, fields, NULL, 0, &error);
  g_mutex_unlock (&helper->write_lock);
  /* the daemon is gone, or it dropped this job: nothing left to do */
  if (!ok)
    {
      g_debug ("%s", error->message);
      _exit (2);
    }
}

/* A question to the daemon, from the job's own thread (the only one that reads): its answer,
 * which must be of kind @answer. */
static GVariant *
call (Helper *helper, const char *kind, GVariant *fields, const char *answer, GError **error)
{
  g_autoptr(GVariant) message = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char *reply_kind;

  send_or_die (helper, kind, fields);
  message = pd_transfer_read (helper->socket, NULL, error);
  if (message == NULL)
    return NULL;
  g_variant_get (message, "(&s@a{sv})", &reply_kind, &reply);
  if (!g_str_equal (reply_kind, answer))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the daemon answered %s with %s", kind,
                   reply_kind);
      return NULL;
    }
  return g_steal_pointer (&reply);
}

static GVariant *
digest_fields (const char *digest)
{
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&fields, "{sv}", "digest", g_variant_new_string (digest));
  return g_variant_builder_end (&fields);
}

static void
log_cb (const char *line, gpointer user_data)
{
  Helper *helper = user_data;
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&fields, "{sv}", "line", g_variant_new_string (line));
  send_or_die (helper, "log", g_variant_builder_end (&fields));
}

static void
plain_http_cb (const char *host, gboolean plain, gpointer data)
{
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&fields, "{sv}", "host", g_variant_new_string (host));
  g_variant_builder_add (&fields, "{sv}", "plain", g_variant_new_boolean (plain));
  send_or_die (data, "plain-http", g_variant_builder_end (&fields));
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

/* section: pull */

static gboolean
claim_cb (const char *digest, gboolean *waited, gpointer data, GError **error)
{
  g_autoptr(GVariant) reply = call (data, "claim", digest_fields (digest), "claimed", error);

  return reply != NULL && g_variant_lookup (reply, "waited", "b", waited);
}

static void
release_cb (const char *digest, gpointer data)
{
  send_or_die (data, "release", digest_fields (digest));
}

static gboolean
pin_existing_cb (const char *digest, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (data, "pin", digest_fields (digest), "pinned", &error);
  gboolean exists = FALSE;

  if (reply == NULL)
    {
      /* the daemon broke off: nothing this job does counts any more */
      g_debug ("%s", error->message);
      _exit (2);
    }
  g_variant_lookup (reply, "exists", "b", &exists);
  return exists;
}

static gboolean
commit_cb (const char *tmp_name, const char *digest, gpointer data, GError **error)
{
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;

  g_variant_builder_add (&fields, "{sv}", "digest", g_variant_new_string (digest));
  g_variant_builder_add (&fields, "{sv}", "tmp-name", g_variant_new_string (tmp_name));
  reply = call (data, "commit", g_variant_builder_end (&fields), "committed", error);
  return reply != NULL;
}

static const PdStoreTransferHooks store_hooks = {
  .pin_existing = pin_existing_cb,
  .commit = commit_cb,
};

/* FALSE when there was nothing to send */
static gboolean
send_progress (Helper *helper)
{
  guint n;

  g_mutex_lock (&helper->progress.lock);
  n = helper->progress.layers->len;
  g_mutex_unlock (&helper->progress.lock);
  /* before the layers are listed there is nothing to say */
  if (n == 0)
    return FALSE;
  send_or_die (helper, "progress", pd_transfer_progress_to_fields (&helper->progress));
  return TRUE;
}

static gpointer
ticker_thread (gpointer data)
{
  Helper *helper = data;
  guint64 last_done = G_MAXUINT64;

  g_mutex_lock (&helper->ticker_lock);
  while (!helper->ticker_stop)
    {
      guint64 done;

      g_mutex_unlock (&helper->ticker_lock);
      g_mutex_lock (&helper->progress.lock);
      done = helper->progress.bytes_done;
      g_mutex_unlock (&helper->progress.lock);
      /* statuses change with bytes, or at a layer's start and end, which the last send
       * covers */
      if (done != last_done && send_progress (helper))
        last_done = done;
      g_mutex_lock (&helper->ticker_lock);
      g_cond_wait_until (&helper->ticker_cond, &helper->ticker_lock,
                         g_get_monotonic_time () + PROGRESS_INTERVAL_US);
    }
  g_mutex_unlock (&helper->ticker_lock);
  return NULL;
}

static void
stop_ticker (Helper *helper, GThread *ticker)
{
  g_mutex_lock (&helper->ticker_lock);
  helper->ticker_stop = TRUE;
  g_cond_signal (&helper->ticker_cond);
  g_mutex_unlock (&helper->ticker_lock);
  g_thread_join (ticker);
}

static gboolean
request_limits (Helper *helper, PdArchiveLimits *limits, GError **error)
{
  guint64 max_config_size = 0;

  pd_archive_limits_init (limits);
  if (!g_variant_lookup (helper->request, "max-bytes", "t", &limits->max_bytes) ||
      !g_variant_lookup (helper->request, "max-entries", "t", &limits->max_entries) ||
      !g_variant_lookup (helper->request, "max-path-length", "u", &limits->max_path_length) ||
      !g_variant_lookup (helper->request, "max-depth", "u", &limits->max_depth) ||
      !g_variant_lookup (helper->request, "max-config-size", "t", &max_config_size))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the request lacks its limits");
      return FALSE;
    }
  limits->max_config_size = (gsize) max_config_size;
  return TRUE;
}

/* pull: resolve, wait for the daemon's consent check, then every layer into the staging dir
 * and the store's tmp/ (the daemon renames the blobs into place) */
static GVariant *
run_pull (Helper *helper, GError **error)
{
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(PdRegistryClient) client = request_client (helper, FALSE, &ref, error);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(PdStore) store = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) go = NULL;
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) result = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  PdFetchTable *fetches = NULL;
  PdArchiveLimits limits;
  const char *state_dir;
  const char *staging_dir;
  const char *extract_helper;
  GThread *ticker;
  gboolean ok;

  if (client == NULL || !request_limits (helper, &limits, error))
    return NULL;
  if ((state_dir = pd_transfer_lookup_string (helper->request, "state-dir", PATH_MAX,
                                              error)) == NULL ||
      (staging_dir = pd_transfer_lookup_string (helper->request, "staging-dir", PATH_MAX,
                                                error)) == NULL ||
      (extract_helper = pd_transfer_lookup_string (helper->request, "extract-helper", PATH_MAX,
                                                   error)) == NULL)
    return NULL;
  remote = pd_pull_resolve (client, ref, optional_string (helper->request, "platform"),
                            optional_string (helper->request, "expected-digest"), NULL, error);
  if (remote == NULL)
    return NULL;
  /* the daemon checks the privileges of this config before any layer is downloaded */
  pd_transfer_add_remote (&fields, remote);
  go = call (helper, "resolved", g_variant_builder_end (&fields), "go", error);
  if (go == NULL)
    return NULL;

  store = pd_store_open_for_transfer (state_dir, staging_dir, &store_hooks, helper, error);
  if (store == NULL)
    return NULL;
  fetches = pd_fetch_table_new_for_transfer (claim_cb, release_cb, helper);
  ticker = g_thread_new ("pd-progress", ticker_thread, helper);
  ok = pd_pull_fetch_layers (client, remote, store, fetches, staging_dir, extract_helper, &limits,
                             &helper->progress, pinned, NULL, error);
  stop_ticker (helper, ticker);
  pd_fetch_table_free (fetches);
  if (!ok)
    return NULL;
  send_progress (helper);
  g_variant_builder_add (&result, "{sv}", "disk-usage",
                         g_variant_new_uint64 (pd_store_get_staging_disk_usage (store,
                                                                                staging_dir)));
  /* what was extracted is on disk before the daemon's commit makes it visible */
  if (!pd_store_sync (store, error))
    return NULL;
  return g_variant_builder_end (&result);
}

/* section: create */

typedef struct {
  Helper *helper;
  guint64 bytes;
  gint64 last_sent;
} ContextProgress;

static void
context_progress_cb (guint64 bytes_read, gpointer user_data)
{
  ContextProgress *progress = user_data;
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  gint64 now = g_get_monotonic_time ();

  progress->bytes = bytes_read;
  if (now - progress->last_sent < PROGRESS_INTERVAL_US)
    return;
  progress->last_sent = now;
  g_variant_builder_add (&fields, "{sv}", "bytes", g_variant_new_uint64 (bytes_read));
  send_or_die (progress->helper, "progress", g_variant_builder_end (&fields));
}

static GVariant *
blob_variant (const void *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

/* ingest-context: Create's context (fd 0 of the request) into a layer blob and the staging
 * dir, then its config and manifest blobs; the daemon checks the consent and commits */
static GVariant *
run_ingest_context (Helper *helper, GError **error)
{
  g_autoptr(PdStore) store = NULL;
  g_autoptr(PdContextResult) context = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(GPtrArray) layers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autofree char *config_json = NULL;
  g_autofree char *config_digest = NULL;
  g_autofree char *manifest = NULL;
  g_autofree char *manifest_digest = NULL;
  g_auto(GVariantBuilder) result = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  ContextProgress progress = { .helper = helper };
  const char *diff_ids[2] = { NULL, NULL };
  PdArchiveLimits limits;
  const char *state_dir;
  const char *staging_dir;
  const char *extract_helper;
  gsize config_len = 0, manifest_len = 0;
  int fd;

  if (helper->fds->len != 1)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the request carries no context");
      return NULL;
    }
  if (!request_limits (helper, &limits, error) ||
      (state_dir = pd_transfer_lookup_string (helper->request, "state-dir", PATH_MAX,
                                              error)) == NULL ||
      (staging_dir = pd_transfer_lookup_string (helper->request, "staging-dir", PATH_MAX,
                                                error)) == NULL ||
      (extract_helper = pd_transfer_lookup_string (helper->request, "extract-helper", PATH_MAX,
                                                   error)) == NULL)
    return NULL;
  store = pd_store_open_for_transfer (state_dir, staging_dir, &store_hooks, helper, error);
  if (store == NULL)
    return NULL;
  fd = g_array_index (helper->fds, int, 0);
  g_array_set_size (helper->fds, 0);
  context = pd_archive_ingest_context (fd, store, staging_dir, extract_helper, &limits,
                                       context_progress_cb, &progress, NULL, error);
  /* read once: the caller sees its end closed */
  close (fd);
  if (context == NULL)
    return NULL;
  config = pd_plugin_config_new_for_install (g_bytes_get_data (context->config_data, NULL),
                                             g_bytes_get_size (context->config_data), error);
  if (config == NULL)
    return NULL;

  /* the diff_id is the digest of the uncompressed layer, as OCI says (Docker records the
   * compressed one) */
  diff_ids[0] = context->diff_id;
  pd_plugin_config_set_diff_ids (config, diff_ids);
  config_json = pd_plugin_config_to_data (config, &config_len);
  config_digest = pd_store_put_blob (store, config_json, config_len, error);
  if (config_digest == NULL)
    return NULL;
  config_descriptor = pd_descriptor_new (PD_MEDIA_TYPE_PLUGIN_CONFIG, config_digest, config_len);
  g_ptr_array_add (layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP,
                                              context->layer_digest, context->layer_size));
  manifest = pd_oci_build_manifest (config_descriptor, layers, &manifest_len);
  manifest_digest = pd_store_put_blob (store, manifest, manifest_len, error);
  if (manifest_digest == NULL)
    return NULL;

  g_variant_builder_add (&result, "{sv}", "config-digest", g_variant_new_string (config_digest));
  g_variant_builder_add (&result, "{sv}", "config", blob_variant (config_json, config_len));
  g_variant_builder_add (&result, "{sv}", "manifest-digest",
                         g_variant_new_string (manifest_digest));
  g_variant_builder_add (&result, "{sv}", "manifest", blob_variant (manifest, manifest_len));
  g_variant_builder_add (&result, "{sv}", "layer-digest",
                         g_variant_new_string (context->layer_digest));
  g_variant_builder_add (&result, "{sv}", "bytes-read",
                         g_variant_new_uint64 (progress.bytes));
  g_variant_builder_add (&result, "{sv}", "disk-usage",
                         g_variant_new_uint64 (pd_store_get_staging_disk_usage (store,
                                                                                staging_dir)));
  /* what was extracted is on disk before the daemon's commit makes it visible */
  if (!pd_store_sync (store, error))
    return NULL;
  return g_variant_builder_end (&result);
}

/* section: push */

/* push: the plugin's stored manifest and the blobs it names, to the registry */
static GVariant *
run_push (Helper *helper, GError **error)
{
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(PdRegistryClient) client = request_client (helper, TRUE, &ref, error);
  g_autoptr(PdStore) store = NULL;
  g_auto(GVariantBuilder) result = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const char *state_dir;
  const char *manifest_digest;
  guint64 manifest_size = 0;
  GThread *ticker;
  gboolean ok;

  if (client == NULL)
    return NULL;
  if ((state_dir = pd_transfer_lookup_string (helper->request, "state-dir", PATH_MAX,
                                              error)) == NULL ||
      (manifest_digest = pd_transfer_lookup_string (helper->request, "manifest-digest", 128,
                                                    error)) == NULL)
    return NULL;
  if (ref->tag == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE, "cannot push without a tag");
      return NULL;
    }
  store = pd_store_open_for_transfer (state_dir, NULL, &store_hooks, helper, error);
  if (store == NULL)
    return NULL;
  ticker = g_thread_new ("pd-progress", ticker_thread, helper);
  ok = pd_push_run (client, store, manifest_digest, ref->tag,
                    optional_string (helper->request, "mount-from"), &helper->progress,
                    &manifest_size, NULL, error);
  stop_ticker (helper, ticker);
  if (!ok)
    return NULL;
  send_progress (helper);
  g_variant_builder_add (&result, "{sv}", "manifest-size", g_variant_new_uint64 (manifest_size));
  return g_variant_builder_end (&result);
}

int
main (int argc, char **argv)
{
  Helper helper = { .socket = PD_TRANSFER_SOCKET_FD };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) message = NULL;
  g_autoptr(GVariant) result = NULL;
  const char *kind;
  const char *verb = NULL;

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s VERB (started by plugind, which sends the request on fd %d)\n",
               argv[0], PD_TRANSFER_SOCKET_FD);
      return 2;
    }
  /* the request carries credentials: no core dump of this process, no ptrace by its uid */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    {
      fprintf (stderr, "%s: PR_SET_DUMPABLE: %s\n", argv[0], g_strerror (errno));
      return 2;
    }
  if (fcntl (helper.socket, F_SETFD, FD_CLOEXEC) != 0)
    {
      fprintf (stderr, "%s: no socket on fd %d\n", argv[0], PD_TRANSFER_SOCKET_FD);
      return 2;
    }
  helper.fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_mutex_init (&helper.write_lock);
  g_mutex_init (&helper.ticker_lock);
  g_cond_init (&helper.ticker_cond);
  pd_pull_progress_init (&helper.progress);
  pd_registry_memory_set_notify (plain_http_cb, &helper);
  message = pd_transfer_read (helper.socket, helper.fds, &error);
  if (message == NULL)
    {
      fprintf (stderr, "%s: reading the request: %s\n", argv[0], error->message);
      return 2;
    }
  g_variant_get (message, "(&s@a{sv})", &kind, &helper.request);
  /* a spare learns its verb from the request; otherwise the two must agree */
  if (!g_variant_lookup (helper.request, "verb", "&s", &verb) ||
      (!g_str_equal (argv[1], "spare") && !g_str_equal (argv[1], verb)))
    verb = "";

  if (!g_str_equal (kind, "request"))
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "a %s message, not a request", kind);
  else if (g_str_equal (verb, "resolve"))
    result = run_resolve (&helper, &error);
  else if (g_str_equal (verb, "pull"))
    result = run_pull (&helper, &error);
  else if (g_str_equal (verb, "ingest-context"))
    result = run_ingest_context (&helper, &error);
  else if (g_str_equal (verb, "push"))
    result = run_push (&helper, &error);
  else
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "no verb, or one that is not known");

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
