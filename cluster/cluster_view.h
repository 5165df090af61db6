// ClusterView: what a node knows of its region's cluster, as GET
// /v1/cluster and /metrics show it (DESIGN.md section 9). A one-node
// region (no --etcd) has itself as its only node. Plain values only, so
// the protocol adapters can read it without the membership code.
//
// Thread-safety: a value.
#ifndef DELTAKV_CLUSTER_CLUSTER_VIEW_H_
#define DELTAKV_CLUSTER_CLUSTER_VIEW_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "deltakv/status.h"

namespace deltakv::cluster {

struct ClusterNodeView {
  std::string id;
  bool up = true;  // its lease is alive (a one-node region: itself, up)
  std::string state = "normal";  // joining, normal, leaving
  std::string http;              // HOST:PORT of its REST API
  std::string internal;          // HOST:PORT of its node-to-node listener
  std::string zone;
  uint32_t vnodes = 0;
};

struct ClusterView {
  std::string region;
  std::string node_id;
  uint32_t replicas = 1;      // N
  uint32_t write_quorum = 1;  // default W
  uint32_t read_quorum = 1;   // default R
  int64_t ring_revision = 0;  // etcd's mod_revision of the ring (0: none)
  std::vector<ClusterNodeView> nodes;  // sorted by id

  // With --etcd only.
  bool etcd = false;
  bool etcd_reachable = false;
  std::vector<std::string> etcd_endpoints;
  std::string etcd_error;           // the last failure ("" when fine)
  double etcd_last_contact_s = -1;  // seconds since etcd last answered
  bool registered = false;          // this node's lease is held
};

// Produces the view now; called per request.
using ClusterViewSource = std::function<ClusterView()>;

// Parses and checks a --etcd list ("http://HOST:PORT,..."). InvalidArgument
// when empty or when an endpoint is not http://HOST:PORT.
Result<std::vector<std::string>> ParseEtcdEndpoints(std::string_view list);

}  // namespace deltakv::cluster

#endif  // DELTAKV_CLUSTER_CLUSTER_VIEW_H_
