/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every libFuzzer target of plugind shares (docs/HACKING.md, "Fuzzing"). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* the set-up of a target that needs one, run once before the first input */
void fuzz_setup (void) __attribute__ ((weak));

/* the input as a NUL-terminated string (it may hold NULs of its own) */
char *fuzz_strndup (const uint8_t *data, size_t size);
