/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The Go templates of `docker plugin inspect -f` and `docker plugin ls --format`: a subset of
 * Go's text/template with Docker's functions, evaluated over the JSON the daemon sends. What
 * the subset holds is listed in docs/pluginctl.1.rst (FORMATS); everything else is refused
 * when the template is parsed, naming the construct and where it is.
 */

/* bounds: the template comes from the user's own command line, but a few bytes of it can ask
 * for more output or work than any terminal wants (ranges within ranges) */
#define CTL_TEMPLATE_MAX_SIZE (64 * 1024)         /* bytes of template text */
#define CTL_TEMPLATE_MAX_DEPTH 64                 /* control structures and parentheses */
#define CTL_TEMPLATE_MAX_STEPS (1000 * 1000)      /* nodes evaluated and iterations, per use */
#define CTL_TEMPLATE_MAX_OUTPUT (32 * 1024 * 1024) /* bytes in the output buffer */

#define CTL_TEMPLATE_ERROR (ctl_template_error_quark ())
GQuark ctl_template_error_quark (void);

typedef enum {
  CTL_TEMPLATE_ERROR_PARSE, /* malformed, or outside the subset */
  CTL_TEMPLATE_ERROR_EXEC,  /* evaluating it on this data failed */
  CTL_TEMPLATE_ERROR_LIMIT, /* a bound above was reached */
} CtlTemplateError;

/* what the data is, which decides Go's field names, zero values and how values print */
typedef enum {
  /* Docker's types.Plugin (`plugin inspect`): Go's names first (.ID, .Config.Rootfs), and
   * when that fails, the JSON as maps (.Id, .Config.rootfs), as docker retries */
  CTL_TEMPLATE_DATA_PLUGIN,
  /* a row of `plugin ls`: ID, Name, Description, Enabled, PluginReference, State */
  CTL_TEMPLATE_DATA_LIST_ROW,
  /* the header line of a `table` format: column names by field, Docker's header functions */
  CTL_TEMPLATE_DATA_LIST_HEADER,
} CtlTemplateData;

typedef struct _CtlTemplate CtlTemplate;

/* NULL with CTL_TEMPLATE_ERROR_PARSE or _LIMIT (too long, too deep) */
CtlTemplate *ctl_template_parse (const char *text, GError **error);
void ctl_template_free (CtlTemplate *tmpl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlTemplate, ctl_template_free)

/* appends the output for @data to @out; on error @out is as it was */
gboolean ctl_template_execute (CtlTemplate *tmpl,
                               JsonNode *data,
                               CtlTemplateData kind,
                               GString *out,
                               GError **error);

G_END_DECLS
