/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-pd-gunzip zlib|isal FILE: inflates the gzip FILE with plugind's own inflater
 * (pd_gunzip, src/core/pd-inflate.c) and the backend named, in the pieces a pull uses (64 KiB
 * in, 128 KiB out), and prints the seconds and bytes; the output goes nowhere. Run both
 * backends on the same layer to compare them (bench/README.md).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "pd-inflate.h"

int
main (int argc, char **argv)
{
  g_autoptr(PdGunzip) gz = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *in = g_malloc (64 * 1024);
  g_autofree guint8 *out = g_malloc (128 * 1024);
  PdInflateBackend backend;
  gboolean ended = FALSE;
  guint64 total = 0;
  gint64 start;
  int fd;

  if (argc != 3 || (g_strcmp0 (argv[1], "zlib") != 0 && g_strcmp0 (argv[1], "isal") != 0))
    {
      fprintf (stderr, "usage: bench-pd-gunzip zlib|isal FILE.gz\n");
      return 2;
    }
  backend = g_str_equal (argv[1], "isal") ? PD_INFLATE_ISAL : PD_INFLATE_ZLIB;
  if (backend == PD_INFLATE_ISAL && !pd_inflate_have_isal ())
    {
      fprintf (stderr, "bench-pd-gunzip: built without ISA-L\n");
      return 1;
    }
  fd = open (argv[2], O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      perror (argv[2]);
      return 1;
    }
  gz = pd_gunzip_new (backend);
  start = g_get_monotonic_time ();
  for (;;)
    {
      gssize n;

      if (pd_gunzip_needs_input (gz) && !ended)
        {
          ssize_t got = read (fd, in, 64 * 1024);

          if (got < 0)
            {
              perror ("read");
              return 1;
            }
          if (got == 0)
            ended = TRUE;
          else
            pd_gunzip_feed (gz, in, (gsize) got);
        }
      n = pd_gunzip_read (gz, out, 128 * 1024, ended, &error);
      if (n < 0)
        {
          fprintf (stderr, "bench-pd-gunzip: %s\n", error->message);
          return 1;
        }
      total += (guint64) n;
      if (n == 0 && ended)
        break;
    }
  printf ("%s %.3f s %" G_GUINT64_FORMAT " bytes\n", argv[1],
          (double) (g_get_monotonic_time () - start) / 1e6, total);
  close (fd);
  return 0;
}
