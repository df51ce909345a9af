/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-store.h"

G_BEGIN_DECLS

/*
 * What the parts of the store share; for src/core/pd-store*.c only.
 *
 *   pd-store.c            the object, records, staging dirs, commits, removal, disk usage
 *   pd-store-blobs.c      blobs: pins, writers, reads, garbage collection
 *   pd-store-reconcile.c  the reconciler pd_store_new() runs
 *
 * Crash points (pd_crash_point(), which the crash tests fire), in the order they fire:
 *
 *   blob-before-rename                  blob ingest synced in tmp/, not yet in blobs/sha256/
 *   blob-after-rename                   blob renamed into blobs/sha256/, dir not yet synced
 *   store-commit-record-before-rename   plugin.json temp written in the staging dir
 *   store-commit-before-rename          staging dir complete (record + rootfs), still in tmp/
 *   store-commit-after-rename           staging dir renamed to plugins/<id>, dirs not synced
 *   store-upgrade-before-exchange       upgraded staging dir complete, still in tmp/
 *   store-upgrade-after-exchange        staging dir and plugins/<id> exchanged, dirs not synced
 *   store-save-before-rename            new plugin.json temp synced next to the old one
 *   store-save-after-rename             new plugin.json in place
 *   store-remove-before-rename          nothing changed yet
 *   store-remove-after-rename           plugins/<id>-removing exists and is synced
 *   store-remove-after-record-unlink    plugin.json of the -removing dir deleted, rootfs not
 *   store-reconcile-after-tmp           reconciler emptied tmp/, the rest not yet reconciled
 *
 * A commit is one rename of a dir that already holds the record, so no crash can leave a
 * plugins/<id> dir without a valid record or rootfs. When one is found anyway (a record of a
 * newer daemon after a downgrade, a config that a later validator refuses, an I/O error) it is
 * real data: it is left in place, not listed, and blob GC keeps every blob its record file
 * names (or, when that file cannot be read at all, deletes nothing, since its blobs are
 * unknown).
 */

#define RECORD_FILE "plugin.json"

struct _PdStore {
  GObject parent_instance;

  /* immutable after pd_store_new(): safe to read from GTask threads */
  char *state_dir;
  char *plugins_dir;
  char *blobs_dir;
  char *tmp_dir;
  int state_fd;
  int plugins_fd;
  int blobs_fd;
  int tmp_fd;

  /* guards pins and unlisted: blob writers commit from GTask threads */
  GMutex lock;
  /* hex of a blob → pin count (GUINT_TO_POINTER): blobs written by jobs whose records are not
   * committed yet, which GC must not delete */
  GHashTable *pins;
  /* name under plugins/ → why it is left in place and not listed; so that each is logged once */
  GHashTable *unlisted;
  /* a store of plugind-transfer (pd_store_open_for_transfer ()): pins and commits are the
   * daemon's */
  const PdStoreTransferHooks *hooks;
  gpointer hooks_data;
};

/* pd-store.c */

/* "<id>-removing" with a valid id: what pd_store_remove_plugin() makes, and nothing else */
gboolean pd_store_is_removing_name (const char *name);
/* what a blob ingest's name starts with */
#define INGEST_PREFIX "ingest-"
/* pd-store-blobs.c */
/* the hex part of a valid "sha256:<hex>", else NULL */
const char *pd_store_digest_hex (const char *digest);
void pd_store_pin_blob_hex (PdStore *self, const char *hex);
/* pins @tmp_name (relative to tmp/, synced and closed) and renames it to blobs/sha256/ as
 * @digest, with the crash points blob-before-rename and blob-after-rename */
gboolean pd_store_adopt_blob_at (PdStore *store, const char *tmp_name, const char *digest,
                                 GError **error);
/* the name under tmp/ of a dir pd_store_create_staging_dir () made, else NULL */
const char *pd_store_staging_name (PdStore *self, const char *staging_dir);
/* for a dir sync after a rename that already succeeded: logged, never reported */
void pd_store_sync_dir_or_warn (int dirfd, const char *what);
/* warns once per entry of plugins/ that is left in place and not listed */
void pd_store_note_unlisted (PdStore *self, const char *name, const char *reason);

/* pd-store-reconcile.c */

gboolean pd_store_reconcile (PdStore *self, GError **error);

G_END_DECLS
