/*
 * pidio_array: growing arrays. See pidio_array.h.
 */
#include "pidio_build.h"

#include "pidio_array.h"

#include <stdint.h>
#include <stdlib.h>

void *pidio_array_grow(void *a, size_t *cap, size_t need, size_t size,
                       size_t first) {
  if (need <= *cap)
    return a;
  size_t c = *cap != 0 ? *cap : first;
  while (c < need) {
    if (c > SIZE_MAX / 2)
      return NULL;
    c *= 2;
  }
  if (c > SIZE_MAX / size)
    return NULL;
  void *p = realloc(a, c * size);
  if (p == NULL)
    return NULL;
  *cap = c;
  return p;
}
