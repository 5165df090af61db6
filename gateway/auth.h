// The API tokens live in cluster/auth.h (both protocol adapters check
// them); gateway code names them gateway::Auth.
#ifndef DELTAKV_GATEWAY_AUTH_H_
#define DELTAKV_GATEWAY_AUTH_H_

#include "cluster/auth.h"

namespace deltakv::gateway {

using cluster::Auth;

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_AUTH_H_
