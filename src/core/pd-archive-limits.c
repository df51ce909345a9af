/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the daemon needs of pd-archive.h without linking libarchive (pd-archive.c is
 * plugind-transfer's): the limits, the extraction helper's path and the compressions. */
#include "config.h"

#include "pd-archive.h"

void
pd_archive_limits_init (PdArchiveLimits *limits)
{
  limits->max_bytes = G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024;
  limits->max_entries = 1000000;
  limits->max_path_length = 4096;
  limits->max_depth = 128;
  limits->max_config_size = 4 * 1024 * 1024;
}

const char *
pd_archive_get_helper_path (void)
{
  const char *path = g_getenv ("PLUGIND_EXTRACT_HELPER");

  if (path != NULL && *path != '\0')
    return path;
  return LIBEXECDIR "/plugind-extract";
}

const char *const *
pd_archive_get_compressions (void)
{
  /* the filters pd-archive.c adds to its readers, when the libarchive it runs with has them
   * built in (Debian 12's has all but lzop, which it would run as an external program;
   * test-archive checks that this list is what it finds) */
  static const char *const compressions[] = {
    "gzip", "bzip2", "xz", "lzma", "lzip", "zstd", "lz4", "compress", NULL
  };

  return compressions;
}
