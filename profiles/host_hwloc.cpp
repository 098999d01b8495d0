// detect_topology(): the one place that includes <hwloc.h>. Counts packages, cores, PUs, NUMA
// nodes and caches of this machine; hwloc types never leave this file.
#include <hwloc.h>

#include "profiles/host.h"

namespace profiles {

common::Result<HostTopology> detect_topology() {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return common::Status::Unavailable("hwloc: cannot initialise a topology");
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    return common::Status::Unavailable("hwloc: cannot load this machine's topology");
  }
  auto count = [&](hwloc_obj_type_t type) {
    int n = hwloc_get_nbobjs_by_type(topo, type);
    return n < 0 ? 0 : n;
  };
  HostTopology t;
  t.packages = count(HWLOC_OBJ_PACKAGE);
  t.cores = count(HWLOC_OBJ_CORE);
  t.pus = count(HWLOC_OBJ_PU);
  t.numa_nodes = count(HWLOC_OBJ_NUMANODE);
  struct CacheType {
    hwloc_obj_type_t type;
    int level;
  };
  constexpr CacheType kCaches[] = {{HWLOC_OBJ_L1CACHE, 1}, {HWLOC_OBJ_L1ICACHE, 1}, {HWLOC_OBJ_L2CACHE, 2},
                                   {HWLOC_OBJ_L3CACHE, 3}, {HWLOC_OBJ_L4CACHE, 4}};
  for (const CacheType& ct : kCaches) {
    int n = count(ct.type);
    if (n == 0) continue;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, ct.type, 0);
    CacheLevel c;
    c.level = ct.level;
    c.count = n;
    c.size_bytes = obj && obj->attr ? obj->attr->cache.size : 0;
    switch (obj && obj->attr ? obj->attr->cache.type : HWLOC_OBJ_CACHE_UNIFIED) {
      case HWLOC_OBJ_CACHE_DATA: c.type = "data"; break;
      case HWLOC_OBJ_CACHE_INSTRUCTION: c.type = "instruction"; break;
      default: c.type = "unified"; break;
    }
    t.caches.push_back(c);
  }
  hwloc_topology_destroy(topo);
  if (t.cores == 0) t.cores = t.pus;
  return t;
}

}  // namespace profiles
