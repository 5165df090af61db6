#include <catch2/catch.hpp>

#include "core/ids.h"
#include "deltakv/status.h"

using deltakv::Code;
using deltakv::RegionId;
using deltakv::ReplicaId;
using deltakv::Result;
using deltakv::Status;

namespace {
Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}
Result<int> Quarter(int x) {
  DELTAKV_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}
}  // namespace

TEST_CASE("a default Status is OK and prints OK") {
  Status s;
  CHECK(s.ok());
  CHECK(s.ToString() == "OK");
}

TEST_CASE("an error Status keeps its code and message") {
  Status s = Status::WrongType("key holds a set");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::kWrongType);
  CHECK(s.ToString() == "wrong_type: key holds a set");
  CHECK(s.WithContext("incr").message() == "incr: key holds a set");
}

TEST_CASE(
    "Result carries a value or the error and ASSIGN_OR_RETURN "
    "propagates it") {
  CHECK(*Quarter(8) == 2);
  Result<int> r = Quarter(6);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.value_or(-1) == -1);
}

TEST_CASE("region ids accept only the documented characters") {
  CHECK(RegionId::Parse("us-east").ok());
  CHECK(RegionId::Parse("eu_west.2").ok());
  CHECK_FALSE(RegionId::Parse("").ok());
  CHECK_FALSE(RegionId::Parse("US").ok());
  CHECK_FALSE(RegionId::Parse("a b").ok());
  CHECK_FALSE(RegionId::Parse(std::string(65, 'a')).ok());
}

TEST_CASE("replica ids round trip through their text form") {
  ReplicaId id = ReplicaId::Random();
  CHECK(id.valid());
  auto parsed = ReplicaId::Parse(id.ToString());
  REQUIRE(parsed.ok());
  CHECK(*parsed == id);
  CHECK_FALSE(ReplicaId::Parse("xyz").ok());
  CHECK_FALSE(ReplicaId::Parse("0000000000000000").ok());
}
