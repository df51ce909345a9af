/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-inflate FILE: writes the decompressed gzip FILE to stdout with zlib's streaming inflate
 * (the library plugind's pull uses, through libarchive), 256 KiB at a time; concatenated gzip
 * members are decompressed one after the other, as gzip -dc does. The "gunzip" of
 * run-pull-bench.sh's single-pass limit: GNU gzip has its own inflate, ~1.5x slower than zlib's
 * on the benchmark's layers, which would make the limit too easy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#define CHUNK (256 * 1024)

static unsigned char in_buf[CHUNK];
static unsigned char out_buf[CHUNK];

static int
write_all (int fd, const unsigned char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  z_stream zs;
  int fd, r = Z_OK;
  ssize_t n;

  if (argc != 2)
    {
      fprintf (stderr, "usage: bench-inflate FILE.gz\n");
      return 2;
    }
  fd = open (argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      perror (argv[1]);
      return 1;
    }
  memset (&zs, 0, sizeof zs);
  if (inflateInit2 (&zs, 15 + 16) != Z_OK)
    return 1;
  while ((n = read (fd, in_buf, CHUNK)) > 0)
    {
      zs.next_in = in_buf;
      zs.avail_in = (uInt) n;
      /* until the input is used up and the output buffer was not filled (nothing pending) */
      do
        {
          zs.next_out = out_buf;
          zs.avail_out = CHUNK;
          r = inflate (&zs, Z_NO_FLUSH);
          if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
            {
              fprintf (stderr, "bench-inflate: %s\n", zs.msg != NULL ? zs.msg : "inflate failed");
              return 1;
            }
          if (write_all (STDOUT_FILENO, out_buf, CHUNK - zs.avail_out) < 0)
            {
              perror ("bench-inflate: write");
              return 1;
            }
          /* another gzip member may follow */
          if (r == Z_STREAM_END && inflateReset (&zs) != Z_OK)
            return 1;
        }
      while (zs.avail_in > 0 || zs.avail_out == 0);
    }
  if (n < 0)
    {
      perror (argv[1]);
      return 1;
    }
  inflateEnd (&zs);
  return 0;
}
