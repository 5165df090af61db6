// Record layouts of the replica in the storage tables (documented in
// docs/formats.md, "Storage records"). Internal to replication/.
//
// Thread-safety: stateless functions.
#ifndef DELTAKV_REPLICATION_RECORDS_H_
#define DELTAKV_REPLICATION_RECORDS_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "crdt/codec.h"
#include "deltakv/status.h"
#include "storage/environment.h"
#include "storage/keys.h"

namespace deltakv::replication {

inline constexpr uint8_t kRecordVersion = 1;
// 3: lists are kept as chunks of runs with a directory (list_store.h);
// format 2 kept each list as its whole blob cut into content-defined chunks,
// and is migrated on open. 2: long names are stored as prefix ‖ hash ‖ slot
// (401 bytes); format 1 stored them as prefix ‖ hash (400 bytes, the length
// of an inline name) and is refused.
inline constexpr uint64_t kStoreFormat = 3;
inline constexpr uint64_t kLegacyListFormat = 2;  // migrated on open

// Table kKeys, key: the stored form of the user key (storage/keys.h).
struct KeyHeader {
  crdt::CrdtType type = crdt::CrdtType::kCounter;
  bool live = false;     // holds something visible (not deleted or empty)
  uint64_t key_id = 0;   // prefix of the key's sub-records
  uint64_t count = 0;    // set: members
  std::string full_key;  // the user key (in the bytes only when hashed)
  std::string payload;   // counter/register: codec blob; set: context
};
// `hashed`: the key is long (storage::IsLongName); its full bytes are kept.
std::string EncodeHeader(const KeyHeader& h, bool hashed);
// `stored_key` is the record's key in kKeys; out->full_key is the user key
// (for an inline key, the stored key itself). Corruption when the bytes do
// not decode or their hashed flag does not match the stored key's form.
Status DecodeHeader(std::string_view stored_key, std::string_view bytes,
                    KeyHeader* out);
// Finds the header of `key` (comparing the full key on every hit). When
// absent, out->key is where it goes. Errors as storage::LocateName.
Status LocateKey(const storage::ReadTxn& txn, std::string_view key,
                 storage::NameSlot* out);

// Table kRecords, key [key_id][stored form of the member]: the member's
// dots. `stored_name` below is the key without its key id.
std::string MemberRecordKey(uint64_t key_id, std::string_view stored_name);
std::string EncodeMember(std::string_view member, const std::vector<Dot>& dots);
// Corruption when the bytes do not decode or their hashed flag does not
// match the stored name's form.
Status DecodeMember(std::string_view stored_name, std::string_view bytes,
                    std::string* member, std::vector<Dot>* dots);
// Finds the record of `member` of key `key_id` (comparing the full member
// on every hit). When absent, out->key is where it goes, avoiding the keys
// in `claimed`. Errors as storage::LocateName.
Status LocateMember(
    const storage::ReadTxn& txn, uint64_t key_id, std::string_view member,
    storage::NameSlot* out,
    const std::set<std::string, std::less<>>* claimed = nullptr);

// Table kIndex, key [key_id][replica][counter] -> stored form of the member
// holding that dot (its record is MemberRecordKey(key_id, value)).
std::string DotIndexKey(uint64_t key_id, const Dot& dot);

// Table kIndex, key [key_id] alone (8 bytes, where dot index keys have
// 24): a set's member bytes (the sum of its members' lengths) and the
// member count they were counted at, [u64 bytes][u64 count]. Kept by every
// change of the set; a store written before it existed lacks it, and a
// count that differs from the header's marks it stale: the bytes are then
// counted again from the member records when a cap needs them.
std::string SetBytesKey(uint64_t key_id);
std::string EncodeSetBytes(uint64_t bytes, uint64_t count);
// False when `v` is not 16 bytes.
bool DecodeSetBytes(std::string_view v, uint64_t* bytes, uint64_t* count);

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

// Store format 2's list chunks (read only to migrate, list_store.h): table
// kRecords, key [key_id][chunk hash], value the chunk; the key header's
// payload is the directory [u32 n][n x u64 hash], in order.
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
// Present while the store, created empty, still bootstraps from its peers.
inline constexpr std::string_view kMetaFresh = "fresh";
// "bootstrapped/<region>": a state transfer from that peer completed.
std::string BootstrappedKey(std::string_view region);
// "transfer/<region>": [u64 seq][cursor] of an interrupted state transfer.
std::string TransferKey(std::string_view region);
// "incarnation/<region>/<replica id, 16 hex>": the final watermark of an
// earlier incarnation of that region.
std::string IncarnationKey(std::string_view region, uint64_t replica);

}  // namespace deltakv::replication

#endif  // DELTAKV_REPLICATION_RECORDS_H_
