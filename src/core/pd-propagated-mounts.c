/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-propagated-mounts"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "pd-error.h"
#include "pd-propagated-mounts.h"

void
pd_propagated_mount_free (PdPropagatedMount *mount)
{
  if (mount == NULL)
    return;
  g_free (mount->host_path);
  g_free (mount->fstype);
  g_free (mount);
}

/* ---- the parser ---- */

typedef struct {
  guint64 id;
  guint64 parent;
  char *mount_point;   /* unescaped */
  char *fstype;
} Entry;

static void
entry_clear (Entry *entry)
{
  g_free (entry->mount_point);
  g_free (entry->fstype);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static char *
unescape (const char *field)
{
  GString *out = g_string_sized_new (strlen (field));

  for (const char *p = field; *p != '\0'; p++)
    {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
          p[3] >= '0' && p[3] <= '7')
        {
          g_string_append_c (out, (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static gboolean
parse_id (const char *text, guint64 *out)
{
  return g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, out, NULL);
}

/* "ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER-OPTIONS" */
static gboolean
parse_line (const char *line, Entry *entry)
{
  g_auto(GStrv) fields = g_strsplit (line, " ", -1);
  guint n = g_strv_length (fields);
  guint dash;

  if (n < 10 || !parse_id (fields[0], &entry->id) || !parse_id (fields[1], &entry->parent))
    return FALSE;
  for (dash = 6; dash < n && !g_str_equal (fields[dash], "-"); dash++)
    ;
  if (dash + 1 >= n)
    return FALSE;
  entry->mount_point = unescape (fields[4]);
  entry->fstype = unescape (fields[dash + 1]);
  return TRUE;
}

/* whether @index descends from @root: its chain of parents reaches it. @state caches the
 * answer of every entry walked (0 unknown, 1 yes, 2 no, 3 being walked: a loop, which the
 * kernel never writes, is a no) */
static gboolean
descends (GArray *entries, GHashTable *by_id, guint8 *state, guint index, guint64 root)
{
  g_autoptr(GArray) path = g_array_new (FALSE, FALSE, sizeof (guint));
  guint8 answer = 2;
  guint i = index;

  for (;;)
    {
      Entry *entry = &g_array_index (entries, Entry, i);
      gpointer parent_index;

      if (state[i] == 1 || state[i] == 2)
        {
          answer = state[i];
          break;
        }
      if (state[i] == 3)
        break;
      state[i] = 3;
      g_array_append_val (path, i);
      if (entry->parent == root)
        {
          answer = 1;
          break;
        }
      /* the root of the namespace is its own parent, or its parent is not in the table */
      if (entry->parent == entry->id ||
          !g_hash_table_lookup_extended (by_id, &entry->parent, NULL, &parent_index))
        break;
      i = GPOINTER_TO_UINT (parent_index);
    }
  for (guint k = 0; k < path->len; k++)
    state[g_array_index (path, guint, k)] = answer;
  return answer == 1;
}

GPtrArray *
pd_propagated_mounts_parse (const char *text, gsize len, guint64 mount_id, const char *host_dir,
                            GError **error)
{
  g_autoptr(GArray) entries = g_array_new (FALSE, TRUE, sizeof (Entry));
  g_autoptr(GHashTable) by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr(GPtrArray) mounts = g_ptr_array_new_with_free_func (
    (GDestroyNotify) pd_propagated_mount_free);
  g_autofree guint8 *state = NULL;
  const char *base = NULL;
  const char *p = text;
  const char *end = text + len;

  g_array_set_clear_func (entries, (GDestroyNotify) entry_clear);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      g_autofree char *line = NULL;
      Entry entry = { 0 };

      /* a cut last line */
      if (nl == NULL)
        break;
      line = g_strndup (p, (gsize) (nl - p));
      p = nl + 1;
      if (!parse_line (line, &entry))
        {
          g_autofree char *escaped = pd_escape_untrusted (line, -1);

          entry_clear (&entry);
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "not a mountinfo line: %s", escaped);
          return NULL;
        }
      g_array_append_val (entries, entry);
    }
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = &g_array_index (entries, Entry, i);

      g_hash_table_insert (by_id, &entry->id, GUINT_TO_POINTER (i));
      if (entry->id == mount_id)
        base = entry->mount_point;
    }
  if (base == NULL)
    return g_steal_pointer (&mounts);

  state = g_new0 (guint8, entries->len);
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = &g_array_index (entries, Entry, i);
      PdPropagatedMount *mount;
      const char *rest;

      if (entry->id == mount_id || !descends (entries, by_id, state, i, mount_id))
        continue;
      /* beneath the mount point of its ancestor, or stacked on it */
      if (g_str_equal (entry->mount_point, base))
        rest = "";
      else if (g_str_has_prefix (entry->mount_point, base) &&
               (g_str_equal (base, "/") || entry->mount_point[strlen (base)] == '/'))
        rest = entry->mount_point + strlen (base);
      else
        continue;
      mount = g_new0 (PdPropagatedMount, 1);
      mount->host_path = g_strconcat (host_dir, rest[0] == '/' || rest[0] == '\0' ? "" : "/",
                                      rest, NULL);
      mount->fstype = g_strdup (entry->fstype);
      g_ptr_array_add (mounts, mount);
    }
  return g_steal_pointer (&mounts);
}

/* ---- the watch ---- */

