/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-archive"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "pd-archive.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-inflate.h"

/* flatpak's trick: typedefs give libarchive's types autoptr cleanups */
typedef struct archive PdAutoArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdAutoArchive, archive_free)
typedef struct archive_entry PdAutoArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdAutoArchiveEntry, archive_entry_free)

#define READ_BUFFER_SIZE (64 * 1024)
#define DATA_BUFFER_SIZE (64 * 1024)
#define GZIP_BUFFER_SIZE (64 * 1024)
#define LAYER_WRITE_BLOCK_SIZE (256 * 1024)
/* what may wait in the helper's socket: a few of those writes */
#define HELPER_SOCKET_BUFFER (1024 * 1024)
/* the helper prints one short line; anything beyond this is not read */
#define HELPER_STDERR_MAX 4096
/* the helper's stdout: one "USAGE N" line with --usage */
#define HELPER_STDOUT_MAX 64

/* section: limits and results */

void
pd_context_result_free (PdContextResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->config_data, g_bytes_unref);
  g_free (result->layer_digest);
  g_free (result->diff_id);
  g_free (result);
}

/* section: the ingest state */

typedef struct _LayerDecoder LayerDecoder;

typedef struct {
  /* input: a create context from an fd, or a registry layer through a callback */
  gboolean layer_mode;
  int fd;
  LayerDecoder *decoder;    /* layers: decompresses, in a thread of its own */
  PdSha256 *input_hasher;   /* layers: the uncompressed stream, for rootfs.diff_ids */
  guint64 uncompressed_bytes;
  gboolean onto_empty_rootfs; /* layers: the first one, whose whiteouts have nothing to hide */
  guint64 bytes_read;
  guchar *read_buffer;
  PdArchiveProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
  GPollFD cancel_pollfd;
  gboolean have_cancel_pollfd;
  const PdArchiveLimits *limits;
  PdStore *store;           /* contexts: where the gzip layer blob goes */
  const char *staging_dir;
  const char *helper_path;

  /* the normalised layer: one tar stream, hashed, gzipped and sent to the helper */
  struct archive *writer;
  PdSha256 *diff_hasher;
  z_stream zstream;
  gboolean zstream_ready;
  guchar *gzip_buffer;
  PdBlobWriter *blob;
  GSubprocess *helper;
  int helper_socket;
  gboolean helper_gone;     /* it closed its end of the socket */
  gboolean layer_failed;    /* from then on the layer's bytes are dropped */
  gboolean helper_reaped;

  /* bookkeeping */
  GHashTable *symlinks;   /* re-rooted names of symlinks in the stream */
  guint64 n_entries;
  guint64 total_bytes;
  gboolean found_rootfs;
  GBytes *config_data;

  /* the first error a libarchive callback hit, which takes precedence over libarchive's */
  GError *callback_error;
} IngestContext;

static void
ingest_context_clear (IngestContext *ctx)
{
  if (ctx->helper != NULL)
    {
      /* not reaped means we failed: the helper must not outlive the ingest */
      if (!ctx->helper_reaped)
        {
          g_subprocess_force_exit (ctx->helper);
          g_subprocess_wait (ctx->helper, NULL, NULL);
        }
      g_clear_object (&ctx->helper);
    }
  if (ctx->helper_socket >= 0)
    close (ctx->helper_socket);
  ctx->helper_socket = -1;
  /* after the helper and its socket: a writer freed while open flushes, and those bytes must
   * go nowhere */
  ctx->layer_failed = TRUE;
  g_clear_pointer (&ctx->writer, archive_free);
  g_clear_pointer (&ctx->diff_hasher, pd_sha256_free);
  if (ctx->zstream_ready)
    deflateEnd (&ctx->zstream);
  ctx->zstream_ready = FALSE;
  g_clear_pointer (&ctx->gzip_buffer, g_free);
  g_clear_pointer (&ctx->blob, pd_blob_writer_free);
  g_clear_pointer (&ctx->symlinks, g_hash_table_unref);
  g_clear_pointer (&ctx->config_data, g_bytes_unref);
  g_clear_pointer (&ctx->read_buffer, g_free);
  g_clear_pointer (&ctx->input_hasher, pd_sha256_free);
  if (ctx->have_cancel_pollfd)
    g_cancellable_release_fd (ctx->cancellable);
  ctx->have_cancel_pollfd = FALSE;
  g_clear_error (&ctx->callback_error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (IngestContext, ingest_context_clear)

static void
set_callback_error (IngestContext *ctx, GError *error)
{
  if (ctx->callback_error == NULL)
    ctx->callback_error = error;
  else
    g_error_free (error);
}

/* waits until @fd is ready for @events or the cancellable fires */
static gboolean
wait_fd (IngestContext *ctx, int fd, short events, GError **error)
{
  GPollFD fds[2] = { { fd, events, 0 }, ctx->cancel_pollfd };

  for (;;)
    {
      int r = g_poll (fds, ctx->have_cancel_pollfd ? 2 : 1, -1);

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int errsv = errno;
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "poll: %s", g_strerror (errsv));
          return FALSE;
        }
      if (g_cancellable_set_error_if_cancelled (ctx->cancellable, error))
        return FALSE;
      if (fds[0].revents != 0)
        return TRUE;
    }
}

/* section: reading the context */

/* read () only: the fd is consumed exactly once, never seeked nor reopened, so that what was
 * checked is what was read (docs/design.md, section Data flows) */
static la_ssize_t
context_read_cb (struct archive *a, void *user_data, const void **buffer)
{
  IngestContext *ctx = user_data;
  GError *error = NULL;
  ssize_t n;

  for (;;)
    {
      /* the poll lets Cancel through while a client stalls, and copes with O_NONBLOCK fds */
      if (!wait_fd (ctx, ctx->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, &error))
        {
          set_callback_error (ctx, error);
          return -1;
        }
      n = read (ctx->fd, ctx->read_buffer, READ_BUFFER_SIZE);
      if (n >= 0 || (errno != EINTR && errno != EAGAIN))
        break;
    }
  if (n < 0)
    {
      int errsv = errno;
      set_callback_error (ctx, g_error_new (PD_ERROR, PD_ERROR_FAILED,
                                            "reading the context: %s", g_strerror (errsv)));
      return -1;
    }
  ctx->bytes_read += (guint64) n;
  if (ctx->progress != NULL && n > 0)
    ctx->progress (ctx->bytes_read, ctx->progress_data);
  *buffer = ctx->read_buffer;
  return n;
}

/* only filters that decompress in this process: libarchive falls back to running lrzip, grzip
 * or lzop (and lz4/zstd when built without them) as programs, which a multi-threaded daemon must
 * never fork (a fork copies one thread of many). A throwaway reader tells which ones are built
 * in. */
static const struct {
  const char *name;
  int (*add) (struct archive *);
} in_process_filters[] = {
  { "gzip", archive_read_support_filter_gzip },
  { "bzip2", archive_read_support_filter_bzip2 },
  { "xz", archive_read_support_filter_xz },
  { "lzma", archive_read_support_filter_lzma },
  { "lzip", archive_read_support_filter_lzip },
  { "zstd", archive_read_support_filter_zstd },
  { "lz4", archive_read_support_filter_lz4 },
  { "lzop", archive_read_support_filter_lzop },
  { "compress", archive_read_support_filter_compress },
};

