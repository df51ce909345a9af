/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "ctl-template.h"

G_BEGIN_DECLS

/* The parsed template, shared by the parser (ctl-template-parse.c) and the evaluator
 * (ctl-template-exec.c); node kinds follow Go's text/template/parse. */

typedef enum {
  CTL_NODE_LIST,       /* children: the nodes in order */
  CTL_NODE_TEXT,       /* text */
  CTL_NODE_ACTION,     /* pipe, printed unless it declares variables */
  CTL_NODE_IF,         /* pipe, list, else_list (may be NULL) */
  CTL_NODE_RANGE,      /* the same */
  CTL_NODE_WITH,       /* the same */
  CTL_NODE_PIPE,       /* children: commands; decl: variable names; is_assign */
  CTL_NODE_COMMAND,    /* children: operands (the first may be a function) */
  CTL_NODE_FIELD,      /* idents: .A.B */
  CTL_NODE_VARIABLE,   /* idents: $x then fields */
  CTL_NODE_CHAIN,      /* operand (a parenthesised pipeline), idents: fields */
  CTL_NODE_IDENTIFIER, /* text: a function name */
  CTL_NODE_DOT,
  CTL_NODE_NIL,
  CTL_NODE_BOOL,       /* boolean */
  CTL_NODE_NUMBER,     /* is_int, integer; is_float, number */
  CTL_NODE_STRING,     /* text: the unquoted value */
} CtlNodeType;

typedef struct _CtlNode CtlNode;

struct _CtlNode {
  CtlNodeType type;
  gsize pos;            /* Go's position of the node, for messages (of .A.B: .B's) */
  gsize start;          /* its source text, for messages */
  gsize end;
  char *text;
  GPtrArray *children;  /* CtlNode */
  char **idents;
  GPtrArray *decl;      /* char *, the names of declared variables */
  gboolean is_assign;
  CtlNode *operand;
  CtlNode *pipe;
  CtlNode *list;
  CtlNode *else_list;
  gboolean boolean;
  gboolean is_int;      /* an integer constant ("1", "1e3", "'a'") */
  gboolean is_float;    /* written as a floating-point constant ("1.5", "1e3") */
  gint64 integer;
  double number;
};

struct _CtlTemplate {
  char *text;
  CtlNode *root;
};

void ctl_node_free (CtlNode *node);

/* "template: :LINE:COL: executing "" at <SOURCE>: " as Go prefixes an error of @node */
char *ctl_template_node_location (CtlTemplate *tmpl, CtlNode *node);

/* the functions a template may call; parsing refuses other names */
gboolean ctl_template_function_exists (const char *name);

G_END_DECLS
