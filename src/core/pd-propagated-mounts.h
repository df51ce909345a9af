/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * What a plugin has mounted beneath its PropagatedMount (docs/design.md, "The sandbox"). The
 * mount plugind puts at Config.PropagatedMount is a peer of a shared mount of the plugin's
 * propagated-mount dir on the host (pd_sandbox_finish_setup()), so every mount the plugin
 * makes on it, or on one of those, is on the host too, beneath that dir, and an engine may be
 * using it: while there is any, the plugin is in use (docs/dbus-api.md, Holders).
 *
 * They are read from the sandbox's own mount table (/proc/PID/mountinfo of its init), which
 * the kernel flags as changed whenever a mount comes or goes: the table is read again at most
 * every PD_PROPAGATED_MOUNTS_INTERVAL_MS, and at most PD_PROPAGATED_MOUNTS_MAX_TABLE bytes of
 * it, on the main thread. A plugin that makes more mounts than that shows as one holder
 * saying so.
 */

/* the mount table is read at most this often while it changes */
#define PD_PROPAGATED_MOUNTS_INTERVAL_MS 100
/* and at most this much of it (about 20,000 mounts) */
#define PD_PROPAGATED_MOUNTS_MAX_TABLE (4 * 1024 * 1024)
/* mounts listed one by one; the rest are counted */
#define PD_PROPAGATED_MOUNTS_MAX_LISTED 64

typedef struct {
  char *host_path;   /* where it is mounted on the host (UTF-8 as the kernel wrote it, not
                      * escaped: pass it through pd_escape_untrusted() before showing it) */
  char *fstype;      /* its file system type, as the kernel names it */
} PdPropagatedMount;

void pd_propagated_mount_free (PdPropagatedMount *mount);

/* Parses @text (@len bytes of a mountinfo; a last line without its newline is ignored, as one
 * that was cut) and returns the mounts that descend from the mount @mount_id: those mounted on
 * it or stacked on it, those mounted on one of these, and so on, in the table's order, with
 * their mount points moved from the mount point of @mount_id to @host_dir. An empty array
 * when @mount_id is not in the table (the plugin unmounted it). NULL with PD_ERROR_FAILED for
 * a line that is not mountinfo. Exported for tests. */
GPtrArray *pd_propagated_mounts_parse (const char *text, gsize len, guint64 mount_id,
                                       const char *host_dir, GError **error);

typedef struct _PdPropagatedMounts PdPropagatedMounts;

typedef void (*PdPropagatedMountsChanged) (gpointer user_data);

/* Watches the sandbox's mount table @mountinfo_fd (taken: closed by the free, which also
 * releases the sandbox's mount namespace the fd keeps alive) for the mounts beneath the
 * mount @mount_id, which is the propagated-mount dir @host_dir on the host. Reads it once
 * now; @changed runs from the main loop when the list changed. */
PdPropagatedMounts *pd_propagated_mounts_new (int mountinfo_fd, guint64 mount_id,
                                              const char *host_dir,
                                              PdPropagatedMountsChanged changed,
                                              gpointer user_data);
/* reads the table again now (a decision on the plugin needs the current list); @changed runs
 * when it changed */
void pd_propagated_mounts_refresh (PdPropagatedMounts *self);
/* the mounts (PdPropagatedMount), at most PD_PROPAGATED_MOUNTS_MAX_LISTED */
GPtrArray *pd_propagated_mounts_get (PdPropagatedMounts *self);
/* how many there are beyond those listed; G_MAXUINT when the table was larger than
 * PD_PROPAGATED_MOUNTS_MAX_TABLE (more than plugind reads) */
guint pd_propagated_mounts_get_n_unlisted (PdPropagatedMounts *self);
void pd_propagated_mounts_free (PdPropagatedMounts *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPropagatedMounts, pd_propagated_mounts_free)

G_END_DECLS