static gboolean
filter_is_built_in (guint index)
{
  g_autoptr(PdAutoArchive) probe = archive_read_new ();

  return probe != NULL && in_process_filters[index].add (probe) == ARCHIVE_OK;
}

static void
add_in_process_filters (struct archive *reader)
{
  for (guint i = 0; i < G_N_ELEMENTS (in_process_filters); i++)
    if (filter_is_built_in (i))
      in_process_filters[i].add (reader);
}

GStrv
pd_archive_dup_supported_compressions (void)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < G_N_ELEMENTS (in_process_filters); i++)
    if (filter_is_built_in (i))
      g_strv_builder_add (builder, in_process_filters[i].name);
  return g_strv_builder_end (builder);
}

static void
set_archive_error (GError **error, struct archive *a, const char *what)
{
  g_autofree char *message = pd_escape_untrusted (archive_error_string (a), -1);
  int errsv = archive_errno (a);

  if (errsv == ENOMEM)
    g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "%s: %s", what, message);
  else
    g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "%s: %s", what,
                 *message != '\0' ? message : "unknown error");
}

/* section: the normalised layer stream */

static gboolean
send_to_helper (IngestContext *ctx, const guchar *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n;

      if (!wait_fd (ctx, ctx->helper_socket, G_IO_OUT, error))
        return FALSE;
      /* a socket rather than a pipe: MSG_NOSIGNAL, so a dead helper is EPIPE, not SIGPIPE */
      n = send (ctx->helper_socket, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EPIPE || errsv == ECONNRESET)
            ctx->helper_gone = TRUE;
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "writing to the extraction helper: %s", g_strerror (errsv));
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gboolean
gzip_to_blob (IngestContext *ctx, const void *data, gsize len, int flush, GError **error)
{
  ctx->zstream.next_in = (Bytef *) data;
  ctx->zstream.avail_in = (uInt) len;
  do
    {
      int r;

      ctx->zstream.next_out = ctx->gzip_buffer;
      ctx->zstream.avail_out = GZIP_BUFFER_SIZE;
      r = deflate (&ctx->zstream, flush);
      if (r == Z_STREAM_ERROR)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "compressing the layer failed");
          return FALSE;
        }
      if (!pd_blob_writer_write (ctx->blob, ctx->gzip_buffer,
                                 GZIP_BUFFER_SIZE - ctx->zstream.avail_out, error))
        return FALSE;
    }
  while (ctx->zstream.avail_out == 0 || (flush == Z_FINISH && ctx->zstream.avail_in > 0));
  return TRUE;
}

/* every byte of the normalised tar goes to the hash, the gzip blob and the helper, in one pass */
static la_ssize_t
layer_write_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  IngestContext *ctx = user_data;
  GError *error = NULL;

  /* failures are reported through ctx->layer_failed, never to libarchive: a writer in the
   * FATAL state leaks its buffers (libarchive 3.6) */
  if (ctx->layer_failed || ctx->helper_socket < 0)
    return (la_ssize_t) length;
  if (!ctx->layer_mode)
    pd_sha256_update (ctx->diff_hasher, buffer, length);
  if ((!ctx->layer_mode && !gzip_to_blob (ctx, buffer, length, Z_NO_FLUSH, &error)) ||
      !send_to_helper (ctx, buffer, length, &error))
    {
      ctx->layer_failed = TRUE;
      set_callback_error (ctx, error);
    }
  return (la_ssize_t) length;
}

/* the outcome of a call on the layer writer: our callback's error first, then libarchive's */
static gboolean
check_layer_write (IngestContext *ctx, gboolean ok, GError **error)
{
  if (ctx->layer_failed)
    {
      if (ctx->callback_error != NULL)
        g_propagate_error (error, g_steal_pointer (&ctx->callback_error));
      else
        g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "writing the layer failed");
      return FALSE;
    }
  if (!ok)
    {
      set_archive_error (error, ctx->writer, "writing the layer");
      return FALSE;
    }
  return TRUE;
}

/* The helper dies with the thread that feeds it (which waits for it): in plugind-transfer, a
 * helper killed by Cancel takes it along at once, before the daemon deletes the staging dir
 * it writes into. Async-signal-safe. */
static void
helper_child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* the writer of the normalised tar stream, whose bytes go to layer_write_cb () */
static gboolean
start_writer (IngestContext *ctx, GError **error)
{
  ctx->writer = archive_write_new ();
  if (ctx->writer == NULL ||
      archive_write_set_format_pax_restricted (ctx->writer) != ARCHIVE_OK ||
      /* a layer's stream only goes to the helper: large writes, few system calls. A context's
       * keeps tar's 10240-byte blocks, which its blob and diff_id digests depend on. */
      (ctx->layer_mode &&
       (archive_write_set_bytes_per_block (ctx->writer, LAYER_WRITE_BLOCK_SIZE) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block (ctx->writer, 512) != ARCHIVE_OK)) ||
      /* names are copied as bytes: the layer must not depend on the daemon's locale */
      archive_write_set_format_option (ctx->writer, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
      archive_write_open (ctx->writer, ctx, NULL, layer_write_cb, NULL) != ARCHIVE_OK)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot create the layer writer");
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_layer (IngestContext *ctx, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *max_bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, ctx->limits->max_bytes);
  g_autofree char *max_entries = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                  ctx->limits->max_entries);
  gboolean whiteouts;
  int sockets[2];

  /* a layer only checked: no rootfs, no helper, the normalised stream goes nowhere */
  if (ctx->staging_dir == NULL)
    return start_writer (ctx, error);

  rootfs = g_build_filename (ctx->staging_dir, "rootfs", NULL);
  if (mkdir (rootfs, 0755) == 0)
    {
      /* a first layer: nothing below it for whiteouts to remove, and the helper's checks for
       * what lies below each entry would cost it several syscalls per entry for nothing */
      ctx->onto_empty_rootfs = TRUE;
    }
  else if (errno != EEXIST)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, errsv == ENOSPC || errsv == EDQUOT ? PD_ERROR_NO_SPACE
                                                                      : PD_ERROR_FAILED,
                   "creating %s: %s", rootfs, g_strerror (errsv));
      return FALSE;
    }

  /* a created plugin's layer is written as a gzip blob; a pulled one is stored as downloaded */
  if (!ctx->layer_mode)
    {
      ctx->blob = pd_store_blob_writer_new (ctx->store, error);
      if (ctx->blob == NULL)
        return FALSE;
      /* gzip at the default level, as Docker's gzip.NewWriter does */
      if (deflateInit2 (&ctx->zstream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                        Z_DEFAULT_STRATEGY) != Z_OK)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot initialise zlib");
          return FALSE;
        }
      ctx->zstream_ready = TRUE;
      ctx->gzip_buffer = g_malloc (GZIP_BUFFER_SIZE);
      ctx->diff_hasher = pd_sha256_new ();
    }

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "socketpair: %s", g_strerror (errsv));
      return FALSE;
    }
  ctx->helper_socket = sockets[0];
  /* the helper only reads; our end only writes */
  shutdown (sockets[0], SHUT_RD);
  shutdown (sockets[1], SHUT_WR);
  /* best effort (net.core.wmem_max caps it): fewer stops of the writer while the helper
   * catches up */
  setsockopt (sockets[0], SOL_SOCKET, SO_SNDBUF, &(int) { HELPER_SOCKET_BUFFER }, sizeof (int));

  whiteouts = ctx->layer_mode && !ctx->onto_empty_rootfs;
  /* a first layer's helper counts the rootfs's usage as it writes (--usage, on stdout); one
   * over others cannot, and the count of the first no longer holds */
  if (whiteouts)
    pd_store_note_staging_usage (ctx->staging_dir, FALSE, 0);
  /* GSubprocess, not fork (): the daemon is multi-threaded */
  launcher = g_subprocess_launcher_new ((whiteouts ? G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                                   : G_SUBPROCESS_FLAGS_STDOUT_PIPE) |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_stdin_fd (launcher, sockets[1]);
  g_subprocess_launcher_set_child_setup (launcher, helper_child_setup, NULL, NULL);
  ctx->helper = g_subprocess_launcher_spawn (launcher, error, ctx->helper_path,
                                             "--max-bytes", max_bytes,
                                             "--max-entries", max_entries,
                                             /* layers apply onto the ones below them */
                                             whiteouts ? "--whiteouts" : "--usage", rootfs,
                                             NULL);
  if (ctx->helper == NULL)
    {
      g_prefix_error (error, "starting the extraction helper: ");
      pd_error_convert (error);
      return FALSE;
    }

  return start_writer (ctx, error);
}

