/* hone.h - the umbrella header: includes every module's public header.
 * Each module's contract lives in include/hone/<module>.h. */
#ifndef HONE_H
#define HONE_H

#include "hone/core.h"
#include "hone/prof.h"
#include "hone/metrics.h"
#include "hone/bench.h"
#include "hone/exec.h"
#include "hone/mem.h"
#include "hone/hash.h"
#include "hone/io.h"
#include "hone/cache.h"
#include "hone/cachesim.h"
#include "hone/tier.h"
#include "hone/filecache.h"
#include "hone/registry.h"
#include "hone/flow.h"
#include "hone/http.h"
#include "hone/server.h"
#include "hone/run.h"
#include "hone/simcache.h"
#include "hone/opt.h"

#endif /* HONE_H */
