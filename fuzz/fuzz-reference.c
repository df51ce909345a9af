/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference parser (remotes and names from any caller): a reference it accepts prints as
 * a string, long or (mostly) familiar, that parses back to the same reference. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "pd-reference.h"

static gboolean
familiar_is_ambiguous (const PdReference *ref)
{
  g_autofree char *first = g_strndup (ref->path, strcspn (ref->path, "/"));

  return g_str_equal (ref->domain, "docker.io") && strchr (ref->path, '/') != NULL &&
         (strpbrk (first, ".:") != NULL || g_str_equal (first, "localhost"));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(PdReference) again = NULL;
  g_autofree char *printed = NULL;
  g_autofree char *reprinted = NULL;
  g_autofree char *familiar = NULL;
  g_autofree char *local = NULL;

  local = pd_reference_local_name (text, NULL);
  pd_digest_is_valid (text);
  pd_plugin_id_is_valid (text);
  ref = pd_reference_parse (text, NULL);
  if (ref == NULL)
    return 0;
  printed = pd_reference_to_string (ref);
  familiar = pd_reference_familiar (ref);
  pd_reference_endpoint_host (ref);
  again = pd_reference_parse (printed, NULL);
  if (again == NULL)
    abort ();
  reprinted = pd_reference_to_string (again);
  if (strcmp (printed, reprinted) != 0)
    abort ();
  /* the short form Docker shows is a reference too, and the same one, except where Docker's
   * own short form is ambiguous: it drops "docker.io/" even before a first path component
   * that looks like a host ("docker.io/a.b/c" → "a.b/c"); plugind keeps the full remote of
   * what it pulled, and never takes a plugin's name for it (the short form may then even be
   * no reference at all: "docker.io/a_b.c/d" → "a_b.c/d"); and a short form of 64 hex digits
   * is refused as Docker refuses it, since it would read as an ID */
  if (familiar_is_ambiguous (ref) || pd_plugin_id_is_valid (familiar))
    return 0;
  g_clear_pointer (&again, pd_reference_free);
  g_clear_pointer (&reprinted, g_free);
  again = pd_reference_parse (familiar, NULL);
  if (again == NULL)
    abort ();
  reprinted = pd_reference_to_string (again);
  if (strcmp (printed, reprinted) != 0)
    abort ();
  return 0;
}