static PdError
helper_error_code (const char *kind)
{
  if (g_str_equal (kind, "invalid-archive"))
    return PD_ERROR_INVALID_ARCHIVE;
  if (g_str_equal (kind, "limits"))
    return PD_ERROR_LIMITS_EXCEEDED;
  if (g_str_equal (kind, "no-space"))
    return PD_ERROR_NO_SPACE;
  return PD_ERROR_FAILED;
}

/* the helper's "USAGE N" (--usage) kept for pd_store_get_staging_disk_usage (); anything else
 * means the rootfs is walked instead. A lie can only make the DiskUsage property wrong. */
static void
note_helper_usage (IngestContext *ctx)
{
  GInputStream *stream = g_subprocess_get_stdout_pipe (ctx->helper);
  char buffer[HELPER_STDOUT_MAX + 1];
  const char *number = buffer + strlen ("USAGE ");
  guint64 bytes = 0;
  char *end = NULL;
  gsize len = 0;
  gboolean known;

  if (stream == NULL)
    return;
  known = g_input_stream_read_all (stream, buffer, HELPER_STDOUT_MAX, &len, NULL, NULL) &&
          len > strlen ("USAGE ") && buffer[len - 1] == '\n';
  if (known)
    {
      buffer[len - 1] = '\0';
      errno = 0;
      known = g_str_has_prefix (buffer, "USAGE ") && g_ascii_isdigit (*number);
      if (known)
        bytes = g_ascii_strtoull (number, &end, 10);
      known = known && errno == 0 && end != NULL && *end == '\0';
    }
  pd_store_note_staging_usage (ctx->staging_dir, known, bytes);
}

/* waits for the helper and turns its exit into a GError; TRUE only for a clean exit 0 */
static gboolean
finish_helper (IngestContext *ctx, GCancellable *cancellable, GError **error)
{
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *escaped = NULL;
  char buffer[HELPER_STDERR_MAX + 1];
  gsize len = 0;

  /* EOF for the helper */
  if (ctx->helper_socket >= 0)
    close (ctx->helper_socket);
  ctx->helper_socket = -1;

  stream = g_object_ref (g_subprocess_get_stderr_pipe (ctx->helper));
  if (!g_input_stream_read_all (stream, buffer, HELPER_STDERR_MAX, &len, cancellable,
                                &local_error))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  buffer[len] = '\0';
  if (!g_subprocess_wait (ctx->helper, cancellable, error))
    return FALSE;
  ctx->helper_reaped = TRUE;

  if (g_subprocess_get_if_exited (ctx->helper) && g_subprocess_get_exit_status (ctx->helper) == 0)
    {
      note_helper_usage (ctx);
      return TRUE;
    }

  if (g_str_has_prefix (buffer, "ERROR "))
    {
      char *kind = buffer + strlen ("ERROR ");
      char *message = strchr (kind, ' ');
      char *newline;

      if (message != NULL)
        {
          *message++ = '\0';
          newline = strchr (message, '\n');
          if (newline != NULL)
            *newline = '\0';
          escaped = pd_escape_untrusted (message, -1);
          g_set_error (error, PD_ERROR, helper_error_code (kind), "%s", escaped);
          return FALSE;
        }
    }
  if (g_subprocess_get_if_signaled (ctx->helper))
    g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the extraction helper was killed by signal %d",
                 g_subprocess_get_term_sig (ctx->helper));
  else
    g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                 "the extraction helper failed with exit status %d",
                 g_subprocess_get_exit_status (ctx->helper));
  return FALSE;
}

/* section: entry names */

typedef enum {
  NAME_OK,
  NAME_EMPTY,
  NAME_ABSOLUTE,
  NAME_DOTDOT,
} NameCheck;

/* "./a//b/." → "a/b"; "./" → "."; absolute names and ".." components are refused rather than
 * cleaned, unlike Go's path.Clean, because a well-formed context never has them */
static char *
clean_name (const char *name, NameCheck *check, guint *depth)
{
  g_auto(GStrv) parts = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  *depth = 0;
  if (name == NULL || *name == '\0')
    {
      *check = NAME_EMPTY;
      return NULL;
    }
  if (*name == '/')
    {
      *check = NAME_ABSOLUTE;
      return NULL;
    }
  parts = g_strsplit (name, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (*parts[i] == '\0' || g_str_equal (parts[i], "."))
        continue;
      if (g_str_equal (parts[i], ".."))
        {
          *check = NAME_DOTDOT;
          return NULL;
        }
      if (out->len > 0)
        g_string_append_c (out, '/');
      g_string_append (out, parts[i]);
      (*depth)++;
    }
  if (out->len == 0)
    g_string_append_c (out, '.');
  *check = NAME_OK;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
check_name (IngestContext *ctx, const char *raw, char **cleaned, GError **error)
{
  g_autofree char *escaped = pd_escape_untrusted (raw, -1);
  NameCheck check;
  guint depth;
  char *name = clean_name (raw, &check, &depth);

  switch (check)
    {
    case NAME_EMPTY:
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "archive entry with an empty name");
      return FALSE;
    case NAME_ABSOLUTE:
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "archive entry \"%s\" has an absolute name", escaped);
      return FALSE;
    case NAME_DOTDOT:
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "archive entry \"%s\" contains a \"..\" component", escaped);
      return FALSE;
    case NAME_OK:
    default:
      break;
    }
  if (strlen (name) > ctx->limits->max_path_length)
    {
      g_free (name);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "archive entry name is longer than %u bytes", ctx->limits->max_path_length);
      return FALSE;
    }
  if (depth > ctx->limits->max_depth)
    {
      g_free (name);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "archive entry name is deeper than %u components", ctx->limits->max_depth);
      return FALSE;
    }
  *cleaned = name;
  return TRUE;
}

