/*
 * pidio's fuzz targets: libFuzzer entry points, and a check that stops the
 * run (a crash libFuzzer saves as an artifact) when an invariant breaks.
 *
 * Each fuzz/fuzz_*.c is linked two ways: with clang's libFuzzer for
 * 'make fuzz', and with fuzz/replay.c, an ordinary main() that feeds it
 * every file of its corpus under fixtures/fuzz/, for 'make check'.
 */
#ifndef PIDIO_FUZZ_H
#define PIDIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif /* PIDIO_FUZZ_H */
