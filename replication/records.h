// Record layouts of the replica in the storage tables (documented in
// docs/formats.md, "Storage records"). Internal to replication/.
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_REPLICATION_RECORDS_H_
#define DELTAKV_REPLICATION_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "crdt/codec.h"
#include "deltakv/status.h"
#include "storage/environment.h"

namespace deltakv::replication {

inline constexpr uint8_t kRecordVersion = 1;
inline constexpr uint64_t kStoreFormat = 1;

// Table kKeys, key NameKey(user key).
struct KeyHeader {
  crdt::CrdtType type = crdt::CrdtType::kCounter;
  bool live = false;     // holds something visible (not deleted or empty)
  uint64_t key_id = 0;   // prefix of the key's sub-records
  uint64_t count = 0;    // set: members
  std::string full_key;  // the user key (stored only when hashed)
  std::string payload;   // counter/register: codec blob; set: context
};
std::string EncodeHeader(const KeyHeader& h, bool hashed);
Status DecodeHeader(std::string_view bytes, KeyHeader* out, bool* hashed);

// Table kRecords, key [key_id][NameKey(member)]: the member's dots.
std::string MemberRecordKey(uint64_t key_id, std::string_view name_key);
std::string EncodeMember(std::string_view member, bool hashed,
                         const std::vector<Dot>& dots);
Status DecodeMember(std::string_view name_key, std::string_view bytes,
                    std::string* member, std::vector<Dot>* dots);

// Table kIndex, key [key_id][replica][counter] -> NameKey(member).
std::string DotIndexKey(uint64_t key_id, const Dot& dot);

// Table kDeltaLog, key [origin region][0][seq]; value [key len][key][type]
// [delta].
std::string LogKey(std::string_view region, uint64_t seq);
std::string EncodeLogValue(std::string_view key, crdt::CrdtType type,
                           std::string_view delta);
Status DecodeLogValue(std::string_view bytes, std::string* key,
                      crdt::CrdtType* type, std::string* delta);

// Register values carry their origin region: [tag][region len][region]
// [value]; tag 1 = a value, 0 = deleted.
std::string EncodeRegisterValue(bool present, std::string_view region,
                                std::string_view value);
Status DecodeRegisterValue(std::string_view bytes, bool* present,
                           std::string* region, std::string* value);
// Corruption when a write of `reg` does not hold a register value.
Status CheckRegisterValues(const crdt::ORRegister& reg);
// The write a register read returns: the winner among the writes that hold
// a value (tag 1). Deleted-tagged values exist only as legacy writes, from
// before deletes were observed-remove; they hide no dotted write. nullopt
// when nothing is visible.
std::optional<crdt::ORRegister::WriteView> RegisterWinner(
    const crdt::ORRegister& reg);

// List chunks: table kRecords, key [key_id][chunk hash], value the chunk;
// the key header's payload is the directory [u32 n][n x u64 hash], in order.
std::string ListChunkKey(uint64_t key_id, uint64_t hash);
// Concatenates the chunks `directory` names (the encoded list state).
Status ReadListBytes(const storage::ReadTxn& txn, uint64_t key_id,
                     std::string_view directory, std::string* out);

// Table kMeta keys.
inline constexpr std::string_view kMetaFormat = "format";
inline constexpr std::string_view kMetaRegion = "region";
inline constexpr std::string_view kMetaReplicaId = "replica_id";
inline constexpr std::string_view kMetaHlc = "hlc";
inline constexpr std::string_view kMetaNextKeyId = "next_key_id";
inline constexpr std::string_view kMetaLogStart = "log_start";
std::string AppliedKey(std::string_view region);      // "applied/<region>"
std::string PeerReplicaKey(std::string_view region);  // "replica/<region>"

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_RECORDS_H_