/* "rootfs" → ".", "rootfs/a/b" → "a/b"; NULL when the name is not under rootfs/ */
static const char *
reroot (const char *name, gboolean case_insensitive)
{
  gsize len = strlen ("rootfs");

  if (case_insensitive ? g_ascii_strncasecmp (name, "rootfs", len) != 0
                       : strncmp (name, "rootfs", len) != 0)
    return NULL;
  if (name[len] == '\0')
    return ".";
  if (name[len] != '/')
    return NULL;
  return name + len + 1;
}

/* the name of a symlink from earlier in the stream, if @name goes through one (or, with
 * @include_self, is one) */
static const char *
find_symlink_on_path (IngestContext *ctx, const char *name, gboolean include_self)
{
  g_autofree char *prefix = g_strdup (name);
  char *slash;

  if (include_self && g_hash_table_contains (ctx->symlinks, prefix))
    return name;
  while ((slash = strrchr (prefix, '/')) != NULL)
    {
      *slash = '\0';
      if (g_hash_table_contains (ctx->symlinks, prefix))
        return name;
    }
  return NULL;
}

/* section: entries */

static gboolean
read_config (IngestContext *ctx, struct archive *reader, struct archive_entry *entry,
             GError **error)
{
  la_int64_t size = archive_entry_size (entry);
  g_autofree guchar *data = NULL;
  gsize len = 0;

  if (archive_entry_filetype (entry) != AE_IFREG || archive_entry_hardlink (entry) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "config.json is not a regular file");
      return FALSE;
    }
  if (ctx->config_data != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "the context has more than one config.json");
      return FALSE;
    }
  if (size < 0 || (guint64) size > ctx->limits->max_config_size)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "config.json is larger than %" G_GSIZE_FORMAT " bytes",
                   ctx->limits->max_config_size);
      return FALSE;
    }
  data = g_malloc ((gsize) size + 1);
  while (len < (gsize) size)
    {
      la_ssize_t n = archive_read_data (reader, data + len, (gsize) size - len);

      if (n < 0)
        {
          set_archive_error (error, reader, "reading config.json");
          return FALSE;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  ctx->config_data = g_bytes_new_take (g_steal_pointer (&data), len);
  return TRUE;
}

static gboolean
copy_rootfs_entry (IngestContext *ctx, struct archive *reader, struct archive_entry *entry,
                   const char *full_name, const char *name, GError **error)
{
  g_autoptr(PdAutoArchiveEntry) out = NULL;
  /* messages name the entry as the context has it, not re-rooted */
  g_autofree char *escaped = pd_escape_untrusted (full_name, -1);
  g_autofree char *target = NULL;
  const char *hardlink = archive_entry_hardlink (entry);
  mode_t type = archive_entry_filetype (entry);
  gboolean has_data = FALSE;

  /* a write through a symlink from earlier in the stream (CVE-2018-15664 and friends) */
  if (find_symlink_on_path (ctx, name, FALSE) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "archive entry \"%s\" is inside a symlink", escaped);
      return FALSE;
    }

  out = archive_entry_new ();
  archive_entry_set_pathname (out, name);
  if (hardlink != NULL)
    {
      g_autofree char *escaped_target = pd_escape_untrusted (hardlink, -1);
      NameCheck check;
      guint depth;
      const char *rerooted;

      target = clean_name (hardlink, &check, &depth);
      if (target == NULL)
        rerooted = NULL;
      else
        rerooted = ctx->layer_mode ? target : reroot (target, TRUE);
      if (rerooted == NULL || g_str_equal (rerooted, "."))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                       ctx->layer_mode ? "hard link \"%s\" has an invalid target (\"%s\")"
                                       : "hard link \"%s\" points outside rootfs/ (\"%s\")",
                       escaped,
                       escaped_target);
          return FALSE;
        }
      if (strlen (rerooted) > ctx->limits->max_path_length || depth > ctx->limits->max_depth)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "hard link target of \"%s\" is too long", escaped);
          return FALSE;
        }
      /* CVE-2021-32760: a hard link to a symlink makes later chmods follow it */
      if (find_symlink_on_path (ctx, rerooted, TRUE) != NULL)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                       "hard link \"%s\" points to or through a symlink", escaped);
          return FALSE;
        }
      if (g_str_equal (name, "."))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "rootfs/ is a hard link");
          return FALSE;
        }
      archive_entry_set_filetype (out, AE_IFREG);
      archive_entry_set_hardlink (out, rerooted);
      archive_entry_set_size (out, 0);
    }
  else
    {
      switch (type)
        {
        case AE_IFREG:
          archive_entry_set_filetype (out, AE_IFREG);
          archive_entry_set_size (out, archive_entry_size (entry));
          has_data = archive_entry_size (entry) > 0;
          break;
        case AE_IFDIR:
          archive_entry_set_filetype (out, AE_IFDIR);
          break;
        case AE_IFLNK:
          {
            const char *symlink = archive_entry_symlink (entry);

            if (symlink == NULL || *symlink == '\0' ||
                strlen (symlink) > ctx->limits->max_path_length)
              {
                g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                             "symlink \"%s\" has an empty or too long target", escaped);
                return FALSE;
              }
            archive_entry_set_filetype (out, AE_IFLNK);
            archive_entry_set_symlink (out, symlink);
            break;
          }
        case AE_IFIFO:
          /* a FIFO needs no privilege to make and reaches nothing outside the rootfs */
          archive_entry_set_filetype (out, AE_IFIFO);
          break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFSOCK:
          g_info ("dropping special file \"%s\" from the context", escaped);
          return TRUE;
        default:
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                       "archive entry \"%s\" has an unsupported type", escaped);
          return FALSE;
        }
      if (g_str_equal (name, ".") && type != AE_IFDIR)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "rootfs/ is not a directory");
          return FALSE;
        }
    }

  /* a symlink stays in the set even when a later entry replaces it: refusing is the safe side */
  if (archive_entry_filetype (out) == AE_IFLNK && hardlink == NULL)
    g_hash_table_add (ctx->symlinks, g_strdup (name));

  /* a fresh entry: no xattrs (security.capability), ACLs, file flags or sparse maps survive;
   * the sticky bit stays (a /tmp of the rootfs needs it), setuid and setgid do not */
  archive_entry_set_perm (out, archive_entry_perm (entry) & 01777);
  if ((archive_entry_perm (entry) & (S_ISUID | S_ISGID)) != 0)
    g_debug ("stripping setuid/setgid bits from \"%s\"", escaped);
  archive_entry_set_uid (out, archive_entry_uid (entry));
  archive_entry_set_gid (out, archive_entry_gid (entry));
  if (archive_entry_uname (entry) != NULL)
    archive_entry_set_uname (out, archive_entry_uname (entry));
  if (archive_entry_gname (entry) != NULL)
    archive_entry_set_gname (out, archive_entry_gname (entry));
  if (archive_entry_mtime_is_set (entry))
    archive_entry_set_mtime (out, archive_entry_mtime (entry), archive_entry_mtime_nsec (entry));

  if (!check_layer_write (ctx, archive_write_header (ctx->writer, out) >= ARCHIVE_WARN, error))
    return FALSE;

  if (has_data)
    {
      g_autofree guchar *buffer = g_malloc (DATA_BUFFER_SIZE);
      guint64 declared = (guint64) archive_entry_size (entry);
      guint64 copied = 0;
      la_ssize_t n;

      while ((n = archive_read_data (reader, buffer, DATA_BUFFER_SIZE)) > 0)
        {
          if (g_cancellable_set_error_if_cancelled (ctx->cancellable, error))
            return FALSE;
          /* the header's size is what the caps were checked against; never trust more */
          copied += (guint64) n;
          if (copied > declared)
            {
              g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                           "archive entry \"%s\" has more data than its header says", escaped);
              return FALSE;
            }
          if (!check_layer_write (ctx, archive_write_data (ctx->writer, buffer, (size_t) n) == n,
                                  error))
            return FALSE;
        }
      if (n < 0)
        {
          if (ctx->callback_error != NULL)
            g_propagate_error (error, g_steal_pointer (&ctx->callback_error));
          else
            set_archive_error (error, reader, "reading the context");
          return FALSE;
        }
    }
  return TRUE;
}

