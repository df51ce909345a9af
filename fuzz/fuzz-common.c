/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "fuzz-common.h"

/* criticals (a g_return_if_fail hit by some input) are bugs: abort, so that the fuzzer keeps
 * the input; the core's messages and debug lines would only slow the run down */
static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                 gpointer user_data)
{
  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0)
    {
      g_log_writer_standard_streams (level, fields, n_fields, user_data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
  if (fuzz_setup != NULL)
    fuzz_setup ();
  return 0;
}

char *
fuzz_strndup (const uint8_t *data, size_t size)
{
  char *text = g_malloc (size + 1);

  memcpy (text, data, size);
  text[size] = '\0';
  return text;
}