struct _PdPropagatedMounts {
  int fd;
  guint64 mount_id;
  char *host_dir;
  PdPropagatedMountsChanged changed;
  gpointer user_data;
  guint watch_id;
  guint later_id;
  GPtrArray *mounts;     /* PdPropagatedMount, at most PD_PROPAGATED_MOUNTS_MAX_LISTED */
  guint n_unlisted;
};

static gboolean on_table_changed (int fd, GIOCondition condition, gpointer user_data);

/* the table as it is now; NULL when it cannot be read, *@cut when it was larger than the bound */
static char *
read_table (PdPropagatedMounts *self, gsize *len, gboolean *cut)
{
  g_autofree char *buf = NULL;
  gsize size = 64 * 1024;
  gsize used = 0;

  *cut = FALSE;
  if (lseek (self->fd, 0, SEEK_SET) != 0)
    return NULL;
  buf = g_malloc (size);
  for (;;)
    {
      ssize_t n;

      if (used == size)
        {
          if (size >= PD_PROPAGATED_MOUNTS_MAX_TABLE)
            {
              *cut = TRUE;
              break;
            }
          size = MIN (size * 2, (gsize) PD_PROPAGATED_MOUNTS_MAX_TABLE);
          buf = g_realloc (buf, size);
        }
      n = read (self->fd, buf + used, size - used);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      used += (gsize) n;
    }
  *len = used;
  return g_steal_pointer (&buf);
}

static gboolean
same_mounts (GPtrArray *a, GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      PdPropagatedMount *x = g_ptr_array_index (a, i);
      PdPropagatedMount *y = g_ptr_array_index (b, i);

      if (!g_str_equal (x->host_path, y->host_path) || !g_str_equal (x->fstype, y->fstype))
        return FALSE;
    }
  return TRUE;
}

void
pd_propagated_mounts_refresh (PdPropagatedMounts *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) mounts = NULL;
  g_autofree char *table = NULL;
  gboolean cut = FALSE;
  guint n_unlisted = 0;
  gsize len = 0;

  table = read_table (self, &len, &cut);
  if (table == NULL)
    {
      /* the namespace is gone with its last process: what is left is released at its end */
      g_debug ("cannot read the mount table of the sandbox: %s", g_strerror (errno));
      return;
    }
  mounts = pd_propagated_mounts_parse (table, len, self->mount_id, self->host_dir, &error);
  if (mounts == NULL)
    {
      g_warning ("the mount table of a sandbox: %s", error->message);
      return;
    }
  if (mounts->len > PD_PROPAGATED_MOUNTS_MAX_LISTED)
    {
      n_unlisted = mounts->len - PD_PROPAGATED_MOUNTS_MAX_LISTED;
      g_ptr_array_set_size (mounts, PD_PROPAGATED_MOUNTS_MAX_LISTED);
    }
  if (cut)
    n_unlisted = G_MAXUINT;
  if (n_unlisted == self->n_unlisted && same_mounts (mounts, self->mounts))
    return;
  g_ptr_array_unref (self->mounts);
  self->mounts = g_steal_pointer (&mounts);
  self->n_unlisted = n_unlisted;
  if (self->changed != NULL)
    self->changed (self->user_data);
}

static void
watch_table (PdPropagatedMounts *self)
{
  /* the kernel flags a changed mount table with POLLPRI and POLLERR */
  self->watch_id = g_unix_fd_add (self->fd, G_IO_PRI | G_IO_ERR, on_table_changed, self);
}

static gboolean
on_read_later (gpointer user_data)
{
  PdPropagatedMounts *self = user_data;

  self->later_id = 0;
  pd_propagated_mounts_refresh (self);
  watch_table (self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_table_changed (int fd, GIOCondition condition, gpointer user_data)
{
  PdPropagatedMounts *self = user_data;

  /* a burst of changes is read once, after it: a plugin mounting in a loop costs the daemon
   * one read per interval */
  self->watch_id = 0;
  self->later_id = g_timeout_add (PD_PROPAGATED_MOUNTS_INTERVAL_MS, on_read_later, self);
  return G_SOURCE_REMOVE;
}

PdPropagatedMounts *
pd_propagated_mounts_new (int mountinfo_fd, guint64 mount_id, const char *host_dir,
                          PdPropagatedMountsChanged changed, gpointer user_data)
{
  PdPropagatedMounts *self = g_new0 (PdPropagatedMounts, 1);

  self->fd = mountinfo_fd;
  self->mount_id = mount_id;
  self->host_dir = g_strdup (host_dir);
  self->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_propagated_mount_free);
  /* no callback for what is there at the start */
  pd_propagated_mounts_refresh (self);
  self->changed = changed;
  self->user_data = user_data;
  watch_table (self);
  return self;
}

GPtrArray *
pd_propagated_mounts_get (PdPropagatedMounts *self)
{
  return self->mounts;
}

guint
pd_propagated_mounts_get_n_unlisted (PdPropagatedMounts *self)
{
  return self->n_unlisted;
}

void
pd_propagated_mounts_free (PdPropagatedMounts *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->watch_id, g_source_remove);
  g_clear_handle_id (&self->later_id, g_source_remove);
  if (self->fd >= 0)
    close (self->fd);
  g_ptr_array_unref (self->mounts);
  g_free (self->host_dir);
  g_free (self);
}