/* one more entry of the archive (@what: "context", "layer") within the limits */
static gboolean
count_entry (IngestContext *ctx, const char *what, GError **error)
{
  if (++ctx->n_entries <= ctx->limits->max_entries)
    return TRUE;
  g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
               "the %s has more than %" G_GUINT64_FORMAT " entries", what,
               ctx->limits->max_entries);
  return FALSE;
}

/* the size @entry declares added to what the archive makes (@what: "context", "plugin") within
 * the limits: a bomb is refused at its header, before any of its bytes are decompressed */
static gboolean
count_entry_bytes (IngestContext *ctx, struct archive_entry *entry, const char *what,
                   GError **error)
{
  la_int64_t size = archive_entry_size (entry);

  if (size < 0 || (guint64) size > ctx->limits->max_bytes - ctx->total_bytes)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the %s is larger than %" G_GUINT64_FORMAT " bytes", what,
                   ctx->limits->max_bytes);
      return FALSE;
    }
  ctx->total_bytes += (guint64) size;
  return TRUE;
}

static gboolean
ingest_entry (IngestContext *ctx, struct archive *reader, struct archive_entry *entry,
              GError **error)
{
  g_autofree char *name = NULL;
  const char *rerooted;

  if (!count_entry (ctx, "context", error))
    return FALSE;
  /* what the tar reader consumed so far (headers, pax records, skipped data): bytes no
   * entry header declares count too */
  if ((guint64) archive_filter_bytes (reader, 0) > ctx->limits->max_bytes)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the context is larger than %" G_GUINT64_FORMAT " bytes uncompressed",
                   ctx->limits->max_bytes);
      return FALSE;
    }
  if (!check_name (ctx, archive_entry_pathname (entry), &name, error) ||
      !count_entry_bytes (ctx, entry, "context", error))
    return FALSE;

  if (g_str_equal (name, "config.json"))
    return read_config (ctx, reader, entry, error);

  rerooted = reroot (name, FALSE);
  if (rerooted == NULL)
    {
      /* not part of the plugin: skipped, as moby does */
      return TRUE;
    }
  if (g_str_has_prefix (rerooted, ".wh.") || strstr (rerooted, "/.wh.") != NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (name, -1);
      /* a whiteout means nothing in a single-layer rootfs and would delete files on pull */
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "archive entry \"%s\" is a whiteout", escaped);
      return FALSE;
    }

  if (ctx->writer == NULL && !start_layer (ctx, error))
    return FALSE;
  ctx->found_rootfs = TRUE;
  return copy_rootfs_entry (ctx, reader, entry, name, rerooted, error);
}

static gboolean
finish_layer (IngestContext *ctx, GCancellable *cancellable, PdContextResult *result,
              GError **error)
{
  if (!check_layer_write (ctx, archive_write_close (ctx->writer) == ARCHIVE_OK, error))
    return FALSE;
  if (ctx->layer_mode)
    return ctx->helper == NULL || finish_helper (ctx, cancellable, error);
  if (!gzip_to_blob (ctx, NULL, 0, Z_FINISH, error))
    return FALSE;
  result->diff_id = pd_sha256_finish (ctx->diff_hasher);

  /* the blob is published only once the rootfs is known to be good */
  if (!finish_helper (ctx, cancellable, error))
    return FALSE;
  result->layer_digest = pd_blob_writer_commit (ctx->blob, &result->layer_size, error);
  return result->layer_digest != NULL;
}

/* section: reading entries (contexts and layers) */

/* the error of a failed libarchive call: our read callback's first, then libarchive's */
static void
take_read_error (IngestContext *ctx, struct archive *a, const char *what, GError **error)
{
  if (ctx->callback_error != NULL)
    g_propagate_error (error, g_steal_pointer (&ctx->callback_error));
  else
    set_archive_error (error, a, what);
}

typedef gboolean (*EntryFunc) (IngestContext *ctx, struct archive *reader,
                               struct archive_entry *entry, GError **error);

/* every entry of @reader through @func, until the end, an error or cancellation */
static gboolean
read_entries (IngestContext *ctx, struct archive *reader, const char *what, EntryFunc func,
              GError **error)
{
  for (;;)
    {
      struct archive_entry *entry = NULL;
      int r;

      if (g_cancellable_set_error_if_cancelled (ctx->cancellable, error))
        return FALSE;
      r = archive_read_next_header (reader, &entry);
      if (r == ARCHIVE_EOF)
        return TRUE;
      if (r < ARCHIVE_WARN)
        {
          take_read_error (ctx, reader, what, error);
          return FALSE;
        }
      if (r == ARCHIVE_WARN)
        {
          g_autofree char *message = pd_escape_untrusted (archive_error_string (reader), -1);
          g_debug ("%s: %s", what, message);
        }
      if (!func (ctx, reader, entry, error))
        return FALSE;
    }
}

/* when the helper quit first, its own report says more than our broken pipe */
static void
prefer_helper_error (IngestContext *ctx, GError **error)
{
  g_autoptr(GError) helper_error = NULL;

  if (ctx->helper_gone && !ctx->helper_reaped &&
      !finish_helper (ctx, ctx->cancellable, &helper_error))
    {
      g_clear_error (error);
      g_propagate_error (error, g_steal_pointer (&helper_error));
    }
}

/* section: registry layers */

/* ".wh..wh..opq", or ".wh.NAME" with a real NAME: what the helper applies in --whiteouts mode */
static gboolean
check_whiteout (const char *name, const char *escaped, GError **error)
{
  const char *slash = strrchr (name, '/');
  const char *base = slash != NULL ? slash + 1 : name;
  const char *target = base + strlen (".wh.");

  if (g_str_equal (base, ".wh..wh..opq"))
    return TRUE;
  if (g_str_has_prefix (target, ".wh.") || *target == '\0' || g_str_equal (target, ".") ||
      g_str_equal (target, ".."))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout \"%s\"", escaped);
      return FALSE;
    }
  return TRUE;
}

