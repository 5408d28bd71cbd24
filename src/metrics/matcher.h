/*
 * matcher.h - label matchers live in src/base/matcher.h; this header keeps
 * "matcher.h" includes inside src/metrics working.
 */
#include "../base/matcher.h"