static gboolean
copy_whiteout (IngestContext *ctx, const char *name, GError **error)
{
  g_autoptr(PdAutoArchiveEntry) out = archive_entry_new ();
  g_autofree char *escaped = pd_escape_untrusted (name, -1);

  if (!check_whiteout (name, escaped, error))
    return FALSE;
  if (find_symlink_on_path (ctx, name, FALSE) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                   "whiteout \"%s\" is inside a symlink", escaped);
      return FALSE;
    }
  if (ctx->onto_empty_rootfs)
    return TRUE;
  /* an empty file of that name, whatever the layer had: the helper only needs the name */
  archive_entry_set_pathname (out, name);
  archive_entry_set_filetype (out, AE_IFREG);
  archive_entry_set_perm (out, 0600);
  archive_entry_set_size (out, 0);
  return check_layer_write (ctx, archive_write_header (ctx->writer, out) >= ARCHIVE_WARN, error);
}

static gboolean
ingest_layer_entry (IngestContext *ctx, struct archive *reader, struct archive_entry *entry,
                    GError **error)
{
  g_autofree char *name = NULL;
  const char *base;

  if (!count_entry (ctx, "layer", error) ||
      !check_name (ctx, archive_entry_pathname (entry), &name, error) ||
      !count_entry_bytes (ctx, entry, "plugin", error))
    return FALSE;

  if (ctx->writer == NULL && !start_layer (ctx, error))
    return FALSE;
  base = strrchr (name, '/');
  base = base != NULL ? base + 1 : name;
  if (g_str_has_prefix (base, ".wh."))
    return copy_whiteout (ctx, name, error);
  return copy_rootfs_entry (ctx, reader, entry, name, name, error);
}

/* section: the decompressing thread */

/* A layer is decompressed in a thread of its own ("pd-inflate"), at most LAYER_BLOCKS blocks
 * ahead of the tar reader, which hashes, counts, normalises and sends them to the helper: on
 * two cores the inflate overlaps with the rest of the pipeline. The blocks reach the tar
 * reader in stream order, followed by the end of the stream or the error that ended it, so
 * every verdict and its order are those of a single thread; the tar side quitting first stops
 * the decompressing side (its read function sees its cancellable cancelled). */
#define LAYER_BLOCKS 8
#define LAYER_BLOCK_SIZE (128 * 1024)

typedef struct {
  guchar *data;
  gsize len;
} LayerBlock;

struct _LayerDecoder {
  /* the decompressing side's: only the calling thread before the thread starts, only the
   * thread after */
  PdLayerReadFunc read;
  gpointer read_data;
  struct archive *raw;      /* decompresses what is not gzip (sniffed, in-process filters) */
  PdGunzip *gunzip;         /* gzip, the usual layer: ISA-L where built in */
  guchar *read_buffer;
  gsize peeked;             /* bytes of read_buffer read to tell gzip, for raw's first read */
  gboolean input_ended;     /* the read function said end of stream */
  GError *read_error;       /* raw's read callback's first error, which beats libarchive's */
  const guint8 *raw_next;   /* what raw gave and no block has taken yet */
  gsize raw_avail;

  /* given to the read function: cancelled with the caller's, or when the tar side quits */
  GCancellable *cancellable;
  GCancellable *outer;
  gulong outer_handler;

  /* between the two threads */
  GMutex lock;
  GCond cond;
  guint n_blocks;           /* made so far, at most LAYER_BLOCKS */
  GQueue free;              /* LayerBlock */
  GQueue filled;            /* LayerBlock, in stream order */
  gboolean finished;        /* no more blocks: the end of the stream, or error */
  GError *error;            /* what ended it, after the filled blocks */
  gboolean stopping;        /* the tar side quit */
  GThread *thread;
  LayerBlock *current;      /* the tar reader's, valid until its next read */
};

static void
layer_block_free (gpointer data)
{
  LayerBlock *block = data;

  g_free (block->data);
  g_free (block);
}

static void
decoder_outer_cancelled_cb (GCancellable *outer, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

/* the read function, unless cancelled: a read function need not look at its cancellable when
 * it never blocks, and the decompressing side must not read on after a cancel */
static gssize
layer_decoder_read (LayerDecoder *dec, guchar *buffer, gsize count, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (dec->cancellable, error))
    return -1;
  return dec->read (buffer, count, dec->read_data, dec->cancellable, error);
}

static void
layer_decoder_init (LayerDecoder *dec, PdLayerReadFunc read_func, gpointer read_data,
                    GCancellable *outer)
{
  dec->read = read_func;
  dec->read_data = read_data;
  dec->read_buffer = g_malloc (READ_BUFFER_SIZE);
  dec->cancellable = g_cancellable_new ();
  g_mutex_init (&dec->lock);
  g_cond_init (&dec->cond);
  if (outer != NULL)
    {
      dec->outer = g_object_ref (outer);
      /* runs at once if it is cancelled already */
      dec->outer_handler = g_cancellable_connect (outer, G_CALLBACK (decoder_outer_cancelled_cb),
                                                  dec->cancellable, NULL);
    }
}

/* the tar side quits (or is done): the decompressing side stops and is waited for */
static void
layer_decoder_stop (LayerDecoder *dec)
{
  if (dec->thread == NULL)
    return;
  g_mutex_lock (&dec->lock);
  dec->stopping = TRUE;
  g_cond_broadcast (&dec->cond);
  g_mutex_unlock (&dec->lock);
  /* a read function waiting for the network returns */
  g_cancellable_cancel (dec->cancellable);
  g_thread_join (g_steal_pointer (&dec->thread));
}

static void
layer_decoder_clear (LayerDecoder *dec)
{
  if (dec->read_buffer == NULL)
    return;
  layer_decoder_stop (dec);
  if (dec->outer != NULL)
    g_cancellable_disconnect (dec->outer, dec->outer_handler);
  g_clear_object (&dec->outer);
  g_clear_object (&dec->cancellable);
  g_clear_pointer (&dec->current, layer_block_free);
  g_queue_clear_full (&dec->free, layer_block_free);
  g_queue_clear_full (&dec->filled, layer_block_free);
  g_clear_error (&dec->error);
  g_clear_error (&dec->read_error);
  g_clear_pointer (&dec->raw, archive_free);
  g_clear_pointer (&dec->gunzip, pd_gunzip_free);
  g_clear_pointer (&dec->read_buffer, g_free);
  g_cond_clear (&dec->cond);
  g_mutex_clear (&dec->lock);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LayerDecoder, layer_decoder_clear)

static la_ssize_t
layer_raw_read_cb (struct archive *a, void *user_data, const void **buffer)
{
  LayerDecoder *dec = user_data;
  GError *error = NULL;
  gssize n;

  /* first what was read to tell gzip from the rest */
  if (dec->peeked > 0)
    {
      n = (gssize) dec->peeked;
      dec->peeked = 0;
      *buffer = dec->read_buffer;
      return n;
    }
  if (dec->input_ended)
    return 0;
  n = layer_decoder_read (dec, dec->read_buffer, READ_BUFFER_SIZE, &error);
  if (n < 0)
    {
      if (dec->read_error == NULL)
        dec->read_error = error;
      else
        g_error_free (error);
      return -1;
    }
  *buffer = dec->read_buffer;
  return n;
}

/* the error of a failed call on raw: the read function's first, then libarchive's */
static void
take_raw_error (LayerDecoder *dec, const char *what, GError **error)
{
  if (dec->read_error != NULL)
    g_propagate_error (error, g_steal_pointer (&dec->read_error));
  else
    set_archive_error (error, dec->raw, what);
}

/* On the calling thread: reads the layer's first bytes. gzip goes to pd_gunzip, every other
 * compression (and plain tar) to libarchive's sniffing reader, which reads its first bytes
 * here too, so that a layer it does not know fails before anything starts. */
static gboolean
layer_decoder_open (LayerDecoder *dec, GError **error)
{
  struct archive_entry *raw_entry = NULL;

  while (dec->peeked < 2 && !dec->input_ended)
    {
      gssize n = layer_decoder_read (dec, dec->read_buffer + dec->peeked,
                                     READ_BUFFER_SIZE - dec->peeked, error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        dec->input_ended = TRUE;
      dec->peeked += (gsize) n;
    }
  if (dec->peeked >= 2 && dec->read_buffer[0] == 0x1f && dec->read_buffer[1] == 0x8b)
    {
      dec->gunzip = pd_gunzip_new (pd_inflate_default_backend ());
      pd_gunzip_feed (dec->gunzip, dec->read_buffer, dec->peeked);
      dec->peeked = 0;
      return TRUE;
    }

  dec->raw = archive_read_new ();
  if (dec->raw == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot create an archive reader");
      return FALSE;
    }
  add_in_process_filters (dec->raw);
  archive_read_support_format_raw (dec->raw);
  if (archive_read_open (dec->raw, dec, NULL, layer_raw_read_cb, NULL) != ARCHIVE_OK ||
      archive_read_next_header (dec->raw, &raw_entry) != ARCHIVE_OK)
    {
      take_raw_error (dec, "reading the layer", error);
      return FALSE;
    }
  return TRUE;
}

/* Inflates into @out, up to @out_len bytes; sets *@ended at the end of the stream. What is
 * inflated is handed over before the next read, which may wait for the network: the tar side
 * sees every byte as soon as a single thread would have, and a verdict on them never waits for
 * a stalled download. */
static gsize
gunzip_fill (LayerDecoder *dec, guchar *out, gsize out_len, gboolean *ended, GError **error)
{
  gsize len = 0;

  while (len < out_len)
    {
      gssize n;

      if (pd_gunzip_needs_input (dec->gunzip) && !dec->input_ended)
        {
          gssize got;

          if (len > 0)
            break;
          got = layer_decoder_read (dec, dec->read_buffer, READ_BUFFER_SIZE, error);
          if (got < 0)
            break;
          if (got == 0)
            dec->input_ended = TRUE;
          else
            pd_gunzip_feed (dec->gunzip, dec->read_buffer, (gsize) got);
        }
      n = pd_gunzip_read (dec->gunzip, out + len, out_len - len, dec->input_ended, error);
      if (n < 0)
        {
          g_prefix_error (error, "decompressing the layer: ");
          break;
        }
      len += (gsize) n;
      if (n == 0 && dec->input_ended)
        {
          *ended = TRUE;
          break;
        }
    }
  return len;
}

/* the same from raw */
static gsize
raw_fill (LayerDecoder *dec, guchar *out, gsize out_len, gboolean *ended, GError **error)
{
  gsize len = 0;

  while (len < out_len)
    {
      gsize k;

      if (dec->raw_avail == 0)
        {
          const void *data = NULL;
          size_t size = 0;
          la_int64_t offset = 0;
          int r;

          /* libarchive's next block may wait for the network */
          if (len > 0)
            break;
          r = archive_read_data_block (dec->raw, &data, &size, &offset);
          if (r == ARCHIVE_EOF)
            {
              /* libarchive takes a failed read after a gzip member for the end of the stream:
               * the read function's error (a blob's digest check, on its last read) must not
               * get lost */
              if (dec->read_error != NULL)
                g_propagate_error (error, g_steal_pointer (&dec->read_error));
              else
                *ended = TRUE;
              break;
            }
          if (r < ARCHIVE_WARN)
            {
              take_raw_error (dec, "decompressing the layer", error);
              break;
            }
          dec->raw_next = data;
          dec->raw_avail = size;
        }
      k = MIN (dec->raw_avail, out_len - len);
      memcpy (out + len, dec->raw_next, k);
      dec->raw_next += k;
      dec->raw_avail -= k;
      len += k;
    }
  return len;
}

static gpointer
layer_decoder_thread (gpointer user_data)
{
  LayerDecoder *dec = user_data;

  for (;;)
    {
      GError *error = NULL;
      gboolean ended = FALSE;
      LayerBlock *block;

      g_mutex_lock (&dec->lock);
      while (g_queue_is_empty (&dec->free) && dec->n_blocks == LAYER_BLOCKS && !dec->stopping)
        g_cond_wait (&dec->cond, &dec->lock);
      block = dec->stopping ? NULL : g_queue_pop_head (&dec->free);
      /* made as needed: a small layer never uses them all */
      if (block == NULL && !dec->stopping)
        {
          block = g_new0 (LayerBlock, 1);
          block->data = g_malloc (LAYER_BLOCK_SIZE);
          dec->n_blocks++;
        }
      g_mutex_unlock (&dec->lock);
      if (block == NULL)
        break;

      if (dec->gunzip != NULL)
        block->len = gunzip_fill (dec, block->data, LAYER_BLOCK_SIZE, &ended, &error);
      else
        block->len = raw_fill (dec, block->data, LAYER_BLOCK_SIZE, &ended, &error);

      g_mutex_lock (&dec->lock);
      if (block->len > 0)
        g_queue_push_tail (&dec->filled, block);
      else
        g_queue_push_tail (&dec->free, block);
      /* after the blocks before it: the end of the stream, or the error */
      if (error != NULL || ended)
        {
          dec->finished = TRUE;
          dec->error = error;
        }
      g_cond_broadcast (&dec->cond);
      g_mutex_unlock (&dec->lock);
      if (error != NULL || ended)
        break;
    }
  return NULL;
}

static gboolean
layer_decoder_start (LayerDecoder *dec, GError **error)
{
  dec->thread = g_thread_try_new ("pd-inflate", layer_decoder_thread, dec, error);
  if (dec->thread == NULL)
    {
      g_prefix_error (error, "cannot start the decompressing thread: ");
      pd_error_convert (error);
      return FALSE;
    }
  return TRUE;
}

/* the tar side: the next block (0 at the end of the stream, -1 with @error set); it stays
 * valid until the next call */
static gssize
layer_decoder_next (LayerDecoder *dec, const void **buffer, GError **error)
{
  g_mutex_lock (&dec->lock);
  if (dec->current != NULL)
    {
      g_queue_push_tail (&dec->free, g_steal_pointer (&dec->current));
      g_cond_broadcast (&dec->cond);
    }
  while (g_queue_is_empty (&dec->filled) && !dec->finished)
    g_cond_wait (&dec->cond, &dec->lock);
  dec->current = g_queue_pop_head (&dec->filled);
  g_mutex_unlock (&dec->lock);

  if (dec->current != NULL)
    {
      *buffer = dec->current->data;
      return (gssize) dec->current->len;
    }
  /* the end, or the error that ended the stream, given once */
  if (dec->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&dec->error));
      return -1;
    }
  return 0;
}

/* section: the tar side of a layer */

/* the tar reader of a layer reads the decompressed stream block by block, without a copy,
 * hashing it for the diff_id on the way; every byte counts against max_bytes, the tar's
 * headers and whatever follows its end-of-archive blocks too (a few KiB of gzip can inflate
 * to gigabytes of "padding" that no entry header declares) */
static la_ssize_t
layer_tar_read_cb (struct archive *a, void *user_data, const void **buffer)
{
  IngestContext *ctx = user_data;
  GError *error = NULL;
  gssize n = layer_decoder_next (ctx->decoder, buffer, &error);

  if (n < 0)
    {
      set_callback_error (ctx, error);
      return -1;
    }
  if (n == 0)
    return 0;
  ctx->uncompressed_bytes += (guint64) n;
  if (ctx->uncompressed_bytes > ctx->limits->max_bytes)
    {
      set_callback_error (ctx, g_error_new (PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                                            "the layer is larger than %" G_GUINT64_FORMAT
                                            " bytes uncompressed", ctx->limits->max_bytes));
      return -1;
    }
  pd_sha256_update (ctx->input_hasher, *buffer, (gsize) n);
  return (la_ssize_t) n;
}

/* after the tar's end-of-archive blocks: the rest of the stream counts for the diff_id too */
static gboolean
drain_layer (IngestContext *ctx, GError **error)
{
  for (;;)
    {
      const void *buffer;
      la_ssize_t n = layer_tar_read_cb (NULL, ctx, &buffer);

      if (n == 0)
        return TRUE;
      if (n < 0)
        {
          g_propagate_error (error, g_steal_pointer (&ctx->callback_error));
          return FALSE;
        }
    }
}

/* the set-up both kinds of input share */
static void
ingest_context_init (IngestContext *ctx, const char *staging_dir, const char *helper_path,
                     const PdArchiveLimits *limits, PdArchiveLimits *default_limits,
                     GCancellable *cancellable)
{
  if (limits == NULL)
    {
      pd_archive_limits_init (default_limits);
      limits = default_limits;
    }
  ctx->fd = -1;
  ctx->helper_socket = -1;
  ctx->limits = limits;
  ctx->staging_dir = staging_dir;
  ctx->helper_path = helper_path != NULL ? helper_path : pd_archive_get_helper_path ();
  ctx->cancellable = cancellable;
  ctx->read_buffer = g_malloc (READ_BUFFER_SIZE);
  ctx->symlinks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (cancellable != NULL)
    ctx->have_cancel_pollfd = g_cancellable_make_pollfd (cancellable, &ctx->cancel_pollfd);
}

gboolean
pd_archive_apply_layer (PdLayerReadFunc read_func,
                        gpointer read_data,
                        const char *diff_id,
                        const char *staging_dir,
                        const char *helper_path,
                        const PdArchiveLimits *limits,
                        guint64 *uncompressed_size,
                        GCancellable *cancellable,
                        GError **error)
{
  g_auto(LayerDecoder) decoder = { 0 };
  g_auto(IngestContext) ctx = { 0 };
  g_autoptr(PdAutoArchive) reader = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *computed = NULL;
  PdArchiveLimits default_limits;

  g_return_val_if_fail (read_func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ingest_context_init (&ctx, staging_dir, helper_path, limits, &default_limits, cancellable);
  ctx.layer_mode = TRUE;
  ctx.input_hasher = pd_sha256_new ();

  /* the helper starts (fork, exec, chroot, seccomp) while the first data is on its way */
  if (staging_dir != NULL && !start_layer (&ctx, error))
    return FALSE;
  /* two threads: the decoder (pd_gunzip, or libarchive's "raw" reader for the other
   * compressions) undoes the compression; the tar reader parses what it yields, here */
  layer_decoder_init (&decoder, read_func, read_data, cancellable);
  ctx.decoder = &decoder;
  if (!layer_decoder_open (&decoder, error))
    return FALSE;
  reader = archive_read_new ();
  if (reader == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot create an archive reader");
      return FALSE;
    }
  if (!layer_decoder_start (&decoder, error))
    return FALSE;
  archive_read_support_format_tar (reader);
  if (archive_read_open (reader, &ctx, NULL, layer_tar_read_cb, NULL) != ARCHIVE_OK)
    {
      take_read_error (&ctx, reader, "reading the layer", error);
      return FALSE;
    }

  read_entries (&ctx, reader, "reading the layer", ingest_layer_entry, &local_error);
  /* an empty layer still gets its (empty) rootfs and a helper run */
  if (local_error == NULL && ctx.writer == NULL)
    start_layer (&ctx, &local_error);
  if (local_error == NULL)
    drain_layer (&ctx, &local_error);
  /* the whole stream was read, or the tar side failed: either way no more is decompressed */
  layer_decoder_stop (&decoder);
  /* a read error libarchive's tar reader took for the end must not get lost */
  if (local_error == NULL && ctx.callback_error != NULL)
    g_propagate_error (&local_error, g_steal_pointer (&ctx.callback_error));
  if (local_error == NULL)
    {
      computed = pd_sha256_finish (ctx.input_hasher);
      if (diff_id != NULL && !g_str_equal (computed, diff_id))
        g_set_error (&local_error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                     "the uncompressed layer has digest %s, but the config's rootfs.diff_ids "
                     "says %s", computed, diff_id);
    }
  if (local_error == NULL)
    finish_layer (&ctx, cancellable, NULL, &local_error);

  if (local_error != NULL)
    {
      prefer_helper_error (&ctx, &local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (uncompressed_size != NULL)
    *uncompressed_size = ctx.uncompressed_bytes;
  return TRUE;
}

/* section: public */

PdContextResult *
pd_archive_ingest_context (int fd,
                           PdStore *store,
                           const char *staging_dir,
                           const char *helper_path,
                           const PdArchiveLimits *limits,
                           PdArchiveProgressFunc progress,
                           gpointer progress_data,
                           GCancellable *cancellable,
                           GError **error)
{
  g_auto(IngestContext) ctx = { 0 };
  g_autoptr(PdAutoArchive) reader = NULL;
  g_autoptr(PdContextResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  PdArchiveLimits default_limits;

  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (PD_IS_STORE (store), NULL);
  g_return_val_if_fail (staging_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ingest_context_init (&ctx, staging_dir, helper_path, limits, &default_limits, cancellable);
  ctx.fd = fd;
  ctx.store = store;
  ctx.progress = progress;
  ctx.progress_data = progress_data;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  reader = archive_read_new ();
  if (reader == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot create an archive reader");
      return NULL;
    }
  add_in_process_filters (reader);
  archive_read_support_format_tar (reader);
  if (archive_read_open (reader, &ctx, NULL, context_read_cb, NULL) != ARCHIVE_OK)
    {
      take_read_error (&ctx, reader, "reading the context", error);
      return NULL;
    }

  read_entries (&ctx, reader, "reading the context", ingest_entry, &local_error);

  if (local_error == NULL && !ctx.found_rootfs)
    g_set_error (&local_error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "no rootfs found");
  if (local_error == NULL && ctx.config_data == NULL)
    g_set_error (&local_error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "config not found");

  result = g_new0 (PdContextResult, 1);
  if (local_error == NULL)
    finish_layer (&ctx, cancellable, result, &local_error);

  if (local_error != NULL)
    {
      prefer_helper_error (&ctx, &local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  result->config_data = g_steal_pointer (&ctx.config_data);
  return g_steal_pointer (&result);
}
